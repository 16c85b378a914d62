//! The steps of a start: listeners, the stack read for this run, the
//! functions, the face engine, the load balancer, CloudFormation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use local_cloudwatch::CloudWatch;
use local_face_engine::{EngineConfig, FaceEngine};
use local_iam::{Access, Policy};
use local_stack::{LocalStack, StackSettings};
use local_user_pool::UserPool;
use tokio::net::TcpListener;

use crate::alb::LocalAlb;
use crate::build::FunctionsBuild;
use crate::cloudformation::LocalCloudFormation;
use crate::lambda::LambdaApi;
use crate::lambda::{LocalFunction, LocalLambda};
use crate::network::Routes;
use crate::principals::{CLOUDFORMATION, OPERATOR};
use crate::rds::LocalRds;
use crate::services::Services;
use crate::sqs::{LocalSqs, Queue};

use super::*;

pub(super) const MODEL_FILES: [&str; 3] = [
    "shape_predictor_5_face_landmarks.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_human_face_detector.dat",
];

pub(super) async fn bind(
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
pub(super) struct Listeners {
    pub(super) gateway: (TcpListener, SocketAddr),
    pub(super) s3: (TcpListener, SocketAddr),
    pub(super) engine: (TcpListener, SocketAddr),
    pub(super) secrets: (TcpListener, SocketAddr),
    pub(super) sign_in: (TcpListener, SocketAddr),
    pub(super) lambda: (TcpListener, SocketAddr),
    pub(super) sqs: (TcpListener, SocketAddr),
    pub(super) cloudwatch: (TcpListener, SocketAddr),
}

impl Listeners {
    pub(super) async fn bind(options: &RuntimeOptions) -> Result<Self, StartError> {
        Ok(Self {
            gateway: bind("gateway", options.gateway_listen).await?,
            s3: bind("S3 store", options.s3_listen).await?,
            engine: bind("face engine", options.engine_listen).await?,
            secrets: bind("secrets manager", options.secrets_listen).await?,
            sign_in: bind("user pool", options.sign_in_listen).await?,
            lambda: bind("Lambda API", options.lambda_listen).await?,
            sqs: bind("SQS", options.sqs_listen).await?,
            cloudwatch: bind("CloudWatch", options.cloudwatch_listen).await?,
        })
    }
}

/// Where each service listens.
pub(super) struct Addresses {
    pub(super) gateway: SocketAddr,
    pub(super) s3: SocketAddr,
    pub(super) engine: SocketAddr,
    pub(super) secrets: SocketAddr,
    pub(super) sign_in: SocketAddr,
    pub(super) lambda: SocketAddr,
    pub(super) sqs: SocketAddr,
    pub(super) cloudwatch: SocketAddr,
}

impl Listeners {
    pub(super) fn addresses(&self) -> Addresses {
        Addresses {
            gateway: self.gateway.1,
            s3: self.s3.1,
            engine: self.engine.1,
            secrets: self.secrets.1,
            sign_in: self.sign_in.1,
            lambda: self.lambda.1,
            sqs: self.sqs.1,
            cloudwatch: self.cloudwatch.1,
        }
    }

    /// What the services are reached at, as the functions' endpoint
    /// variables name them.
    pub(super) fn endpoints(&self, load_balancer: Option<SocketAddr>) -> Endpoints {
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
pub(super) fn load_stack(
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
pub(super) async fn open_face_engine(
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
pub(super) fn start_load_balancer(
    services: &mut Services,
    stack: &LocalStack,
    lambda: &Arc<LocalLambda>,
    sign_in: (Option<Arc<UserPool>>, &str),
    (listener, addr): (TcpListener, SocketAddr),
    cloudwatch: Arc<CloudWatch>,
) -> Result<Option<Arc<LocalAlb>>, StartError> {
    let (user_pool, domain) = sign_in;
    let alb = LocalAlb::of_stack(
        stack,
        Arc::clone(lambda),
        user_pool,
        domain,
        addr,
        cloudwatch,
    )
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
pub(super) async fn local_functions(
    stack: &LocalStack,
    access: &Access,
    endpoints: &Endpoints,
    database_ca: &Path,
    build: &FunctionsBuild,
    cloudwatch: &Arc<CloudWatch>,
    functions_dir: Option<&Path>,
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
        let mut local = LocalFunction::new(
            function.clone(),
            environment,
            sdk,
            http,
            build.clone(),
            Arc::clone(cloudwatch),
        );
        if let Some(folder) = functions_dir {
            let executable = folder.join(&function.binary);
            if !executable.is_file() {
                return Err(StartError::Resource {
                    what: function.logical_id.clone(),
                    reason: format!(
                        "its binary {} is missing: `make registry-local` builds it beside registry-local",
                        executable.display()
                    ),
                });
            }
            let proxy = crate::vpc_proxy::VpcProxy::start(routes)
                .await
                .map_err(|e| StartError::Resource {
                    what: function.logical_id.clone(),
                    reason: format!("its network's proxy: {e}"),
                })?;
            local = local.running_binary(executable, proxy);
        }
        functions.push(local);
    }
    Ok(functions)
}

/// CloudFormation, which runs the stack's custom resources: it presigns
/// their response URLs and reads the answers as its own principal.
pub(super) async fn local_cloudformation(
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

pub(super) fn policy(source: &str, document: &serde_json::Value) -> Result<Policy, StartError> {
    Policy::parse(source, document).map_err(|e| StartError::Resource {
        what: source.to_owned(),
        reason: e.to_string(),
    })
}

/// Creates a collection unless it exists, as CloudFormation creates the
/// stack's `AWS::Rekognition::Collection`.
pub(super) async fn create_collection(engine: &FaceEngine, id: &str) -> Result<(), StartError> {
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
pub(super) fn write_operator_credentials(
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

pub(super) fn check_models(dir: &Path) -> Result<(), StartError> {
    for file in MODEL_FILES {
        if !dir.join(file).is_file() {
            return Err(StartError::MissingModel(dir.to_owned(), file));
        }
    }
    Ok(())
}

/// The functions' code: the build the options name, or this executable.
pub(super) fn functions_build(options: &RuntimeOptions) -> Result<FunctionsBuild, StartError> {
    match options.build.clone() {
        Some(build) => Ok(build),
        None => FunctionsBuild::this_executable().map_err(|e| StartError::Resource {
            what: "this executable (the functions' code)".into(),
            reason: e.to_string(),
        }),
    }
}

/// The Lambda API (invocations by the SDKs) and SQS (the stack's queues).
pub(super) fn serve_lambda_and_sqs_apis(
    services: &mut Services,
    stack: &LocalStack,
    access: &Access,
    lambda: &Arc<LocalLambda>,
    queues: &BTreeMap<String, Arc<Queue>>,
    lambda_listener: TcpListener,
    sqs_listener: TcpListener,
) {
    let lambda_api = Arc::new(LambdaApi {
        region: stack.region.clone(),
        account: stack.account_id.clone(),
        access: access.clone(),
        lambda: Arc::clone(lambda),
    });
    services.spawn("Lambda API", |stop| lambda_api.serve(lambda_listener, stop));
    let sqs = Arc::new(LocalSqs {
        region: stack.region.clone(),
        account: stack.account_id.clone(),
        access: access.clone(),
        queues: queues.values().cloned().collect(),
    });
    services.spawn("SQS", |stop| sqs.serve(sqs_listener, stop));
}
