//! `registry-local`: the stack of `template.yaml` on 127.0.0.1 in one process.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use face_engine::DetectorKind;
use registry_local::runtime::{
    DEFAULT_ACCOUNT, DEFAULT_ALB, DEFAULT_ENGINE, DEFAULT_GATEWAY, DEFAULT_LAMBDA, DEFAULT_REGION,
    DEFAULT_S3, DEFAULT_SECRETS, DEFAULT_SIGN_IN, DEFAULT_SQS, DEFAULT_STACK, token_authority,
};
use registry_local::{Group, LocalRuntime, RuntimeOptions, ScratchDatabase, StatePaths};
use s3_store::{DeadLetters, EventTarget, InvocationError, S3Event};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(
    name = "registry-local",
    version,
    about = "The stack of template.yaml on one machine: its functions, API, buckets, face collection, secrets and database"
)]
struct Cli {
    /// Folder of the local state: keys, objects, faces, secrets.
    #[arg(
        long,
        env = "REGISTRY_LOCAL_STATE_DIR",
        default_value = ".local",
        global = true
    )]
    state_dir: PathBuf,
    #[command(flatten)]
    stack: StackArgs,
    #[command(subcommand)]
    command: Command,
}

/// Which stack: the template, its name and its parameters.
#[derive(Debug, Args)]
struct StackArgs {
    #[arg(long, default_value = "template.yaml", global = true)]
    template: PathBuf,
    #[arg(long, default_value = DEFAULT_STACK, global = true)]
    stack_name: String,
    /// Template parameters, as `sam deploy --parameter-overrides` takes them.
    #[arg(long = "parameter-overrides", value_name = "KEY=VALUE", num_args = 1.., global = true)]
    parameters: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the stack until Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Invoke one function of the template with an event file, as `sam local
    /// invoke` does: the answer on standard output, logs on standard error.
    Invoke(InvokeArgs),
    /// Print a bearer token for a group (valid one hour), for scripts.
    Token {
        #[arg(long, default_value = "admins")]
        group: String,
    },
    /// Print a function's environment as shell exports (for `cargo lambda
    /// watch` against a running stack on the default ports).
    Env {
        /// The function's logical id, e.g. IndexerFunction.
        function: String,
        /// Also print its secret access key.
        #[arg(long)]
        show_secret: bool,
    },
    /// Rotate a database secret of the running stack (by name or ARN).
    RotateSecret {
        secret: String,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        gateway_url: String,
    },
    /// The user pool's users (who signs in to the pages).
    Users {
        #[command(subcommand)]
        action: UserAction,
    },
    /// S3 events a function failed on (its on-failure destination).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Create a user, as an administrator does with AdminCreateUser: the
    /// generated password is printed once, and must be changed at the first
    /// sign-in unless --permanent.
    Add {
        email: String,
        /// admins or viewers.
        #[arg(long)]
        group: String,
        #[arg(long)]
        permanent: bool,
    },
    /// Print every user: e-mail, groups, status.
    List,
}

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// Print every dead letter as one JSON line.
    List,
    /// Deliver one again to the indexer, through the running gateway.
    Replay {
        id: String,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        gateway_url: String,
    },
    /// Remove one.
    Delete { id: String },
}

#[derive(Debug, Args)]
struct RuntimeArgs {
    /// The dlib models (`make models`).
    #[arg(long, env = "FACE_ENGINE_MODELS_DIR", default_value = ".local/models")]
    models_dir: PathBuf,
    /// A MySQL user that may create databases and users (`make database`
    /// writes it to .local/database.env).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The CA of the database server's TLS certificate.
    #[arg(long, env = "DATABASE_TLS_CA")]
    database_ca: PathBuf,
    /// Use a new database and users on the DATABASE_URL server, dropped on exit.
    #[arg(long)]
    scratch_database: bool,
    #[arg(long, env = "FACE_ENGINE_DETECTOR", value_enum, default_value_t = DetectorKind::Hog)]
    detector: DetectorKind,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[arg(long, default_value = DEFAULT_GATEWAY)]
    gateway_listen: SocketAddr,
    #[arg(long, default_value = DEFAULT_S3)]
    s3_listen: SocketAddr,
    #[arg(long, default_value = DEFAULT_ENGINE)]
    engine_listen: SocketAddr,
    #[arg(long, default_value = DEFAULT_SECRETS)]
    secrets_listen: SocketAddr,
    /// The user pool's domain (sign-in) and API.
    #[arg(long, default_value = DEFAULT_SIGN_IN)]
    sign_in_listen: SocketAddr,
    /// The load balancer's listener (with `EnableAlb=true`).
    #[arg(long, default_value = DEFAULT_ALB)]
    alb_listen: SocketAddr,
    /// The functions' Lambda Invoke API.
    #[arg(long, default_value = DEFAULT_LAMBDA)]
    lambda_listen: SocketAddr,
    /// The functions' on-failure queues (SQS).
    #[arg(long, default_value = DEFAULT_SQS)]
    sqs_listen: SocketAddr,
    /// Keep a copy of every S3 event delivered in this folder (JSON, as
    /// Lambda receives it).
    #[arg(long)]
    record_events: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InvokeArgs {
    /// The function's logical id in the template, e.g. HealthFunction.
    function: String,
    /// The event, e.g. events/healthz.json.
    #[arg(long, short = 'e')]
    event: PathBuf,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Start(#[from] registry_local::StartError),
    #[error(transparent)]
    Scratch(#[from] registry_local::scratch::ScratchError),
    #[error(transparent)]
    Stack(#[from] local_stack::StackError),
    #[error(transparent)]
    Token(#[from] registry_local::tokens::TokenError),
    #[error(transparent)]
    Group(#[from] registry_local::tokens::UnknownGroup),
    #[error(transparent)]
    Principals(#[from] registry_local::principals::PrincipalError),
    #[error(transparent)]
    DeadLetter(#[from] s3_store::DeadLetterError),
    #[error(transparent)]
    User(#[from] user_pool::UserError),
    #[error(transparent)]
    Secret(#[from] registry_local::SecretFileError),
    #[error("{0}")]
    Usage(String),
    #[error("waiting for a signal failed: {0}")]
    Signal(#[source] std::io::Error),
    #[error("the gateway did not answer: {0}")]
    Gateway(#[source] reqwest::Error),
    #[error("the gateway refused (HTTP {status}): {body}")]
    Refused { status: u16, body: String },
    #[error("{path}: {reason}")]
    Event { path: PathBuf, reason: String },
    #[error(transparent)]
    Invoke(#[from] registry_local::runtime::InvokeError),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,s3s=warn,sqlx=warn,aws_config=warn")
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let state = StatePaths::new(&cli.state_dir);
    let result = match cli.command {
        Command::Serve(args) => serve(state, &cli.stack, *args).await,
        Command::Invoke(args) => invoke(state, &cli.stack, args).await,
        Command::Token { group } => token(&state, &cli.stack, &group),
        Command::Env {
            function,
            show_secret,
        } => env(&state, &cli.stack, &function, show_secret),
        Command::RotateSecret {
            secret,
            gateway_url,
        } => rotate(&state, &cli.stack, &secret, &gateway_url).await,
        Command::Users { action } => users(&state, &cli.stack, action),
        Command::DeadLetters { action } => dead_letters(&state, &cli.stack, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("registry-local: {error}");
            ExitCode::FAILURE
        }
    }
}

impl StackArgs {
    fn parameters(&self) -> Result<BTreeMap<String, String>, CliError> {
        self.parameters
            .iter()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--parameter-overrides takes KEY=VALUE, not {pair:?}"
                        ))
                    })
            })
            .collect()
    }

    /// The stack as the runtime on the default ports resolves it.
    fn load(&self) -> Result<local_stack::LocalStack, CliError> {
        let mut settings = local_stack::StackSettings::new(&self.stack_name);
        settings.region = DEFAULT_REGION.to_owned();
        settings.account_id = DEFAULT_ACCOUNT.to_owned();
        settings.parameters = self.parameters()?;
        settings.api_endpoint = format!("http://{DEFAULT_GATEWAY}");
        Ok(local_stack::LocalStack::load(&self.template, &settings)?)
    }
}

/// The options of a run, and the scratch database to drop after it.
async fn options(
    state: &StatePaths,
    stack: &StackArgs,
    args: RuntimeArgs,
) -> Result<(RuntimeOptions, Option<ScratchDatabase>), CliError> {
    let mut options = RuntimeOptions::new(
        &stack.template,
        state.root.clone(),
        args.models_dir,
        &args.database_url,
        args.database_ca,
    );
    options.stack_name.clone_from(&stack.stack_name);
    options.parameters = stack.parameters()?;
    options.detector = args.detector;
    let scratch = if args.scratch_database {
        let scratch = ScratchDatabase::create(&args.database_url, "registry_local").await?;
        options.use_scratch_database(scratch.name());
        Some(scratch)
    } else {
        None
    };
    Ok((options, scratch))
}

/// The stack started; when it does not, a scratch database and the users
/// created in it meanwhile are dropped.
async fn start(
    options: RuntimeOptions,
    scratch: Option<ScratchDatabase>,
) -> Result<(LocalRuntime, Option<ScratchDatabase>), CliError> {
    let prefix = options.parameters.get("DbUserPrefix").cloned();
    let database_url = options.database_url.clone();
    match LocalRuntime::start(options).await {
        Ok(runtime) => Ok((runtime, scratch)),
        Err(error) => {
            if let (Some(scratch), Some(prefix)) = (scratch, prefix) {
                if let Ok(rds) = registry_local::rds::LocalRds::new(&database_url) {
                    let _ = rds.drop_users(&prefix).await;
                }
                let _ = scratch.drop_database().await;
            }
            Err(error.into())
        }
    }
}

async fn finish(runtime: LocalRuntime, scratch: Option<ScratchDatabase>) {
    if let Some(scratch) = scratch {
        if let Err(error) = runtime.drop_database_users().await {
            tracing::warn!(%error, "the scratch database users were not dropped");
        }
        runtime.shutdown().await;
        if let Err(error) = scratch.drop_database().await {
            tracing::warn!(%error, "the scratch database was not dropped");
        }
    } else {
        runtime.shutdown().await;
    }
}

async fn serve(state: StatePaths, stack: &StackArgs, args: ServeArgs) -> Result<(), CliError> {
    let (mut options, scratch) = options(&state, stack, args.runtime).await?;
    options.gateway_listen = args.gateway_listen;
    options.s3_listen = args.s3_listen;
    options.engine_listen = args.engine_listen;
    options.secrets_listen = args.secrets_listen;
    options.sign_in_listen = args.sign_in_listen;
    options.alb_listen = args.alb_listen;
    options.lambda_listen = args.lambda_listen;
    options.sqs_listen = args.sqs_listen;
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
    let queues: Vec<&str> = stack.queues.iter().map(|q| q.url.as_str()).collect();
    println!(
        "  SQS           {}  (queues {})",
        runtime.sqs_endpoint(),
        queues.join(", ")
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

async fn invoke(state: StatePaths, stack: &StackArgs, args: InvokeArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&args.event).map_err(|e| CliError::Event {
        path: args.event.clone(),
        reason: e.to_string(),
    })?;
    let event: Value = serde_json::from_str(&text).map_err(|e| CliError::Event {
        path: args.event.clone(),
        reason: format!("not JSON: {e}"),
    })?;
    let (options, scratch) = options(&state, stack, args.runtime).await?;
    let (runtime, scratch) = start(options.with_ephemeral_ports(), scratch).await?;
    let result = registry_local::runtime::invoke_event(&runtime, &args.function, event).await;
    finish(runtime, scratch).await;
    let answer = result?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).unwrap_or_default()
    );
    Ok(())
}

/// The first users of an empty pool: an admin and a viewer, each with a
/// generated password written to a file of its own (mode 600). Returns the
/// first users whose password files are still there (shown at every start).
fn first_users(
    state: &StatePaths,
    pool: &registry_local::UserPool,
) -> Result<Vec<(String, PathBuf)>, CliError> {
    let folder = state.first_passwords(pool.id());
    let first = [
        ("admin@registry.local", Group::Admins),
        ("viewer@registry.local", Group::Viewers),
    ];
    if pool.users().is_empty() {
        for (email, group) in first {
            let password = pool.users().policy().generate();
            registry_local::write_private(&folder.join(email), password.as_bytes())?;
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

fn users(state: &StatePaths, stack: &StackArgs, action: UserAction) -> Result<(), CliError> {
    let users = registry_local::runtime::users(state, &stack.load()?)?;
    match action {
        UserAction::Add {
            email,
            group,
            permanent,
        } => {
            let password = users.policy().generate();
            let user = users.add(&email, &[group], &password, permanent)?;
            if permanent {
                println!("{} created; password: {password}", user.email);
            } else {
                println!(
                    "{} created; temporary password (to change at the first sign-in): {password}",
                    user.email
                );
            }
        }
        UserAction::List => {
            for user in users.list() {
                println!(
                    "{}\t{}\t{:?}",
                    user.email,
                    user.groups.join(","),
                    user.status
                );
            }
        }
    }
    Ok(())
}

fn token(state: &StatePaths, stack: &StackArgs, group: &str) -> Result<(), CliError> {
    let group: Group = group.parse()?;
    let tokens = token_authority(state, &stack.load()?)?;
    let issued = tokens.issue(group, registry_local::tokens::TOKEN_LIFETIME)?;
    println!("{}", issued.token);
    Ok(())
}

fn env(
    state: &StatePaths,
    stack: &StackArgs,
    function: &str,
    show_secret: bool,
) -> Result<(), CliError> {
    let loaded = stack.load()?;
    let variables = registry_local::runtime::function_environment_for(state, &loaded, function)?;
    for (name, value) in variables {
        if name == "AWS_SECRET_ACCESS_KEY" && !show_secret {
            println!("# AWS_SECRET_ACCESS_KEY: add --show-secret to print it");
            continue;
        }
        println!("export {name}={value}");
    }
    Ok(())
}

/// An admin's request to the running gateway's local endpoints.
async fn local_request(
    state: &StatePaths,
    stack: &StackArgs,
    gateway_url: &str,
    path: &[&str],
    body: Value,
) -> Result<(), CliError> {
    let mut url = url::Url::parse(gateway_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| CliError::Usage(format!("{gateway_url:?} is not a valid http URL")))?;
    url.path_segments_mut()
        .map_err(|()| CliError::Usage(format!("{gateway_url:?} is not a valid http URL")))?
        .extend(path);
    let tokens = token_authority(state, &stack.load()?)?;
    let token = tokens.issue(Group::Admins, Duration::from_secs(60))?.token;
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(CliError::Gateway)?;
    let status = response.status();
    let body = response.text().await.map_err(CliError::Gateway)?;
    if !status.is_success() {
        return Err(CliError::Refused {
            status: status.as_u16(),
            body,
        });
    }
    Ok(())
}

async fn rotate(
    state: &StatePaths,
    stack: &StackArgs,
    secret: &str,
    gateway_url: &str,
) -> Result<(), CliError> {
    local_request(
        state,
        stack,
        gateway_url,
        &["local", "secrets", "rotate"],
        serde_json::json!({"secret": secret}),
    )
    .await?;
    println!("rotated {secret}");
    Ok(())
}

async fn dead_letters(
    state: &StatePaths,
    stack: &StackArgs,
    action: DeadLetterAction,
) -> Result<(), CliError> {
    let loaded = stack.load()?;
    let queue = registry_local::runtime::indexer_queue(&loaded).ok_or_else(|| {
        CliError::Usage("no function of the stack has an on-failure destination".into())
    })?;
    let letters = DeadLetters::open(state.queue(&queue), Arc::new(NoDelivery)).await?;
    match action {
        DeadLetterAction::List => {
            for letter in letters.list().await? {
                println!("{}", serde_json::to_string(&letter).unwrap_or_default());
            }
        }
        DeadLetterAction::Delete { id } => {
            letters.delete(&id).await?;
            println!("deleted {id}");
        }
        DeadLetterAction::Replay { id, gateway_url } => {
            local_request(
                state,
                stack,
                &gateway_url,
                &["local", "dead-letters", &id, "replay"],
                Value::Null,
            )
            .await?;
            println!("replayed {id}");
        }
    }
    Ok(())
}

/// Listing and deleting never deliver; replays go through the gateway.
struct NoDelivery;

#[async_trait::async_trait]
impl EventTarget for NoDelivery {
    async fn invoke(&self, _event: &S3Event) -> Result<(), InvocationError> {
        Err(InvocationError::Function(
            "replays go through the running gateway".to_owned(),
        ))
    }
}
