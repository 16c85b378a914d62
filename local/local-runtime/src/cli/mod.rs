//! The command line of `registry-local`: its arguments, its errors, and
//! how a run's options and start-up follow from them. Each command's body
//! is in a module of its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use local_face_engine::DetectorKind;
use local_runtime::runtime::{
    DEFAULT_ACCOUNT, DEFAULT_ALB, DEFAULT_CLOUDWATCH, DEFAULT_ENGINE, DEFAULT_GATEWAY,
    DEFAULT_LAMBDA, DEFAULT_REGION, DEFAULT_S3, DEFAULT_SECRETS, DEFAULT_SIGN_IN, DEFAULT_SQS,
    DEFAULT_STACK,
};
use local_runtime::{LocalRuntime, RuntimeOptions, ScratchDatabase, StatePaths};

pub(crate) mod commands;
pub(crate) mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "registry-local",
    version,
    about = "The stack of template.yaml on one machine: its functions, API, buckets, face collection, secrets and database"
)]
pub(crate) struct Cli {
    /// Folder of the local state: keys, objects, faces, secrets.
    #[arg(
        long,
        env = "REGISTRY_LOCAL_STATE_DIR",
        default_value = ".local",
        global = true
    )]
    pub(crate) state_dir: PathBuf,
    #[command(flatten)]
    pub(crate) stack: StackArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Which stack: the template, its name and its parameters.
#[derive(Debug, Args)]
pub(crate) struct StackArgs {
    #[arg(long, short = 't', default_value = "template.yaml", global = true)]
    template: PathBuf,
    #[arg(long, default_value = DEFAULT_STACK, global = true)]
    stack_name: String,
    /// Template parameters, as `sam deploy --parameter-overrides` takes them.
    #[arg(long = "parameter-overrides", value_name = "KEY=VALUE", num_args = 1.., global = true)]
    parameters: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// watch` against a running stack on the default ports): the
    /// template's, the local endpoints and Lambda's own variables.
    Env {
        /// The function's logical id, e.g. IndexerFunction.
        function: String,
        /// Also print its secret access key.
        #[arg(long)]
        show_secret: bool,
        /// The database server `make dev` uses (default: the DATABASE_URL
        /// of <state dir>/database.env, which `make database` writes).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Print the `--env-vars` file for `sam local invoke` with Docker
    /// against a running stack (docs/local.md): each function's variables as
    /// the local invoke gives them, but Lambda's own.
    SamEnvVars {
        /// The database server `make dev` uses (as for `env`).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
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
    /// The photo events the indexer failed on (its queue's dead letters).
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserAction {
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
pub(crate) enum DeadLetterAction {
    /// Print every dead letter as one JSON line.
    List,
    /// Send one back to the indexer's queue, through the running gateway.
    Replay {
        id: String,
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        gateway_url: String,
    },
    /// Remove one.
    Delete { id: String },
}

#[derive(Debug, Args)]
pub(crate) struct RuntimeArgs {
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
    /// The folder of the functions' own binaries, which run as Lambda runs
    /// them (default: this executable's folder, where cargo puts them).
    #[arg(long, conflicts_with = "in_process")]
    functions_dir: Option<PathBuf>,
    /// Run the functions' handlers in this process instead (no memory
    /// limits, no binaries needed).
    #[arg(long)]
    in_process: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
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
    /// The local CloudWatch: the template's dashboard and alarms.
    #[arg(long, default_value = DEFAULT_CLOUDWATCH)]
    cloudwatch_listen: SocketAddr,
    /// Keep a copy of every S3 event delivered in this folder (JSON, as
    /// Lambda receives it).
    #[arg(long)]
    record_events: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The function's logical id in the template, e.g. HealthFunction.
    function: String,
    /// The event, e.g. events/healthz.json.
    #[arg(long, short = 'e')]
    event: PathBuf,
    /// Variables to override, as `sam local invoke --env-vars` takes them:
    /// `{"Parameters": {...}, "<LogicalId>": {...}}`.
    #[arg(long = "env-vars", value_name = "FILE")]
    env_vars: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Start(#[from] local_runtime::StartError),
    #[error(transparent)]
    Scratch(#[from] local_runtime::scratch::ScratchError),
    #[error(transparent)]
    Stack(#[from] local_stack::StackError),
    #[error(transparent)]
    Token(#[from] local_runtime::tokens::TokenError),
    #[error(transparent)]
    Group(#[from] local_runtime::tokens::UnknownGroup),
    #[error(transparent)]
    Principals(#[from] local_runtime::principals::PrincipalError),
    #[error("the dead-letter queue's folder: {0}")]
    Queue(#[from] std::io::Error),
    #[error(transparent)]
    User(#[from] local_user_pool::UserError),
    #[error(transparent)]
    Secret(#[from] local_runtime::SecretFileError),
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
    Invoke(#[from] local_runtime::runtime::InvokeError),
    #[error(transparent)]
    Environment(#[from] local_runtime::runtime::EnvironmentError),
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

    /// The stack's name, region, account and parameters.
    fn settings(&self) -> Result<local_stack::StackSettings, CliError> {
        let mut settings = local_stack::StackSettings::new(&self.stack_name);
        settings.region = DEFAULT_REGION.to_owned();
        settings.account_id = DEFAULT_ACCOUNT.to_owned();
        settings.parameters = self.parameters()?;
        settings.api_endpoint = format!("http://{DEFAULT_GATEWAY}");
        Ok(settings)
    }

    /// The stack as the runtime on the default ports resolves it.
    fn load(&self) -> Result<local_stack::LocalStack, CliError> {
        Ok(local_stack::LocalStack::load(
            &self.template,
            &self.settings()?,
        )?)
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
    options.functions_dir = match (args.in_process, args.functions_dir) {
        (true, _) => None,
        (false, Some(folder)) => Some(folder),
        (false, None) => std::env::current_exe()?.parent().map(PathBuf::from),
    };
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
                if let Ok(rds) = local_runtime::rds::LocalRds::new(&database_url) {
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
