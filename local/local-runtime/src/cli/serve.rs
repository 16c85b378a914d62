//! `registry-local serve`: the stack until a signal, its first users, and
//! the banner that says where everything is.

use std::path::{Path, PathBuf};

use local_runtime::{Group, LocalRuntime, ScratchDatabase, StatePaths};

use super::{CliError, ServeArgs, StackArgs, finish, options, start};

pub(crate) async fn serve(
    state: StatePaths,
    stack: &StackArgs,
    args: ServeArgs,
) -> Result<(), CliError> {
    let (mut options, scratch) = options(&state, stack, args.runtime).await?;
    options.gateway_listen = args.gateway_listen;
    options.s3_listen = args.s3_listen;
    options.engine_listen = args.engine_listen;
    options.secrets_listen = args.secrets_listen;
    options.sign_in_listen = args.sign_in_listen;
    options.alb_listen = args.alb_listen;
    options.lambda_listen = args.lambda_listen;
    options.sqs_listen = args.sqs_listen;
    options.cloudwatch_listen = args.cloudwatch_listen;
    options.record_events = args.record_events;
    let template = options.template.clone();
    let (mut runtime, scratch) = start(options, scratch).await?;
    runtime.start_schedules();
    let first_users = match runtime.user_pool() {
        Some(pool) => first_users(&state, pool),
        None => Ok(Vec::new()),
    };
    let first_users = match first_users {
        Ok(users) => users,
        Err(error) => {
            finish(runtime, scratch).await;
            return Err(error);
        }
    };
    print_banner(&runtime, &template, &state, scratch.as_ref(), &first_users);
    let signal = wait_for_signal().await;
    if let Ok(name) = &signal {
        tracing::info!(signal = name, "stopping");
    }
    finish(runtime, scratch).await;
    signal.map(|_| ())
}

fn print_banner(
    runtime: &LocalRuntime,
    template: &Path,
    state: &StatePaths,
    scratch: Option<&ScratchDatabase>,
    first_users: &[(String, PathBuf)],
) {
    let gateway = runtime.gateway_url();
    let stack = runtime.stack();
    println!(
        "Face Registry is running (stack {}, from {}).",
        stack.name,
        template.display()
    );
    println!("  Gateway       {gateway}");
    println!("  Enrol         {gateway}/upload");
    println!("  People        {gateway}/faces");
    println!("  API           {gateway}/api/faces");
    println!("  Health        {gateway}/healthz");
    let buckets: Vec<&str> = stack.buckets.iter().map(|b| b.name.as_str()).collect();
    println!(
        "  S3 store      {}  (buckets {})",
        runtime.s3_endpoint(),
        buckets.join(", ")
    );
    let collections: Vec<&str> = stack.collections.iter().map(|c| c.id.as_str()).collect();
    println!(
        "  Face engine   {}  (collection {})",
        runtime.engine_endpoint(),
        collections.join(", ")
    );
    println!("  Secrets       {}", runtime.secrets_endpoint());
    println!("  Lambda        {}  (Invoke)", runtime.lambda_endpoint());
    let binaries = runtime
        .lambda()
        .functions()
        .find_map(|f| f.executable().and_then(std::path::Path::parent));
    match binaries {
        Some(folder) => println!(
            "  Functions     {}  (each its own binary, with its memory size and timeout)",
            folder.display()
        ),
        None => println!("  Functions     in this process (--in-process: no memory limits)"),
    }
    let queues: Vec<&str> = stack.queues.iter().map(|q| q.url.as_str()).collect();
    println!(
        "  SQS           {}  (queues {})",
        runtime.sqs_endpoint(),
        queues.join(", ")
    );
    println!(
        "  CloudWatch    {}  (the template's dashboard and alarms, with this machine's figures)",
        runtime.cloudwatch_endpoint()
    );
    println!(
        "  Sign-in       {}  (the user pool's domain)",
        runtime.sign_in_url()
    );
    if let Some(alb) = runtime.load_balancer() {
        println!(
            "  Load balancer {}  (the ALB: {0}/faces signs in at the user pool)",
            alb.url()
        );
    }
    if let Some(scratch) = scratch {
        println!(
            "  Database      {} (scratch, dropped on exit)",
            scratch.name()
        );
    }
    for function in runtime.lambda().functions() {
        for schedule in function.spec.schedules.iter().filter(|s| s.enabled) {
            println!(
                "  Schedule      {} every {} min  (make invoke FUNCTION={0} EVENT=events/scheduled.json runs it now)",
                function.spec.logical_id,
                schedule.every.as_secs() / 60
            );
        }
    }
    println!(
        "  Operator keys {} (for the AWS CLI and SDKs)",
        state.operator_credentials().display()
    );
    if !first_users.is_empty() {
        println!("First users (each password is in the file named, readable by you only):");
        for (email, file) in first_users {
            println!("  {email}  {}", file.display());
        }
    }
    println!(
        "Sign in from the pages. More users: registry-local users add EMAIL --group admins|viewers"
    );
    println!("A token for scripts: make dev-token GROUP=admins     (or GROUP=viewers)");
    println!("Ctrl-C stops.");
}

async fn wait_for_signal() -> Result<&'static str, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(CliError::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map(|()| "SIGINT").map_err(CliError::Signal),
        _ = terminate.recv() => Ok("SIGTERM"),
    }
}

/// The first users of an empty pool: an admin and a viewer, each with a
/// generated password written to a file of its own (mode 600). Returns the
/// first users whose password files are still there (shown at every start).
fn first_users(
    state: &StatePaths,
    pool: &local_runtime::UserPool,
) -> Result<Vec<(String, PathBuf)>, CliError> {
    let folder = state.first_passwords(pool.id());
    let first = [
        ("admin@registry.local", Group::Admins),
        ("viewer@registry.local", Group::Viewers),
    ];
    if pool.users().is_empty() {
        for (email, group) in first {
            let password = pool.users().policy().generate();
            local_runtime::write_private(&folder.join(email), password.as_bytes())?;
            pool.users()
                .add(email, &[group.as_str().to_owned()], &password, true)?;
        }
    }
    Ok(first
        .iter()
        .map(|(email, _)| ((*email).to_owned(), folder.join(email)))
        .filter(|(_, file)| file.is_file())
        .collect())
}
