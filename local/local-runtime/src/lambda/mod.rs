//! The local Lambda service: the stack's functions, invoked with the JSON
//! events Lambda hands them, within their `Timeout`.
//!
//! A function runs its own binary as Lambda runs it (`process.rs`: an
//! execution environment per concurrent invocation, its `MemorySize`
//! enforced, Lambda's REPORT per invocation). A test may instead run its
//! handler in this process, built from its template environment by the
//! wiring the Lambda mains use: an instance is built at the first
//! invocation (a cold start) and kept; an invocation that times out or
//! panics loses it, as a Lambda sandbox is replaced after such a failure. A
//! build that fails is an init error, and the next invocation tries again.

mod invoke_api;
mod process;

pub use self::invoke_api::LambdaApi;
pub use local_lambda::{FunctionError, Report};

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use futures::FutureExt;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Service, service_fn};
use lambda_runtime::{Config as LambdaConfig, Context, LambdaEvent};
use local_stack::Function;
use registry_adapters::Config;
use registry_api::indexer::SqsEvent;
use registry_wiring::{Faces, Health, Indexer, Migrate, Reconcile, Setup, Upload, UserPoolSetupFn};
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::build::FunctionsBuild;
use crate::monitoring::{self, FunctionRecorder};
use local_cloudwatch::CloudWatch;

/// Lambda's limit on a synchronous invocation's payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// A connection pool per function instance; one local instance serves
/// concurrent invocations that Lambda would spread over several.
const POOL_SIZE: u32 = 5;

/// A handler's error, as the Lambda runtime reports it.
fn from_diagnostic(error: impl Into<lambda_runtime::Diagnostic>) -> FunctionError {
    let diagnostic = error.into();
    FunctionError::new(&diagnostic.error_type, diagnostic.error_message)
}

/// A built function instance: its handler, and the recorder of its
/// custom metrics when its `main` installs one (the functions built with
/// `registry_wiring::Setup`).
struct Instance {
    handler: Handler,
    recorder: Option<Arc<FunctionRecorder>>,
}

enum Handler {
    Upload(Upload),
    Faces(Faces),
    Health(Health),
    Indexer(Indexer),
    Reconcile(Reconcile),
    Migrate(Box<Migrate>),
    UserPoolSetup(UserPoolSetupFn),
}

/// What a function is run with.
pub struct LocalFunction {
    pub spec: Function,
    /// The variables it sees: the template's and the local ones (those that
    /// name a custom resource's attributes known once the stack is deployed).
    environment: std::sync::RwLock<BTreeMap<String, String>>,
    /// Its AWS clients' configuration: its own credentials, the local
    /// endpoints, its VPC's routes.
    pub sdk: SdkConfig,
    /// The HTTP client of its own requests (the migrate function's answer).
    pub http: reqwest::Client,
    /// The code it runs.
    pub build: FunctionsBuild,
    /// Where its metrics go.
    pub cloudwatch: Arc<CloudWatch>,
    /// Its handler in this process, once built (without a binary).
    instance: Mutex<Option<Arc<Instance>>>,
    /// Its own binary's environments, when it runs as Lambda runs it.
    processes: Option<process::Processes>,
}

impl LocalFunction {
    pub fn new(
        spec: Function,
        environment: BTreeMap<String, String>,
        sdk: SdkConfig,
        http: reqwest::Client,
        build: FunctionsBuild,
        cloudwatch: Arc<CloudWatch>,
    ) -> Self {
        Self {
            spec,
            environment: std::sync::RwLock::new(environment),
            sdk,
            http,
            build,
            cloudwatch,
            instance: Mutex::new(None),
            processes: None,
        }
    }

    /// Runs its own binary, `executable`, in execution environments whose
    /// requests pass `proxy` (its VPC), rather than its handler in this
    /// process.
    pub fn running_binary(
        mut self,
        executable: PathBuf,
        proxy: crate::vpc_proxy::VpcProxy,
    ) -> Self {
        self.processes = Some(process::Processes::new(executable, proxy));
        self
    }

    /// Its code's SHA-256: its binary's, or this build's.
    pub fn code_sha256(&self) -> String {
        let Some(processes) = &self.processes else {
            return self.build.code_sha256.clone();
        };
        processes.code_sha256().unwrap_or_else(|error| {
            tracing::warn!(function = %self.spec.logical_id, %error, "its binary cannot be read");
            self.build.code_sha256.clone()
        })
    }

    /// Its binary, when it runs one.
    pub fn executable(&self) -> Option<&std::path::Path> {
        self.processes.as_ref().map(|p| p.executable.as_path())
    }

    /// The reports of its latest invocations (Lambda's REPORT lines), when
    /// it runs its binary; oldest first.
    pub fn reports(&self) -> Vec<Report> {
        self.processes
            .as_ref()
            .map(process::Processes::reports)
            .unwrap_or_default()
    }

    /// The variables it sees.
    pub fn environment(&self) -> BTreeMap<String, String> {
        self.environment
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sets the variables of `values` that the template declares for it
    /// (what `sam local invoke --env-vars` may override); the next
    /// invocation starts cold with them. Returns the names left out.
    pub async fn override_variables(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        let mut ignored = Vec::new();
        {
            let mut environment = self
                .environment
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (name, value) in values {
                if self.spec.environment.contains_key(name) {
                    environment.insert(name.clone(), value.clone());
                } else {
                    ignored.push(name.clone());
                }
            }
        }
        self.lose_instance().await;
        ignored
    }

    /// Gives the variables that name custom resources' attributes their
    /// values, as CloudFormation does before it creates the function.
    pub fn resolve_deferred<E>(
        &self,
        value: impl Fn(&str, &str) -> Result<String, E>,
    ) -> Result<(), E> {
        let mut environment = self
            .environment
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for variable in environment.values_mut() {
            *variable = local_stack::replace_deferred(variable, &value)?;
        }
        Ok(())
    }

    fn config(&self) -> Result<Config, registry_adapters::ConfigError> {
        let environment = self.environment();
        Config::from_lookup(|name| environment.get(name).cloned())
    }

    async fn build(&self) -> Result<Instance, FunctionError> {
        let init = |error: &dyn std::fmt::Display| {
            FunctionError::new("Runtime.InitError", error.to_string())
        };
        let plain = |handler| Instance {
            handler,
            recorder: None,
        };
        if self.spec.binary == "user-pool-setup" {
            let environment = self.environment();
            let config = registry_adapters::config::UserPoolSetupConfig::from_lookup(|name| {
                environment.get(name).cloned()
            })
            .map_err(|e| init(&e))?;
            return Ok(plain(Handler::UserPoolSetup(
                registry_wiring::user_pool_setup(&self.sdk, self.http.clone(), config),
            )));
        }
        if self.spec.binary == "migrate" {
            return Ok(plain(Handler::Migrate(Box::new(
                registry_wiring::migrate(
                    self.build.migrations,
                    self.config(),
                    self.sdk.clone(),
                    self.http.clone(),
                )
                .await,
            ))));
        }
        let setup = Setup {
            config: self.config().map_err(|e| init(&e))?,
            aws: self.sdk.clone(),
            function_name: self.spec.name.clone(),
            pool_size: POOL_SIZE,
        };
        let recorder = Arc::new(FunctionRecorder::new(
            &setup.config.metrics_namespace,
            &setup.function_name,
        ));
        recorder.with(registry_api::metrics::describe);
        let handler = match self.spec.binary.as_str() {
            "upload" => Handler::Upload(
                registry_wiring::upload(&setup)
                    .await
                    .map_err(|e| init(&e))?,
            ),
            "faces" => Handler::Faces(registry_wiring::faces(&setup).await.map_err(|e| init(&e))?),
            "health" => Handler::Health(
                registry_wiring::health(&setup)
                    .await
                    .map_err(|e| init(&e))?,
            ),
            "indexer" => Handler::Indexer(
                registry_wiring::indexer(&setup)
                    .await
                    .map_err(|e| init(&e))?,
            ),
            "reconcile" => Handler::Reconcile(
                registry_wiring::reconcile(&setup)
                    .await
                    .map_err(|e| init(&e))?,
            ),
            other => {
                return Err(init(&format!(
                    "no workspace binary {other} is known to the local runtime"
                )));
            }
        };
        Ok(Instance {
            handler,
            recorder: Some(recorder),
        })
    }

    /// The instance, built now if there is none (a cold start).
    async fn instance(&self) -> Result<Arc<Instance>, FunctionError> {
        let mut slot = self.instance.lock().await;
        if let Some(instance) = slot.as_ref() {
            return Ok(Arc::clone(instance));
        }
        let started = Instant::now();
        let instance = Arc::new(self.build().await?);
        tracing::info!(
            function = %self.spec.logical_id,
            init_ms = started.elapsed().as_millis() as u64,
            "cold start"
        );
        if let Some(recorder) = &instance.recorder {
            let now = local_cloudwatch::now_ms();
            self.log(&recorder.single(registry_api::metrics::COLD_START, "Count", 1, now));
        }
        *slot = Some(Arc::clone(&instance));
        Ok(instance)
    }

    /// A line of the function's log: its EMF documents become metrics.
    fn log(&self, line: &str) {
        if let Some(Err(error)) = self.cloudwatch.put_log_line(line) {
            tracing::warn!(function = %self.spec.logical_id, %error, "an EMF document CloudWatch would not read");
        }
    }

    async fn lose_instance(&self) {
        *self.instance.lock().await = None;
        if let Some(processes) = &self.processes {
            processes.end_all().await;
        }
    }

    /// One invocation with `payload`; the function's answer as JSON.
    pub async fn invoke(&self, payload: Value) -> Result<Value, FunctionError> {
        let size = payload.to_string().len();
        if size > MAX_PAYLOAD_BYTES {
            return Err(FunctionError::new(
                "RequestEntityTooLargeException",
                format!(
                    "{size} byte payload is too large for the RequestResponse invocation type (limit {MAX_PAYLOAD_BYTES} bytes)"
                ),
            ));
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let span =
            tracing::info_span!("function", name = %self.spec.logical_id, request_id = %request_id);
        let (result, duration) = self.run(payload, &request_id).instrument(span).await;
        monitoring::invocation(&self.cloudwatch, &self.spec.name, duration, result.is_err());
        result
    }

    /// The invocation itself: the instance's handler within the timeout,
    /// its metrics flushed when it answers, as the Lambda mains flush them.
    /// Also how long the handler ran (Lambda's `Duration`: a cold start's
    /// init is apart).
    async fn run(
        &self,
        payload: Value,
        request_id: &str,
    ) -> (Result<Value, FunctionError>, Duration) {
        if let Some(processes) = &self.processes {
            let config = || processes.config(self, Arc::clone(&self.cloudwatch));
            return processes
                .invoke(config, &self.spec.logical_id, &payload, request_id)
                .await;
        }
        let instance = match self.instance().await {
            Ok(instance) => instance,
            Err(error) => return (Err(error), Duration::ZERO),
        };
        let context = self.context(request_id);
        let handling = instance.handler.invoke(payload, context);
        let handling: std::pin::Pin<Box<dyn Future<Output = _> + Send>> = match &instance.recorder {
            Some(recorder) => Box::pin(recorder.recording(handling)),
            None => Box::pin(handling),
        };
        let started = Instant::now();
        // A panic fails this invocation only, as it ends one sandbox.
        let invocation = AssertUnwindSafe(handling).catch_unwind();
        let result = match tokio::time::timeout(self.spec.timeout, invocation).await {
            Ok(Ok(result)) => {
                let now = local_cloudwatch::now_ms();
                if let Some(document) = instance.recorder.as_ref().and_then(|r| r.flush(now)) {
                    self.log(&document);
                }
                result
            }
            Ok(Err(panic)) => {
                self.lose_instance().await;
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(FunctionError::new(
                    "Runtime.ExitError",
                    format!("the function panicked: {message}"),
                ))
            }
            Err(_) => {
                self.lose_instance().await;
                Err(FunctionError::new(
                    "Sandbox.Timedout",
                    format!(
                        "Task timed out after {:.2} seconds",
                        self.spec.timeout.as_secs_f64()
                    ),
                ))
            }
        };
        (result, started.elapsed())
    }

    fn context(&self, request_id: &str) -> Context {
        let mut config = LambdaConfig::default();
        config.function_name.clone_from(&self.spec.name);
        config.memory = i32::try_from(self.spec.memory_mb).unwrap_or(128);
        config.version = "$LATEST".to_owned();
        let deadline = SystemTime::now() + self.spec.timeout;
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        context.deadline = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        context.invoked_function_arn.clone_from(&self.spec.arn);
        context.env_config = Arc::new(config);
        context
    }
}

impl Handler {
    async fn invoke(&self, payload: Value, context: Context) -> Result<Value, FunctionError> {
        let bad_event = |error: serde_json::Error| {
            FunctionError::new("Runtime.UnmarshalError", error.to_string())
        };
        match self {
            Handler::Upload(api) => http(payload, context, |request| api.handle(request)).await,
            Handler::Faces(api) => http(payload, context, |request| api.handle(request)).await,
            Handler::Health(api) => http(payload, context, |request| api.handle(request)).await,
            Handler::Indexer(indexer) => {
                let event: SqsEvent = serde_json::from_value(payload).map_err(bad_event)?;
                let answer = indexer
                    .handle_messages(&event, &context.request_id)
                    .await
                    .map_err(from_diagnostic)?;
                serde_json::to_value(answer)
                    .map_err(|e| FunctionError::new("Runtime.MarshalError", e.to_string()))
            }
            Handler::Reconcile(reconcile) => {
                let request = serde_json::from_value(payload).map_err(bad_event)?;
                let report = reconcile
                    .handle(request, &context.request_id, context.deadline)
                    .await
                    .map_err(from_diagnostic)?;
                serde_json::to_value(report)
                    .map_err(|e| FunctionError::new("Runtime.MarshalError", e.to_string()))
            }
            Handler::Migrate(migrate) => custom_resource_answer(migrate.handle(&payload).await),
            Handler::UserPoolSetup(function) => {
                custom_resource_answer(function.handle(&payload).await)
            }
        }
    }
}

fn custom_resource_answer(
    answer: Result<
        aws_lambda_events::cloudformation::CloudFormationCustomResourceResponse,
        registry_api::custom_resource::CustomResourceError,
    >,
) -> Result<Value, FunctionError> {
    match answer {
        Ok(response) => serde_json::to_value(response)
            .map_err(|e| FunctionError::new("Runtime.MarshalError", e.to_string())),
        Err(error) => Err(from_diagnostic(error)),
    }
}

/// An HTTP function: the event converted and the response made as
/// `lambda_http::run` converts and makes them.
async fn http<'a, F, Fut>(
    payload: Value,
    context: Context,
    handle: F,
) -> Result<Value, FunctionError>
where
    F: Fn(lambda_http::Request) -> Fut + 'a,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send + 'a,
{
    let request: LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| FunctionError::new("Runtime.UnmarshalError", e.to_string()))?;
    let mut adapter: Adapter<'a, _, _> = Adapter::from(service_fn(|request| {
        let response = handle(request);
        async move { Ok::<_, Infallible>(response.await) }
    }));
    let response = match adapter.call(LambdaEvent::new(request, context)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    serde_json::to_value(response)
        .map_err(|e| FunctionError::new("Runtime.MarshalError", e.to_string()))
}

/// The stack's functions, by logical id.
#[derive(Default)]
pub struct LocalLambda {
    functions: BTreeMap<String, Arc<LocalFunction>>,
}

impl LocalLambda {
    pub fn new(functions: Vec<LocalFunction>) -> Self {
        Self {
            functions: functions
                .into_iter()
                .map(|f| (f.spec.logical_id.clone(), Arc::new(f)))
                .collect(),
        }
    }

    pub fn function(&self, logical_id: &str) -> Option<&Arc<LocalFunction>> {
        self.functions.get(logical_id)
    }

    pub fn functions(&self) -> impl Iterator<Item = &Arc<LocalFunction>> {
        self.functions.values()
    }

    /// Closes every instance's database connections.
    pub async fn shutdown(&self) {
        for function in self.functions.values() {
            function.lose_instance().await;
        }
    }
}

/// How long after a failed asynchronous invocation Lambda tries again:
/// about one and two minutes in AWS, one and two seconds here.
pub const LOCAL_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];
