//! Starting and stopping the whole stack in one process, from `template.yaml`.

mod cluster;
mod environment;
mod face_engine_server;
mod invoke;
mod options;
mod running;
mod sign_in;
mod startup;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use local_iam::Access;
use local_s3_store::{RunningS3Store, S3Store};
use local_secrets_manager::SecretsManager;
use local_stack::LocalStack;
use local_user_pool::{TokenAuthority, TokenError, UserPool};
use tokio_util::sync::DropGuard;

use crate::alb::LocalAlb;
use crate::api_gateway::Gateway;
use crate::cloudformation::LocalCloudFormation;
use crate::lambda::LocalLambda;
use crate::monitoring::{self, Sampler};
use crate::network::Routes;
use crate::principals::{self, OPERATOR};
use crate::rds::LocalRds;
use crate::secrets::SecretFileError;
use crate::services::Services;
use crate::sqs::Queue;
use crate::sqs::dead_letters::DeadLetters;
use crate::sqs::poller::QueuePoller;
use local_cloudwatch::CloudWatch;

pub use cluster::Rotation;
use cluster::*;
use environment::*;
pub use environment::{SAM_CONTAINER_DATABASE_CA, sam_env_vars_file};
use face_engine_server::*;
pub use invoke::{InvokeError, apply_env_vars, invoke_event};
pub use options::*;
use running::*;
pub use running::{EnvironmentError, function_environment_for, function_environments_for};
use sign_in::*;
pub use sign_in::{api_routes, token_authority, users};
use startup::*;
pub use store::photo_dead_letter_queue;
use store::*;

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
    cloudwatch: Arc<CloudWatch>,
    sampler: Arc<Sampler>,
    stack: Arc<LocalStack>,
    access: Access,
    lambda: Arc<LocalLambda>,
    tokens: Arc<TokenAuthority>,
    rds: LocalRds,
    rotation: Arc<Rotation>,
    cloudformation: LocalCloudFormation,
    /// Where each local service listens.
    addresses: Addresses,
    engine: FaceEngineServer,
    user_pool: Option<Arc<UserPool>>,
    load_balancer: Option<Arc<LocalAlb>>,
    s3: RunningS3Store,
    /// The stack's queues, by logical id.
    queues: BTreeMap<String, Arc<Queue>>,
    /// How soon a failed message comes back (local timings).
    redelivery_delay: Option<Duration>,
    services: Services,
    /// Waits before the retries of an asynchronous invocation.
    retry_delays: Vec<Duration>,
    _stop_on_drop: DropGuard,
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
        // CloudWatch first: the deploy fails on an alarm or a dashboard
        // CloudWatch would refuse, and every service reports to it.
        let cloudwatch = monitoring::cloudwatch(&stack, &options.state)?;
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
        write_operator_credentials(&options.state, &access, &stack.region, &endpoints)?;
        if options.announce_addresses {
            RunningStack {
                api_endpoint: format!("http://{}", listeners.gateway.1),
                database_host: rds.host.clone(),
                database_port: rds.port,
                endpoints: endpoints.clone(),
            }
            .write(&options.state, &stack.name)?;
        }
        let local_urls = endpoints.local_urls(&stack);
        let addresses = listeners.addresses();
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
        let secrets_listener = listeners.secrets.0;
        services.spawn("secrets manager", |stop| {
            Arc::clone(&secrets).serve(secrets_listener, stop)
        });

        // The user pool, signing operators in at its domain.
        let user_pool =
            user_pool(&options.state, &stack, &local_urls, access.clone())?.map(Arc::new);
        if let Some(pool) = &user_pool {
            let (pool, listener) = (Arc::clone(pool), listeners.sign_in.0);
            services.spawn("user pool", |stop| pool.serve(listener, stop));
        }

        // The functions, and the load balancer in front of them.
        let lambda = Arc::new(LocalLambda::new(
            local_functions(
                &stack,
                &access,
                &endpoints,
                &options.database_ca,
                &functions_build(&options)?,
                &cloudwatch,
                options.functions_dir.as_deref(),
            )
            .await?,
        ));
        let load_balancer = match alb_listener {
            Some(listener) => {
                let sign_in = (user_pool.clone(), endpoints.cognito.as_str());
                let cloudwatch = Arc::clone(&cloudwatch);
                start_load_balancer(
                    &mut services,
                    &stack,
                    &lambda,
                    sign_in,
                    listener,
                    cloudwatch,
                )?
            }
            None => None,
        };

        // The queues, and the S3 store with the stack's buckets (their
        // events sent to the queues) and CloudFormation's.
        let queues = open_queues(&options, &stack)?;
        let store_config = store_config(&options, &stack, &access, &queues, &local_urls)?;
        let s3 = S3Store::start(store_config, listeners.s3.0).await?;
        serve_lambda_and_sqs_apis(
            &mut services,
            &stack,
            &access,
            &lambda,
            &queues,
            listeners.lambda.0,
            listeners.sqs.0,
        );

        // The face engine, with the stack's collections.
        let engine = open_face_engine(&options, &stack, &access, &endpoints).await?;
        let engine = FaceEngineServer::serve(
            engine,
            listeners.engine.0,
            addresses.engine,
            &services.stop_signal(),
        );

        // The HTTP API.
        let tokens = Arc::new(token_authority(&options.state, &stack)?);
        let rotation = Arc::new(Rotation {
            stack: Arc::clone(&stack),
            rds: rds.clone(),
            secrets: Arc::clone(&secrets),
        });
        let gateway = Gateway {
            rotation: Arc::clone(&rotation),
            lambda: Arc::clone(&lambda),
            routes: api_routes(&stack),
            tokens: Arc::clone(&tokens),
            dead_letters: photo_dead_letters(&stack, &queues),
            local_addr: addresses.gateway,
            api_id: stack
                .http_apis
                .first()
                .map(|a| a.id.clone())
                .unwrap_or_default(),
            cloudwatch: Arc::clone(&cloudwatch),
        };
        services.spawn_router("gateway", listeners.gateway.0, Arc::new(gateway).router());

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
        // CloudWatch's samples of the queues and the database, its alarms
        // evaluated, its dashboards served.
        let sampler = Arc::new(Sampler::new(
            Arc::clone(&cloudwatch),
            queues.values().cloned().collect(),
            rds.clone(),
            stack
                .database_clusters
                .iter()
                .filter_map(|c| Some((c.identifier.clone(), c.database.clone()?)))
                .collect(),
        ));
        services.spawn("CloudWatch sampler", |stop| Arc::clone(&sampler).run(stop));
        let console = local_cloudwatch::server::router(Arc::clone(&cloudwatch));
        services.spawn_router("CloudWatch", listeners.cloudwatch.0, console);

        let runtime = Self {
            cloudwatch,
            sampler,
            stack,
            access,
            lambda,
            tokens,
            rds,
            rotation,
            cloudformation,
            addresses,
            engine,
            user_pool,
            load_balancer,
            s3,
            queues,
            redelivery_delay: options.redelivery_delay,
            _stop_on_drop: services.stop_on_drop(),
            services,
            retry_delays: options.retry_delays.clone(),
        };
        runtime.deploy().await
    }

    /// Runs the custom resources, as a deploy of the stack does, then
    /// starts the event sources; a stack whose deploy fails is stopped.
    async fn deploy(self) -> Result<Self, StartError> {
        let deployed = match self.cloudformation.deploy().await {
            Ok(attributes) => self.give_custom_resource_attributes(&attributes),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = deployed {
            self.shutdown().await;
            return Err(error);
        }
        let mut runtime = self;
        runtime.start_event_sources()?;
        let addresses = &runtime.addresses;
        tracing::info!(gateway = %addresses.gateway, s3 = %addresses.s3, engine = %addresses.engine, secrets = %addresses.secrets, stack = %runtime.stack.name, "registry running");
        Ok(runtime)
    }

    /// Variables that name a custom resource's attribute (`Fn::GetAtt`) get
    /// the value its answer gave, as CloudFormation resolves them; an
    /// attribute the answer lacks fails the deploy, as there.
    fn give_custom_resource_attributes(
        &self,
        attributes: &BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(), StartError> {
        let value = |resource: &str, attribute: &str| {
            crate::cloudformation::attribute_text(attributes, resource, attribute).ok_or_else(
                || StartError::Resource {
                    what: format!("Fn::GetAtt {resource}.{attribute}"),
                    reason: "the custom resource's answer has no such Data".into(),
                },
            )
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

    /// Starts the functions' `SQS` events (Lambda's event source mappings),
    /// once the stack is deployed, as Lambda enables them.
    fn start_event_sources(&mut self) -> Result<(), StartError> {
        for function in self.lambda.functions() {
            for source in &function.spec.queue_sources {
                let queue = self
                    .queues
                    .values()
                    .find(|q| q.spec.arn == source.queue_arn)
                    .cloned()
                    .ok_or_else(|| StartError::Resource {
                        what: function.spec.logical_id.clone(),
                        reason: format!("reads {}, which is not running", source.queue_arn),
                    })?;
                let role = self
                    .access
                    .keys
                    .named(&function.spec.logical_id)
                    .ok_or_else(|| StartError::Resource {
                        what: function.spec.logical_id.clone(),
                        reason: "has no key pair".into(),
                    })?;
                let poller = Arc::new(QueuePoller {
                    queue,
                    function: Arc::clone(function),
                    source: source.clone(),
                    access: self.access.clone(),
                    role,
                    region: self.stack.region.clone(),
                    redelivery_delay: self.redelivery_delay,
                });
                let stop = self.services.stop_signal();
                let task = tokio::spawn(async move {
                    poller.run(stop).await;
                    Ok(())
                });
                self.services.push("event source mapping", task);
            }
        }
        Ok(())
    }

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
        format!("http://{}", self.addresses.sign_in)
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
        format!("http://{}", self.addresses.gateway)
    }
    pub fn s3_endpoint(&self) -> String {
        self.s3.endpoint_url()
    }
    pub fn engine_endpoint(&self) -> String {
        format!("http://{}", self.engine.addr)
    }
    pub fn secrets_endpoint(&self) -> String {
        format!("http://{}", self.addresses.secrets)
    }
    /// The functions' Lambda Invoke API.
    pub fn lambda_endpoint(&self) -> String {
        format!("http://{}", self.addresses.lambda)
    }
    /// The functions' on-failure queues.
    /// The local CloudWatch: the dashboards, the alarms and the metrics.
    pub fn cloudwatch(&self) -> &Arc<CloudWatch> {
        &self.cloudwatch
    }
    pub fn cloudwatch_endpoint(&self) -> String {
        format!("http://{}", self.addresses.cloudwatch)
    }
    /// Samples the queues and the database now (as CloudWatch does each
    /// minute), rather than at the next sample.
    pub async fn sample_metrics(&self) {
        self.sampler.sample().await;
    }
    pub fn sqs_endpoint(&self) -> String {
        format!("http://{}", self.addresses.sqs)
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
    /// A queue of the stack, by logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&Arc<Queue>> {
        self.queues.get(logical_id)
    }
    /// The photo events the indexer failed on.
    pub fn dead_letters(&self) -> Option<DeadLetters> {
        photo_dead_letters(&self.stack, &self.queues)
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
