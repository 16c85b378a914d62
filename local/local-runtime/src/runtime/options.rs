//! Where the runtime keeps its state and listens, and what a run is
//! started with (`make dev`'s defaults, or a test's).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use local_face_engine::DetectorKind;
use local_iam::Authorizer;

use crate::build::FunctionsBuild;
use crate::lambda::LOCAL_RETRY_DELAYS;
use crate::sqs::poller::LOCAL_REDELIVERY_DELAY;

pub const DEFAULT_GATEWAY: &str = "127.0.0.1:3000";
pub const DEFAULT_S3: &str = "127.0.0.1:3001";
pub const DEFAULT_ENGINE: &str = "127.0.0.1:3002";
pub const DEFAULT_SECRETS: &str = "127.0.0.1:3003";
/// The user pool: its domain's sign-in endpoints and its API.
pub const DEFAULT_SIGN_IN: &str = "127.0.0.1:3004";
/// The load balancer's listener, when the stack has one (`EnableAlb`).
pub const DEFAULT_ALB: &str = "127.0.0.1:3005";
/// The functions' Lambda Invoke API.
pub const DEFAULT_LAMBDA: &str = "127.0.0.1:3006";
/// The functions' on-failure queues (SQS).
pub const DEFAULT_SQS: &str = "127.0.0.1:3007";
/// The local CloudWatch: the dashboards and the alarms.
pub const DEFAULT_CLOUDWATCH: &str = "127.0.0.1:3008";
pub const DEFAULT_STACK: &str = "face-registry";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// Where the runtime keeps its files, all under one state folder.
#[derive(Debug, Clone)]
pub struct StatePaths {
    pub root: PathBuf,
}

impl StatePaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// A variable of `database.env`, the `KEY=value` lines `make database`
    /// (scripts/database.sh) writes: the server `make dev` uses.
    pub fn database_env(&self, name: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.root.join("database.env")).ok()?;
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(key, _)| key.trim() == name)
            .map(|(_, value)| value.trim().to_owned())
    }

    /// The secret every local key pair derives from.
    pub fn root_secret(&self) -> PathBuf {
        self.root.join("runtime/root-secret")
    }
    /// The operator's key pair, as `KEY=value` lines a shell can source.
    pub fn operator_credentials(&self) -> PathBuf {
        self.root.join("runtime/aws.env")
    }
    /// The key the user pool signs its tokens with (RSA).
    pub fn signing_key(&self) -> PathBuf {
        self.root.join("runtime/user-pool-signing-key.pem")
    }
    /// A user pool's users (hashed passwords).
    pub fn users(&self, pool_id: &str) -> PathBuf {
        self.root
            .join("user-pools")
            .join(pool_id)
            .join("users.json")
    }
    /// The passwords generated for the first users of a pool, one file each.
    pub fn first_passwords(&self, pool_id: &str) -> PathBuf {
        self.root.join("user-pools").join(pool_id).join("passwords")
    }
    /// The S3 store's current objects: one folder per bucket.
    pub fn s3(&self) -> PathBuf {
        self.root.join("s3")
    }
    /// Object versions of the versioned buckets.
    pub fn s3_versions(&self) -> PathBuf {
        self.root.join("s3-versions")
    }
    /// A queue's messages, one folder per queue.
    pub fn queue(&self, name: &str) -> PathBuf {
        self.root.join("sqs").join(name)
    }
    /// The events the S3 store could not send to a queue, one folder per
    /// queue (S3 would lose them; here they are kept to be seen).
    pub fn undelivered(&self, queue: &str) -> PathBuf {
        self.root.join("undelivered").join(queue)
    }
    /// The face engine's collections.
    pub fn faces(&self) -> PathBuf {
        self.root.join("faces")
    }
    /// A stack's secrets.
    pub fn secrets(&self, stack: &str) -> PathBuf {
        self.root.join("stacks").join(stack).join("secrets.json")
    }
    /// A stack's metrics (the local CloudWatch's, a JSON line per datum).
    pub fn metrics(&self, stack: &str) -> PathBuf {
        self.root.join("stacks").join(stack).join("metrics.jsonl")
    }
    /// What a stack's custom resources answered last.
    pub fn custom_resources(&self, stack: &str) -> PathBuf {
        self.root
            .join("stacks")
            .join(stack)
            .join("custom-resources.json")
    }
}

/// What to start, and where.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub template: PathBuf,
    pub state: StatePaths,
    pub models_dir: PathBuf,
    /// A user of the MySQL server that may create databases and users.
    pub database_url: String,
    /// The CA of the server's TLS certificate (`DATABASE_TLS_CA`).
    pub database_ca: PathBuf,
    pub gateway_listen: SocketAddr,
    pub s3_listen: SocketAddr,
    pub engine_listen: SocketAddr,
    pub secrets_listen: SocketAddr,
    pub sign_in_listen: SocketAddr,
    pub alb_listen: SocketAddr,
    pub lambda_listen: SocketAddr,
    pub sqs_listen: SocketAddr,
    pub cloudwatch_listen: SocketAddr,
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// `--parameter-overrides`.
    pub parameters: BTreeMap<String, String>,
    pub detector: DetectorKind,
    /// Keep a copy of every S3 event delivered in this folder.
    pub record_events: Option<PathBuf>,
    /// Waits before the retries of an asynchronous invocation.
    pub retry_delays: Vec<Duration>,
    /// How soon a message that failed comes back, instead of its queue's
    /// visibility timeout (minutes in AWS; local timings, as `retry_delays`).
    pub redelivery_delay: Option<Duration>,
    /// Tests wait less than a custom resource's ServiceTimeout.
    pub custom_resource_wait: Option<Duration>,
    /// Authorizes every call to the local services (tests keep it to read
    /// what it refused).
    pub authorizer: Arc<Authorizer>,
    /// The functions' code: this executable unless a test gives another.
    pub build: Option<FunctionsBuild>,
    /// The folder of the functions' own binaries (cargo's `target/<profile>`):
    /// each function runs its binary as Lambda runs it, a process per
    /// execution environment with its memory size. Without it, their
    /// handlers run in this process.
    pub functions_dir: Option<PathBuf>,
    /// Writes where it listens to the state, for `registry-local env`: the
    /// `make dev` stack does, one started on free ports for an invocation
    /// (`make invoke`) does not, so as not to hide a running one.
    pub announce_addresses: bool,
}

impl RuntimeOptions {
    /// The `make dev` settings: fixed ports, the default stack.
    pub fn new(
        template: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        models_dir: impl Into<PathBuf>,
        database_url: impl Into<String>,
        database_ca: impl Into<PathBuf>,
    ) -> Self {
        let addr = |s: &str| {
            s.parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
        };
        Self {
            template: template.into(),
            state: StatePaths::new(state_dir),
            models_dir: models_dir.into(),
            database_url: database_url.into(),
            database_ca: database_ca.into(),
            gateway_listen: addr(DEFAULT_GATEWAY),
            s3_listen: addr(DEFAULT_S3),
            engine_listen: addr(DEFAULT_ENGINE),
            secrets_listen: addr(DEFAULT_SECRETS),
            sign_in_listen: addr(DEFAULT_SIGN_IN),
            alb_listen: addr(DEFAULT_ALB),
            lambda_listen: addr(DEFAULT_LAMBDA),
            sqs_listen: addr(DEFAULT_SQS),
            cloudwatch_listen: addr(DEFAULT_CLOUDWATCH),
            stack_name: DEFAULT_STACK.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT.to_owned(),
            parameters: BTreeMap::new(),
            detector: DetectorKind::Hog,
            record_events: None,
            retry_delays: LOCAL_RETRY_DELAYS.to_vec(),
            redelivery_delay: Some(LOCAL_REDELIVERY_DELAY),
            custom_resource_wait: None,
            authorizer: Arc::new(Authorizer::new()),
            build: None,
            functions_dir: None,
            announce_addresses: true,
        }
    }

    /// Ephemeral ports (for tests and side-by-side runs).
    #[must_use]
    pub fn with_ephemeral_ports(mut self) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        self.gateway_listen = any;
        self.s3_listen = any;
        self.engine_listen = any;
        self.secrets_listen = any;
        self.sign_in_listen = any;
        self.alb_listen = any;
        self.lambda_listen = any;
        self.sqs_listen = any;
        self.cloudwatch_listen = any;
        self.announce_addresses = false;
        self
    }

    /// A stack of its own on a shared server: the template's database is
    /// `database`, and its users get a fresh random prefix, which is returned
    /// (to drop them by).
    pub fn use_scratch_database(&mut self, database: &str) -> String {
        let n: u32 = rand::random();
        let prefix = format!("t{n:08x}");
        self.parameters
            .insert("DbName".to_owned(), database.to_owned());
        self.parameters
            .insert("DbUserPrefix".to_owned(), prefix.clone());
        prefix
    }
}
