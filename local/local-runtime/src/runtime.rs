//! Starting and stopping the whole stack in one process, from `template.yaml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use local_face_engine::{DetectorKind, EngineConfig, FaceEngine};
use local_iam::{Access, Authorizer, Identity, Policy};
use local_s3_store::{
    BucketConfig, CorsRule, DeadLetters, DeliveryPolicy, EventTarget, FailureDestination, KmsKey,
    Notification, NotificationTarget, RunningS3Store, S3Store, S3StoreConfig,
};
use local_secrets_manager::{SecretKey, SecretSpec, SecretsManager};
use local_stack::{Function, LocalStack, SecretValue, StackSettings};
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::alb::LocalAlb;
use crate::apigw::Route;
use crate::build::FunctionsBuild;
use crate::cloudformation::{LocalCloudFormation, response_bucket};
use crate::gateway::Gateway;
use crate::lambda::{LOCAL_RETRY_DELAYS, LocalFunction, LocalLambda};
use crate::lambda_api::LambdaApi;
use crate::network::{Route as NetworkRoute, Routes};
use crate::principals::{self, CLOUDFORMATION, OPERATOR};
use crate::rds::{LocalRds, new_password};
use crate::recording::RecordingTarget;
use crate::secrets::{SecretFileError, read_or_create};
use crate::services::Services;
use crate::sqs::{DeadLetterQueue, LocalSqs};
use crate::targets::{FunctionTarget, QueueDestination};
use crate::urls::LocalUrls;
use local_user_pool::{PoolSpec, TokenAuthority, TokenError, UserPool};

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
    /// What lands in a queue (an on-failure destination), one folder each.
    pub fn queue(&self, name: &str) -> PathBuf {
        self.root.join("queues").join(name)
    }
    /// The face engine's collections.
    pub fn faces(&self) -> PathBuf {
        self.root.join("faces")
    }
    /// A stack's secrets.
    pub fn secrets(&self, stack: &str) -> PathBuf {
        self.root.join("stacks").join(stack).join("secrets.json")
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
    /// Tests wait less than a custom resource's ServiceTimeout.
    pub custom_resource_wait: Option<Duration>,
    /// Authorizes every call to the local services (tests keep it to read
    /// what it refused).
    pub authorizer: Arc<Authorizer>,
    /// The functions' code: this executable unless a test gives another.
    pub build: Option<FunctionsBuild>,
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
            stack_name: DEFAULT_STACK.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            account_id: DEFAULT_ACCOUNT.to_owned(),
            parameters: BTreeMap::new(),
            detector: DetectorKind::Hog,
            record_events: None,
            retry_delays: LOCAL_RETRY_DELAYS.to_vec(),
            custom_resource_wait: None,
            authorizer: Arc::new(Authorizer::new()),
            build: None,
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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the {what} must listen on a loopback address, not {addr}")]
    NotLoopback {
        what: &'static str,
        addr: SocketAddr,
    },
    #[error("the {what} cannot listen on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the models folder {0} lacks {1} (run `make models`)")]
    MissingModel(PathBuf, &'static str),
    #[error("the database's CA {0} is missing: set DATABASE_TLS_CA (make database writes it)")]
    MissingCa(PathBuf),
    #[error(transparent)]
    Stack(#[from] local_stack::StackError),
    #[error(transparent)]
    Secret(#[from] SecretFileError),
    #[error(transparent)]
    Principals(#[from] crate::principals::PrincipalError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the database server: {0}")]
    Rds(#[from] crate::rds::RdsError),
    #[error("the secrets: {0}")]
    Secrets(#[from] local_secrets_manager::SecretsError),
    #[error("{what}: {reason}")]
    Resource { what: String, reason: String },
    #[error("the face engine could not start: {0}")]
    Engine(#[from] local_face_engine::OpenError),
    #[error("the S3 store could not start: {0}")]
    S3(#[from] local_s3_store::StartError),
    #[error("deploying the stack: {0}")]
    Deploy(#[from] crate::cloudformation::CloudFormationError),
}

/// The stack, running.
pub struct LocalRuntime {
    stack: Arc<LocalStack>,
    access: Access,
    lambda: Arc<LocalLambda>,
    tokens: Arc<TokenAuthority>,
    rds: LocalRds,
    rotation: Arc<Rotation>,
    cloudformation: LocalCloudFormation,
    gateway_addr: SocketAddr,
    engine: FaceEngineServer,
    secrets_addr: SocketAddr,
    sign_in_addr: SocketAddr,
    lambda_addr: SocketAddr,
    sqs_addr: SocketAddr,
    user_pool: Option<Arc<UserPool>>,
    load_balancer: Option<Arc<LocalAlb>>,
    s3: RunningS3Store,
    services: Services,
    /// Waits before the retries of an asynchronous invocation.
    retry_delays: Vec<Duration>,
    _stop_on_drop: DropGuard,
}

const MODEL_FILES: [&str; 3] = [
    "shape_predictor_5_face_landmarks.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_human_face_detector.dat",
];

async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), StartError> {
    if !addr.ip().is_loopback() {
        return Err(StartError::NotLoopback { what, addr });
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { what, addr, source })?;
    Ok((listener, local))
}

/// Every listener of the runtime, bound before the stack is read: the API's
/// endpoint is a value of the template.
struct Listeners {
    gateway: (TcpListener, SocketAddr),
    s3: (TcpListener, SocketAddr),
    engine: (TcpListener, SocketAddr),
    secrets: (TcpListener, SocketAddr),
    sign_in: (TcpListener, SocketAddr),
    lambda: (TcpListener, SocketAddr),
    sqs: (TcpListener, SocketAddr),
}

impl Listeners {
    async fn bind(options: &RuntimeOptions) -> Result<Self, StartError> {
        Ok(Self {
            gateway: bind("gateway", options.gateway_listen).await?,
            s3: bind("S3 store", options.s3_listen).await?,
            engine: bind("face engine", options.engine_listen).await?,
            secrets: bind("secrets manager", options.secrets_listen).await?,
            sign_in: bind("user pool", options.sign_in_listen).await?,
            lambda: bind("Lambda API", options.lambda_listen).await?,
            sqs: bind("SQS", options.sqs_listen).await?,
        })
    }
}

impl Listeners {
    /// What the services are reached at, as the functions' endpoint
    /// variables name them.
    fn endpoints(&self, load_balancer: Option<SocketAddr>) -> Endpoints {
        let url = |(_, addr): &(TcpListener, SocketAddr)| format!("http://{addr}");
        Endpoints {
            s3: url(&self.s3),
            rekognition: url(&self.engine),
            secrets: url(&self.secrets),
            cognito: url(&self.sign_in),
            lambda: url(&self.lambda),
            sqs: url(&self.sqs),
            load_balancer: load_balancer
                .map(|addr| format!("http://{addr}"))
                .unwrap_or_default(),
        }
    }
}

/// The template read for this stack: its parameters, region and account,
/// the local database server as the cluster's endpoint, the gateway as the
/// HTTP API's.
fn load_stack(
    options: &RuntimeOptions,
    rds: &LocalRds,
    gateway: SocketAddr,
) -> Result<LocalStack, StartError> {
    let mut settings = StackSettings::new(&options.stack_name);
    settings.region.clone_from(&options.region);
    settings.account_id.clone_from(&options.account_id);
    settings.parameters.clone_from(&options.parameters);
    settings.database_host.clone_from(&rds.host);
    settings.database_port = rds.port;
    settings.api_endpoint = format!("http://{gateway}");
    Ok(LocalStack::load(&options.template, &settings)?)
}

/// The face engine, reading photos from the S3 store, with the stack's
/// collections created.
async fn open_face_engine(
    options: &RuntimeOptions,
    stack: &LocalStack,
    access: &Access,
    endpoints: &Endpoints,
) -> Result<FaceEngine, StartError> {
    let mut config = EngineConfig::new(options.state.faces(), &options.models_dir, access.clone());
    config.detector = options.detector;
    config.region.clone_from(&stack.region);
    config.account_id.clone_from(&stack.account_id);
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(stack.region.clone()))
        .endpoint_url(&endpoints.s3)
        .force_path_style(true)
        .http_client(registry_adapters::aws::https_client());
    let engine = FaceEngine::open(config, s3).await?;
    for collection in &stack.collections {
        create_collection(&engine, &collection.id).await?;
    }
    Ok(engine)
}

/// The stack's load balancer on `listener`, signing people in at the user
/// pool (`sign_in`: the pool and its domain's local URL).
fn start_load_balancer(
    services: &mut Services,
    stack: &LocalStack,
    lambda: &Arc<LocalLambda>,
    sign_in: (Option<Arc<UserPool>>, &str),
    (listener, addr): (TcpListener, SocketAddr),
) -> Result<Option<Arc<LocalAlb>>, StartError> {
    let (user_pool, domain) = sign_in;
    let alb = LocalAlb::of_stack(stack, Arc::clone(lambda), user_pool, domain, addr)
        .map_err(|e| StartError::Resource {
            what: "the load balancer".into(),
            reason: e.to_string(),
        })?
        .map(Arc::new);
    if let Some(alb) = &alb {
        services.spawn_router("load balancer", listener, Arc::clone(alb).router());
    }
    Ok(alb)
}

/// The stack's functions, each with its environment, its own credentials,
/// its network's routes and the build it runs.
async fn local_functions(
    stack: &LocalStack,
    access: &Access,
    endpoints: &Endpoints,
    database_ca: &Path,
    build: &FunctionsBuild,
) -> Result<Vec<LocalFunction>, StartError> {
    let mut functions = Vec::new();
    for function in &stack.functions {
        let identity =
            access
                .keys
                .named(&function.logical_id)
                .ok_or_else(|| StartError::Resource {
                    what: function.logical_id.clone(),
                    reason: "has no key pair".into(),
                })?;
        let environment = function_environment(function, stack, endpoints, &identity, database_ca);
        let routes = routes(stack, function, endpoints);
        let sdk =
            crate::sdk::config_for(&identity, &stack.region, &environment, routes.clone()).await;
        let http = function_http_client(&routes, &endpoints.s3);
        functions.push(LocalFunction::new(
            function.clone(),
            environment,
            sdk,
            http,
            build.clone(),
        ));
    }
    Ok(functions)
}

/// CloudFormation, which runs the stack's custom resources: it presigns
/// their response URLs and reads the answers as its own principal.
async fn local_cloudformation(
    options: &RuntimeOptions,
    stack: &Arc<LocalStack>,
    access: &Access,
    lambda: &Arc<LocalLambda>,
    endpoints: &Endpoints,
) -> LocalCloudFormation {
    let identity = access
        .keys
        .named(CLOUDFORMATION)
        .expect("the CloudFormation principal");
    let sdk = crate::sdk::config_for(
        &identity,
        &stack.region,
        &endpoints.variables(),
        Routes::default(),
    )
    .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    LocalCloudFormation::new(
        Arc::clone(stack),
        Arc::clone(lambda),
        s3,
        options.state.custom_resources(&stack.name),
    )
}

fn policy(source: &str, document: &serde_json::Value) -> Result<Policy, StartError> {
    Policy::parse(source, document).map_err(|e| StartError::Resource {
        what: source.to_owned(),
        reason: e.to_string(),
    })
}

impl LocalRuntime {
    pub async fn start(options: RuntimeOptions) -> Result<Self, StartError> {
        check_models(&options.models_dir)?;
        if !options.database_ca.is_file() {
            return Err(StartError::MissingCa(options.database_ca.clone()));
        }
        // Every port first: the API's endpoint is a value of the template.
        let listeners = Listeners::bind(&options).await?;
        let rds = LocalRds::new(&options.database_url)?;
        let stack = Arc::new(load_stack(&options, &rds, listeners.gateway.1)?);
        let access = principals::access(
            &options.state.root_secret(),
            &stack,
            Arc::clone(&options.authorizer),
        )?;
        // The load balancer's listener, when the stack has one.
        let alb_listener = if stack.load_balancers.is_empty() {
            None
        } else {
            Some(bind("load balancer", options.alb_listen).await?)
        };
        let endpoints = listeners.endpoints(alb_listener.as_ref().map(|(_, addr)| *addr));
        let (gateway_listener, gateway_addr) = listeners.gateway;
        let (s3_listener, s3_addr) = listeners.s3;
        let (engine_listener, engine_addr) = listeners.engine;
        let (secrets_listener, secrets_addr) = listeners.secrets;
        let (sign_in_listener, sign_in_addr) = listeners.sign_in;
        let (lambda_listener, lambda_addr) = listeners.lambda;
        let (sqs_listener, sqs_addr) = listeners.sqs;
        write_operator_credentials(&options.state, &access, &stack.region, &endpoints)?;
        let local_urls = endpoints.local_urls(&stack);
        let mut services = Services::new();

        // Secrets Manager and the database cluster, as the stack's creation
        // makes them.
        let secrets = Arc::new(SecretsManager::open(
            &options.state.secrets(&stack.name),
            &stack.region,
            access.clone(),
            secret_specs(&stack)?,
        )?);
        let new_cluster = create_database_and_secrets(&stack, &rds, &secrets).await?;
        services.spawn("secrets manager", |stop| {
            Arc::clone(&secrets).serve(secrets_listener, stop)
        });

        // The user pool, signing operators in at its domain.
        let user_pool = match user_pool(&options.state, &stack, &local_urls, access.clone())? {
            Some(pool) => {
                let pool = Arc::new(pool);
                services.spawn("user pool", |stop| {
                    Arc::clone(&pool).serve(sign_in_listener, stop)
                });
                Some(pool)
            }
            None => None,
        };

        // The functions, and the load balancer in front of them.
        let build = match options.build.clone() {
            Some(build) => build,
            None => FunctionsBuild::this_executable().map_err(|e| StartError::Resource {
                what: "this executable (the functions' code)".into(),
                reason: e.to_string(),
            })?,
        };
        let functions =
            local_functions(&stack, &access, &endpoints, &options.database_ca, &build).await?;
        let lambda = Arc::new(LocalLambda::new(functions));
        let load_balancer = match alb_listener {
            Some(listener) => {
                let sign_in = (user_pool.clone(), endpoints.cognito.as_str());
                start_load_balancer(&mut services, &stack, &lambda, sign_in, listener)?
            }
            None => None,
        };

        // The S3 store, with the stack's buckets and CloudFormation's.
        let (store_config, indexer_dead_letters) =
            store_config(&options, &stack, &access, &lambda, &local_urls)?;
        let s3 = S3Store::start(store_config, s3_listener).await?;

        // The Lambda API, and the on-failure queues of the functions S3
        // notifies.
        let lambda_api = Arc::new(LambdaApi {
            region: stack.region.clone(),
            account: stack.account_id.clone(),
            access: access.clone(),
            lambda: Arc::clone(&lambda),
        });
        services.spawn("Lambda API", |stop| lambda_api.serve(lambda_listener, stop));
        let sqs = Arc::new(LocalSqs {
            region: stack.region.clone(),
            account: stack.account_id.clone(),
            access: access.clone(),
            queues: dead_letter_queues(&stack, &lambda, &s3)?,
        });
        services.spawn("SQS", |stop| sqs.serve(sqs_listener, stop));

        // The face engine, with the stack's collections.
        let engine = open_face_engine(&options, &stack, &access, &endpoints).await?;
        let engine = FaceEngineServer::serve(
            engine,
            engine_listener,
            engine_addr,
            &services.stop_signal(),
        );

        // The HTTP API.
        let routes = api_routes(&stack);
        let tokens = Arc::new(token_authority(&options.state, &stack)?);
        let rotation = Arc::new(Rotation {
            stack: Arc::clone(&stack),
            rds: rds.clone(),
            secrets: Arc::clone(&secrets),
        });
        let gateway = Arc::new(Gateway {
            rotation: Arc::clone(&rotation),
            lambda: Arc::clone(&lambda),
            routes,
            tokens: Arc::clone(&tokens),
            dead_letters: indexer_dead_letters.and_then(|name| s3.dead_letters(&name).cloned()),
            local_addr: gateway_addr,
        });
        services.spawn_router("gateway", gateway_listener, gateway.router());

        // The stack's custom resources, as CloudFormation runs them.
        let mut cloudformation =
            local_cloudformation(&options, &stack, &access, &lambda, &endpoints).await;
        cloudformation.wait_at_most = options.custom_resource_wait;
        cloudformation.local_urls = local_urls;
        if new_cluster {
            // A database of its own makes a new stack, whatever the state
            // folder remembers of an earlier one.
            cloudformation.forget_deployed()?;
        }
        let runtime = Self {
            stack,
            access,
            lambda,
            tokens,
            rds: rds.clone(),
            rotation,
            cloudformation,
            gateway_addr,
            engine,
            secrets_addr,
            sign_in_addr,
            lambda_addr,
            sqs_addr,
            user_pool,
            load_balancer,
            s3,
            _stop_on_drop: services.stop_on_drop(),
            services,
            retry_delays: options.retry_delays.clone(),
        };
        let deployed = match runtime.cloudformation.deploy().await {
            Ok(attributes) => runtime.give_custom_resource_attributes(&attributes),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = deployed {
            runtime.shutdown().await;
            return Err(error);
        }
        tracing::info!(gateway = %gateway_addr, s3 = %s3_addr, engine = %engine_addr, secrets = %secrets_addr, stack = %runtime.stack.name, "registry running");
        Ok(runtime)
    }

    /// Variables that name a custom resource's attribute (`Fn::GetAtt`) get
    /// the value its answer gave, as CloudFormation resolves them; an
    /// attribute the answer lacks fails the deploy, as there.
    fn give_custom_resource_attributes(
        &self,
        attributes: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), StartError> {
        let value = |resource: &str, attribute: &str| match attributes
            .get(resource)
            .and_then(|data| data.get(attribute))
        {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(other) => Ok(other.to_string()),
            None => Err(StartError::Resource {
                what: format!("Fn::GetAtt {resource}.{attribute}"),
                reason: "the custom resource's answer has no such Data".into(),
            }),
        };
        for function in self.lambda.functions() {
            // Lambda's limit holds for the values, not the placeholders.
            let mut size = 0;
            for (name, template_value) in &function.spec.environment {
                size += name.len() + local_stack::replace_deferred(template_value, value)?.len();
            }
            if size > local_stack::MAX_ENVIRONMENT_BYTES {
                return Err(StartError::Resource {
                    what: function.spec.logical_id.clone(),
                    reason: format!(
                        "its environment variables take {size} bytes; Lambda allows {}",
                        local_stack::MAX_ENVIRONMENT_BYTES
                    ),
                });
            }
            function.resolve_deferred(value)?;
        }
        Ok(())
    }

    /// The user pool's domain (its sign-in endpoints), locally.
    /// Starts the stack's schedules (EventBridge Scheduler invoking their
    /// functions); until then, a function with a schedule runs only when
    /// invoked.
    pub fn start_schedules(&mut self) {
        for function in self.lambda.functions() {
            for schedule in function.spec.schedules.iter().filter(|s| s.enabled) {
                tracing::info!(function = %function.spec.logical_id, every_s = schedule.every.as_secs(), "schedule started");
                let task = crate::scheduler::spawn(
                    Arc::clone(function),
                    schedule.clone(),
                    self.retry_delays.clone(),
                    self.services.stop_signal(),
                );
                self.services.push("schedule", task);
            }
        }
    }

    pub fn sign_in_url(&self) -> String {
        format!("http://{}", self.sign_in_addr)
    }
    /// The stack's load balancer (`EnableAlb`), when it has one.
    pub fn load_balancer(&self) -> Option<&Arc<LocalAlb>> {
        self.load_balancer.as_ref()
    }
    /// The stack's user pool, when it has one.
    pub fn user_pool(&self) -> Option<&Arc<UserPool>> {
        self.user_pool.as_ref()
    }
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }
    pub fn s3_endpoint(&self) -> String {
        self.s3.endpoint_url()
    }
    pub fn engine_endpoint(&self) -> String {
        format!("http://{}", self.engine.addr)
    }
    pub fn secrets_endpoint(&self) -> String {
        format!("http://{}", self.secrets_addr)
    }
    /// The functions' Lambda Invoke API.
    pub fn lambda_endpoint(&self) -> String {
        format!("http://{}", self.lambda_addr)
    }
    /// The functions' on-failure queues.
    pub fn sqs_endpoint(&self) -> String {
        format!("http://{}", self.sqs_addr)
    }
    pub fn stack(&self) -> &LocalStack {
        &self.stack
    }
    pub fn lambda(&self) -> &LocalLambda {
        &self.lambda
    }
    pub fn tokens(&self) -> &TokenAuthority {
        &self.tokens
    }
    pub fn access(&self) -> &Access {
        &self.access
    }
    pub fn cloudformation(&self) -> &LocalCloudFormation {
        &self.cloudformation
    }
    /// What failed deliveries to a function's on-failure destination hold.
    pub fn dead_letters(&self, function: &str) -> Option<&DeadLetters> {
        self.s3.dead_letters(function)
    }

    /// The operator's AWS configuration (may do anything), for tests and tools.
    pub async fn operator_sdk_config(&self) -> aws_config::SdkConfig {
        let operator = self
            .access
            .keys
            .named(OPERATOR)
            .expect("the operator principal");
        crate::sdk::config_for(
            &operator,
            &self.stack.region,
            &self.endpoints().variables(),
            Routes::default(),
        )
        .await
    }

    fn endpoints(&self) -> Endpoints {
        Endpoints {
            s3: self.s3_endpoint(),
            rekognition: self.engine_endpoint(),
            secrets: self.secrets_endpoint(),
            cognito: self.sign_in_url(),
            lambda: self.lambda_endpoint(),
            sqs: self.sqs_endpoint(),
            load_balancer: self
                .load_balancer
                .as_ref()
                .map(|alb| alb.url().to_owned())
                .unwrap_or_default(),
        }
    }

    /// Rotates a database secret (by name or ARN) as a rotation function
    /// does: a new password for its user, then the secret's new value.
    pub async fn rotate_secret(&self, secret: &str) -> Result<(), StartError> {
        self.rotation.rotate(secret).await
    }

    /// Drops the users of this stack's database cluster (a scratch stack).
    pub async fn drop_database_users(&self) -> Result<(), StartError> {
        let prefix = self
            .stack
            .parameters
            .get("DbUserPrefix")
            .cloned()
            .unwrap_or_default();
        Ok(self.rds.drop_users(&prefix).await?)
    }

    /// Stops the face engine, as an outage would: connections to it are
    /// refused until [`Self::start_face_engine`]. Requests under way finish.
    pub async fn stop_face_engine(&self) {
        self.engine.stop().await;
    }

    /// Starts the face engine again on its address, if it was stopped.
    pub async fn start_face_engine(&self) -> Result<(), StartError> {
        self.engine.start().await
    }

    /// Stops taking requests, lets pending event deliveries finish, then
    /// stops the services and closes the functions' connections.
    pub async fn shutdown(self) {
        self.services.stop_signal().cancel();
        self.engine.stop().await;
        if let Err(error) = self.s3.shutdown().await {
            tracing::warn!(%error, "the S3 store stopped with an error");
        }
        self.services.stop().await;
        self.lambda.shutdown().await;
        tracing::info!("registry stopped");
    }
}

/// The face engine's server, which can be stopped and started again on the
/// same address (an outage of the service, for the fault benchmark).
struct FaceEngineServer {
    engine: FaceEngine,
    addr: SocketAddr,
    /// The runtime's stop: a running server stops with it.
    runtime_stop: CancellationToken,
    running: tokio::sync::Mutex<Option<RunningServer>>,
}

struct RunningServer {
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl FaceEngineServer {
    fn serve(
        engine: FaceEngine,
        listener: TcpListener,
        addr: SocketAddr,
        runtime_stop: &CancellationToken,
    ) -> Self {
        let running = Self::spawn(&engine, runtime_stop, listener);
        Self {
            engine,
            addr,
            runtime_stop: runtime_stop.clone(),
            running: tokio::sync::Mutex::new(Some(running)),
        }
    }

    fn spawn(
        engine: &FaceEngine,
        runtime_stop: &CancellationToken,
        listener: TcpListener,
    ) -> RunningServer {
        let stop = runtime_stop.child_token();
        let task = tokio::spawn(local_face_engine::serve_with_shutdown(
            listener,
            engine.clone(),
            stop.clone().cancelled_owned(),
        ));
        RunningServer { stop, task }
    }

    async fn start(&self) -> Result<(), StartError> {
        let mut running = self.running.lock().await;
        if running.is_none() {
            let (listener, _) = bind("face engine", self.addr).await?;
            *running = Some(Self::spawn(&self.engine, &self.runtime_stop, listener));
        }
        Ok(())
    }

    async fn stop(&self) {
        let Some(server) = self.running.lock().await.take() else {
            return;
        };
        server.stop.cancel();
        match server.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the face engine stopped with an error"),
            Err(error) => tracing::warn!(%error, "the face engine task failed"),
        }
    }
}

/// Rotation of the stack's database secrets, as a rotation function makes it.
pub struct Rotation {
    stack: Arc<LocalStack>,
    rds: LocalRds,
    secrets: Arc<SecretsManager>,
}

impl Rotation {
    /// A new password for the secret's user, then the secret's new current
    /// value (the old one stays readable as `AWSPREVIOUS`).
    pub async fn rotate(&self, secret: &str) -> Result<(), StartError> {
        let unknown = |reason: &str| StartError::Resource {
            what: secret.to_owned(),
            reason: reason.to_owned(),
        };
        let arn = self
            .stack
            .secrets
            .iter()
            .find(|s| s.arn == secret || s.name == secret || s.logical_id == secret)
            .map(|s| s.arn.clone())
            .ok_or_else(|| unknown("is not a secret of the stack"))?;
        let current = self
            .secrets
            .current(&arn)
            .ok_or_else(|| unknown("has no value"))?;
        let mut value: serde_json::Value = serde_json::from_str(&current)
            .map_err(|_| unknown("is not a database secret (JSON)"))?;
        let user = value["username"]
            .as_str()
            .ok_or_else(|| unknown("is not a database secret (no username)"))?
            .to_owned();
        let password = new_password();
        self.rds.set_password(&user, &password).await?;
        value["password"] = json!(password);
        self.secrets.put_value(&arn, &value.to_string())?;
        tracing::info!(%user, "database secret rotated");
        Ok(())
    }
}

/// The local services' endpoints.
struct Endpoints {
    s3: String,
    rekognition: String,
    secrets: String,
    /// The user pool: its API and its domain.
    cognito: String,
    lambda: String,
    sqs: String,
    /// The load balancer's listener (empty without one).
    load_balancer: String,
}

impl Endpoints {
    fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("AWS_ENDPOINT_URL_S3".to_owned(), self.s3.clone()),
            (
                "AWS_ENDPOINT_URL_REKOGNITION".to_owned(),
                self.rekognition.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                self.secrets.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER".to_owned(),
                self.cognito.clone(),
            ),
            ("AWS_ENDPOINT_URL_LAMBDA".to_owned(), self.lambda.clone()),
            ("AWS_ENDPOINT_URL_SQS".to_owned(), self.sqs.clone()),
        ])
    }

    fn local_urls(&self, stack: &LocalStack) -> LocalUrls {
        LocalUrls::of_stack(stack, &self.cognito, &self.load_balancer)
    }

    fn authority(url: &str) -> String {
        url.trim_start_matches("http://").to_owned()
    }
}

/// The variables a function sees: the template's, plus what differs
/// locally (the local endpoints, the local server's CA, path-style S3) and
/// what Lambda sets itself (region, name, memory, credentials).
fn function_environment(
    function: &Function,
    stack: &LocalStack,
    endpoints: &Endpoints,
    identity: &Identity,
    database_ca: &Path,
) -> BTreeMap<String, String> {
    let mut environment = function.environment.clone();
    let local_urls = endpoints.local_urls(stack);
    for value in environment.values_mut() {
        if let Some(local) = local_urls.local(value) {
            *value = local;
        }
    }
    environment.extend(endpoints.variables());
    for (name, value) in [
        ("S3_FORCE_PATH_STYLE", "true".to_owned()),
        ("DB_TLS_CA_FILE", database_ca.display().to_string()),
        ("AWS_REGION", stack.region.clone()),
        ("AWS_DEFAULT_REGION", stack.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_ACCESS_KEY_ID", identity.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            identity.secret_access_key().to_owned(),
        ),
    ] {
        environment.insert(name.to_owned(), value);
    }
    environment
}

/// Which endpoint each of a function's service calls passes.
fn routes(stack: &LocalStack, function: &Function, endpoints: &Endpoints) -> Routes {
    let mut routes = BTreeMap::new();
    for (service, url) in [
        ("s3", &endpoints.s3),
        ("rekognition", &endpoints.rekognition),
        ("secretsmanager", &endpoints.secrets),
        ("cognito-idp", &endpoints.cognito),
        ("lambda", &endpoints.lambda),
        ("sqs", &endpoints.sqs),
    ] {
        let route = if function.subnets.is_empty() {
            NetworkRoute::Direct
        } else if let Some(endpoint) = stack.gateway_endpoint_for(function, service) {
            NetworkRoute::GatewayEndpoint(endpoint.id.clone())
        } else if stack.reaches(function, service) {
            NetworkRoute::Direct
        } else {
            NetworkRoute::NoRoute {
                service: service.to_owned(),
            }
        };
        routes.insert(Endpoints::authority(url), route);
    }
    Routes(routes)
}

/// The client of a function's own HTTP requests (the migrate function's
/// answer to CloudFormation's bucket), routed as its SDK calls are.
fn function_http_client(routes: &Routes, s3: &str) -> reqwest::Client {
    let mut headers = http::HeaderMap::new();
    if let Some(endpoint) = routes.endpoint_for(&Endpoints::authority(s3))
        && let Ok(value) = http::HeaderValue::from_str(endpoint)
    {
        headers.insert(crate::network::NETWORK_HEADER, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// The queues that are on-failure destinations of functions S3 notifies:
/// what the S3 store could not deliver to the function.
fn dead_letter_queues(
    stack: &LocalStack,
    lambda: &LocalLambda,
    s3: &RunningS3Store,
) -> Result<Vec<DeadLetterQueue>, StartError> {
    let mut queues = Vec::new();
    for function in lambda.functions() {
        let Some(queue) = function
            .spec
            .asynchronous
            .on_failure
            .as_deref()
            .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn))
        else {
            continue;
        };
        let Some(letters) = s3.dead_letters(&function.spec.logical_id) else {
            continue;
        };
        queues.push(DeadLetterQueue::new(
            queue,
            queue
                .policy
                .as_ref()
                .map(|document| policy(&queue.logical_id, document))
                .transpose()?,
            queue
                .kms_key
                .as_deref()
                .map(|arn| key_of(stack, arn))
                .transpose()?,
            &function.spec.arn,
            letters.clone(),
        ));
    }
    Ok(queues)
}

fn key_of(stack: &LocalStack, arn: &str) -> Result<KmsKey, StartError> {
    let key = stack.key(arn).ok_or_else(|| StartError::Resource {
        what: arn.to_owned(),
        reason: "is not one of the stack's keys".into(),
    })?;
    Ok(KmsKey {
        arn: key.arn.clone(),
        policy: policy(&key.logical_id, &key.policy)?,
    })
}

fn secret_specs(stack: &LocalStack) -> Result<Vec<SecretSpec>, StartError> {
    stack
        .secrets
        .iter()
        .map(|secret| {
            Ok(SecretSpec {
                name: secret.name.clone(),
                arn: secret.arn.clone(),
                kms_key: secret
                    .kms_key
                    .as_deref()
                    .map(|arn| {
                        key_of(stack, arn).map(|k| SecretKey {
                            arn: k.arn,
                            policy: k.policy,
                        })
                    })
                    .transpose()?,
            })
        })
        .collect()
}

/// The databases and master users of the stack's clusters, and the first
/// value of every secret, as creating the stack makes them. Whether a
/// cluster's database is new.
async fn create_database_and_secrets(
    stack: &LocalStack,
    rds: &LocalRds,
    secrets: &SecretsManager,
) -> Result<bool, StartError> {
    let mut new_cluster = false;
    for secret in &stack.secrets {
        if secrets
            .current(&secret.arn)
            .is_some_and(|current| still_fits(stack, &secret.value, &current))
        {
            continue;
        }
        let value = match &secret.value {
            SecretValue::Fixed(value) => value.clone(),
            SecretValue::Generated(rules) => generated_secret(rules),
            SecretValue::DatabaseMaster { cluster } => {
                let cluster = stack
                    .database_clusters
                    .iter()
                    .find(|c| c.logical_id == *cluster)
                    .ok_or_else(|| StartError::Resource {
                        what: secret.logical_id.clone(),
                        reason: "its cluster is not in the stack".into(),
                    })?;
                json!({"username": cluster.master_username, "password": new_password()}).to_string()
            }
        };
        secrets.put_value(&secret.arn, &value)?;
    }
    for cluster in &stack.database_clusters {
        let secret = cluster
            .master_secret
            .as_deref()
            .ok_or_else(|| StartError::Resource {
                what: cluster.logical_id.clone(),
                reason: "locally, a cluster needs ManageMasterUserPassword".into(),
            })?;
        let value: serde_json::Value = secrets
            .current(secret)
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        let database = cluster
            .database
            .as_deref()
            .ok_or_else(|| StartError::Resource {
                what: cluster.logical_id.clone(),
                reason: "locally, a cluster needs a DatabaseName".into(),
            })?;
        new_cluster |= rds
            .create_cluster(
                database,
                &cluster.master_username,
                value["password"].as_str().unwrap_or_default(),
            )
            .await?;
    }
    Ok(new_cluster)
}

/// Whether a secret's stored value still belongs to what the template
/// says (the same user), or the secret is new (another user prefix).
fn still_fits(stack: &LocalStack, value: &SecretValue, current: &str) -> bool {
    let current: serde_json::Value = serde_json::from_str(current).unwrap_or_default();
    match value {
        SecretValue::Fixed(fixed) => {
            current == serde_json::from_str::<serde_json::Value>(fixed).unwrap_or_default()
        }
        SecretValue::Generated(rules) => match (&rules.template, &rules.key) {
            (Some(template), Some(key)) => {
                let mut expected: serde_json::Value =
                    serde_json::from_str(template).unwrap_or_default();
                expected[key] = current[key].clone();
                expected == current
            }
            _ => true,
        },
        SecretValue::DatabaseMaster { cluster } => stack
            .database_clusters
            .iter()
            .find(|c| c.logical_id == *cluster)
            .is_some_and(|c| current["username"] == c.master_username.as_str()),
    }
}

/// A value as Secrets Manager's `GenerateSecretString` makes it.
fn generated_secret(rules: &local_stack::GeneratedSecret) -> String {
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let mut alphabet: Vec<char> = Vec::new();
    if !rules.exclude_lowercase {
        alphabet.extend('a'..='z');
    }
    if !rules.exclude_uppercase {
        alphabet.extend('A'..='Z');
    }
    if !rules.exclude_numbers {
        alphabet.extend('0'..='9');
    }
    if !rules.exclude_punctuation {
        alphabet.extend(PUNCTUATION.chars());
    }
    if rules.include_space {
        alphabet.push(' ');
    }
    alphabet.retain(|c| !rules.exclude_characters.contains(*c));
    let mut rng = rand::thread_rng();
    let password: String = (0..rules.length)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len().max(1))])
        .collect();
    match (&rules.template, &rules.key) {
        (Some(template), Some(key)) => {
            let mut value: serde_json::Value =
                serde_json::from_str(template).unwrap_or_else(|_| json!({}));
            value[key] = json!(password);
            value.to_string()
        }
        _ => password,
    }
}

/// The S3 store's buckets: the stack's, with their notifications delivered
/// to the functions as Lambda's asynchronous invocation does, and
/// CloudFormation's response bucket. Also names the indexer's dead letters.
fn store_config(
    options: &RuntimeOptions,
    stack: &LocalStack,
    access: &Access,
    lambda: &Arc<LocalLambda>,
    local_urls: &LocalUrls,
) -> Result<(S3StoreConfig, Option<String>), StartError> {
    let mut config = S3StoreConfig::new(
        options.state.s3(),
        options.state.s3_versions(),
        access.clone(),
    );
    config.region.clone_from(&stack.region);
    let mut notified = None;
    for bucket in &stack.buckets {
        let mut local = BucketConfig::new(&bucket.name);
        local.versioned = bucket.versioned;
        local.kms_key = bucket
            .kms_key
            .as_deref()
            .map(|arn| key_of(stack, arn))
            .transpose()?;
        local.policy = bucket
            .policy
            .as_ref()
            .map(|document| policy(&format!("{}Policy", bucket.logical_id), document))
            .transpose()?;
        local.cors = bucket
            .cors
            .iter()
            .map(|rule| CorsRule {
                allowed_methods: rule.allowed_methods.clone(),
                // An origin served here (the load balancer's) is the local one.
                allowed_origins: rule
                    .allowed_origins
                    .iter()
                    .map(|origin| local_urls.local(origin).unwrap_or_else(|| origin.clone()))
                    .collect(),
                allowed_headers: rule.allowed_headers.clone(),
                exposed_headers: rule.exposed_headers.clone(),
                max_age_seconds: rule.max_age_seconds,
            })
            .collect();
        for (index, notification) in bucket.notifications.iter().enumerate() {
            let function = lambda
                .function(&notification.function)
                .cloned()
                .ok_or_else(|| StartError::Resource {
                    what: bucket.logical_id.clone(),
                    reason: format!(
                        "notifies {}, which the local runtime does not run",
                        notification.function
                    ),
                })?;
            let asynchronous = &function.spec.asynchronous;
            let queue = asynchronous
                .on_failure
                .as_deref()
                .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn));
            let destination: Option<Arc<dyn FailureDestination>> = match queue {
                Some(queue) => Some(Arc::new(QueueDestination {
                    access: access.clone(),
                    sender: access
                        .keys
                        .named(&function.spec.logical_id)
                        .ok_or_else(|| StartError::Resource {
                            what: function.spec.logical_id.clone(),
                            reason: "has no key pair".into(),
                        })?,
                    queue_arn: queue.arn.clone(),
                    policy: queue
                        .policy
                        .as_ref()
                        .map(|document| policy(&queue.logical_id, document))
                        .transpose()?,
                    key: queue
                        .kms_key
                        .as_deref()
                        .map(|arn| key_of(stack, arn))
                        .transpose()?,
                    region: stack.region.clone(),
                })),
                None => None,
            };
            let queue = queue.map_or_else(
                || format!("{}-unhandled", function.spec.name),
                |q| q.name.clone(),
            );
            let target: Arc<dyn EventTarget> = Arc::new(FunctionTarget(Arc::clone(&function)));
            let target = match &options.record_events {
                Some(dir) => Arc::new(RecordingTarget {
                    inner: target,
                    dir: dir.clone(),
                }),
                None => target,
            };
            let retries =
                (asynchronous.maximum_retry_attempts as usize).min(options.retry_delays.len());
            local.notifications.push(Notification {
                id: format!("{}-{}-{index}", bucket.logical_id, notification.function),
                event: notification.event.clone(),
                prefix: notification.prefix.clone(),
                suffix: notification.suffix.clone(),
                target: NotificationTarget {
                    name: notification.function.clone(),
                    target,
                    delivery: DeliveryPolicy {
                        retry_delays: options.retry_delays[..retries].to_vec(),
                        max_event_age: asynchronous.maximum_event_age,
                        // The local Lambda service times the function out itself.
                        attempt_timeout: function.spec.timeout + Duration::from_secs(5),
                        ..DeliveryPolicy::default()
                    },
                    dead_letter_dir: options.state.queue(&queue),
                    destination,
                },
            });
            notified = Some(notification.function.clone());
        }
        config.buckets.push(local);
    }
    config
        .buckets
        .push(BucketConfig::new(response_bucket(&stack.region)));
    for endpoint in &stack.gateway_endpoints {
        config.endpoints.insert(
            endpoint.id.clone(),
            Some(policy(&endpoint.logical_id, &endpoint.policy)?),
        );
    }
    Ok((config, notified))
}

/// The HTTP API's routes, with their authorizers.
pub fn api_routes(stack: &LocalStack) -> Vec<Route> {
    stack
        .functions
        .iter()
        .flat_map(|function| {
            function.routes.iter().map(move |route| Route {
                method: route.method.clone(),
                path: route.path.clone(),
                function: function.logical_id.clone(),
                authorizer: route.authorizer.as_ref().and_then(|name| {
                    stack
                        .http_apis
                        .iter()
                        .find(|api| api.logical_id == route.api)
                        .and_then(|api| api.authorizers.get(name))
                        .cloned()
                }),
            })
        })
        .collect()
}

/// The user pool's signing key, generated on first use.
fn signing_key(state: &StatePaths) -> Result<Vec<u8>, StartError> {
    Ok(read_or_create(&state.signing_key(), || {
        TokenAuthority::generate_key().map_err(|_| SecretFileError::Generation("signing key"))
    })?)
}

/// The stack's user pool (the local runtime runs one at most).
fn user_pool(
    state: &StatePaths,
    stack: &LocalStack,
    local_urls: &LocalUrls,
    access: Access,
) -> Result<Option<UserPool>, StartError> {
    let pool = match stack.user_pools.as_slice() {
        [] => return Ok(None),
        [pool] => pool,
        [_, more @ ..] => {
            return Err(StartError::Resource {
                what: format!("{} more user pools", more.len()),
                reason: "the local runtime runs one user pool per stack".into(),
            });
        }
    };
    let mut clients = std::collections::BTreeMap::new();
    for client in &pool.clients {
        // Its callback URLs name the local load balancer where they name the ALB.
        let mut properties = serde_json::Value::Object(client.properties.clone());
        local_urls.localize(&mut properties);
        let settings: local_user_pool::ClientSettings = serde_json::from_value(properties)
            .map_err(|e| StartError::Resource {
                what: client.logical_id.clone(),
                reason: e.to_string(),
            })?;
        clients.insert(client.id.clone(), settings);
    }
    let spec = PoolSpec {
        id: pool.id.clone(),
        arn: pool.arn.clone(),
        issuer: pool.issuer.clone(),
        region: stack.region.clone(),
        groups: pool.groups.clone(),
        password_policy: local_user_pool::PasswordPolicy::of_pool(&pool.properties),
        clients,
    };
    let key = signing_key(state)?;
    UserPool::open(spec, &state.users(&pool.id), &key, access)
        .map(Some)
        .map_err(|e| StartError::Resource {
            what: format!("user pool {}", pool.logical_id),
            reason: e.to_string(),
        })
}

/// The users of the stack's user pool, for the command line.
pub fn users(state: &StatePaths, stack: &LocalStack) -> Result<local_user_pool::Users, StartError> {
    let pool = stack
        .user_pools
        .first()
        .ok_or_else(|| StartError::Resource {
            what: "the stack".into(),
            reason: "has no user pool".into(),
        })?;
    local_user_pool::Users::open(
        &state.users(&pool.id),
        pool.groups.clone(),
        local_user_pool::PasswordPolicy::of_pool(&pool.properties),
    )
    .map_err(|e| StartError::Resource {
        what: format!("user pool {}", pool.logical_id),
        reason: e.to_string(),
    })
}

/// The user pool's tokens as the API's JWT authorizer accepts them (its
/// issuer and audience), for scripts and the gateway.
pub fn token_authority(
    state: &StatePaths,
    stack: &LocalStack,
) -> Result<TokenAuthority, StartError> {
    let authority = TokenAuthority::from_pem(&signing_key(state)?)?;
    let authorizer = stack.http_apis.iter().find_map(|api| {
        api.default_authorizer
            .as_ref()
            .and_then(|name| api.authorizers.get(name))
    });
    Ok(match authorizer {
        Some(jwt) => {
            authority.for_authorizer(&jwt.issuer, jwt.audience.first().map_or("", String::as_str))
        }
        None => authority,
    })
}

/// Creates a collection unless it exists, as CloudFormation creates the
/// stack's `AWS::Rekognition::Collection`.
async fn create_collection(engine: &FaceEngine, id: &str) -> Result<(), StartError> {
    let request = local_face_engine::api::CollectionRequest {
        collection_id: id.to_owned(),
    };
    match engine.create_collection(request).await {
        Ok(_) | Err(local_face_engine::ApiError::ResourceAlreadyExists(_)) => Ok(()),
        Err(error) => Err(StartError::Resource {
            what: format!("collection {id}"),
            reason: error.to_string(),
        }),
    }
}

/// The operator's key pair, region and the local endpoints, so that the AWS
/// CLI and SDKs (and `registry dead-letters`) reach the local services with
/// `set -a; . aws.env`.
fn write_operator_credentials(
    state: &StatePaths,
    access: &Access,
    region: &str,
    endpoints: &Endpoints,
) -> Result<(), StartError> {
    let operator = access.keys.named(OPERATOR).expect("the operator principal");
    let path = state.operator_credentials();
    let mut contents = format!(
        "# The local operator's key pair (may do anything), for the AWS CLI and SDKs against the local services.\n\
         AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nAWS_REGION={region}\n",
        operator.access_key_id,
        operator.secret_access_key()
    );
    for (name, url) in endpoints.variables() {
        contents.push_str(&format!("{name}={url}\n"));
    }
    crate::secrets::write_private(&path, contents.as_bytes())?;
    Ok(())
}

fn check_models(dir: &Path) -> Result<(), StartError> {
    for file in MODEL_FILES {
        if !dir.join(file).is_file() {
            return Err(StartError::MissingModel(dir.to_owned(), file));
        }
    }
    Ok(())
}

/// Why an invocation by hand failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "the template has no function {0} (functions are named by their logical id, e.g. HealthFunction)"
    )]
    NoFunction(String),
    #[error("the function failed: {0}")]
    Function(#[from] crate::lambda::FunctionError),
    #[error(transparent)]
    CloudFormation(#[from] crate::cloudformation::CloudFormationError),
}

/// Invokes `function` with `event`, as `sam local invoke` does. A custom
/// resource request gets a local `ResponseURL` (and the ids CloudFormation
/// would send), so that the function's answer reaches the local bucket.
pub async fn invoke_event(
    runtime: &LocalRuntime,
    function: &str,
    event: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    let target = runtime
        .lambda()
        .function(function)
        .ok_or_else(|| InvokeError::NoFunction(function.to_owned()))?;
    let custom_resource = runtime
        .stack()
        .custom_resources
        .iter()
        .find(|r| r.function.as_deref() == Some(function));
    let kind = match event.get("RequestType").and_then(serde_json::Value::as_str) {
        Some("Create") => Some(crate::cloudformation::RequestType::Create),
        Some("Update") => Some(crate::cloudformation::RequestType::Update),
        Some("Delete") => Some(crate::cloudformation::RequestType::Delete),
        _ => None,
    };
    let event = match (custom_resource, kind) {
        (Some(resource), Some(kind)) => {
            let deployed = serde_json::json!({"physicalId": event.get("PhysicalResourceId").cloned().unwrap_or_default(), "properties": resource.properties});
            let (local, _) = runtime
                .cloudformation()
                .event(resource, kind, Some(&deployed))
                .await?;
            local
        }
        _ => event,
    };
    Ok(target.invoke(event).await?)
}

/// A function's variables as the runtime on the default ports gives them.
pub fn function_environment_for(
    state: &StatePaths,
    stack: &LocalStack,
    function: &str,
) -> Result<BTreeMap<String, String>, crate::principals::PrincipalError> {
    let access = principals::access(&state.root_secret(), stack, Arc::new(Authorizer::new()))?;
    let Some((spec, identity)) = stack
        .function(function)
        .and_then(|f| access.keys.named(function).map(|i| (f, i)))
    else {
        return Ok(BTreeMap::new());
    };
    let endpoints = Endpoints {
        s3: format!("http://{DEFAULT_S3}"),
        rekognition: format!("http://{DEFAULT_ENGINE}"),
        secrets: format!("http://{DEFAULT_SECRETS}"),
        cognito: format!("http://{DEFAULT_SIGN_IN}"),
        lambda: format!("http://{DEFAULT_LAMBDA}"),
        sqs: format!("http://{DEFAULT_SQS}"),
        load_balancer: format!("http://{DEFAULT_ALB}"),
    };
    let ca = std::env::var_os("DATABASE_TLS_CA")
        .map_or_else(|| state.root.join("mariadb/tls/ca.pem"), PathBuf::from);
    Ok(function_environment(
        spec, stack, &endpoints, &identity, &ca,
    ))
}

/// The queue a bucket's notified function sends failed events to.
pub fn indexer_queue(stack: &LocalStack) -> Option<String> {
    stack
        .buckets
        .iter()
        .flat_map(|b| &b.notifications)
        .filter_map(|n| stack.function(&n.function))
        .find_map(|f| f.asynchronous.on_failure.as_deref())
        .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn))
        .map(|q| q.name.clone())
}
