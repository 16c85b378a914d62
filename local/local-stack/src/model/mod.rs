//! The resources of a stack, as the local runtime runs them: the model
//! (this file) and the builder that reads the template into it, a file per
//! job.

mod build;
mod function;
mod parameters;
mod queues;
mod resources;
mod values;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub use local_s3_types::{CorsRule, EventFilter};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::StackError;
use crate::elb::{LambdaPermission, LoadBalancer, TargetGroup};
use crate::intrinsics::{Resolver, ResourceValues};
use crate::yaml::parse_template;

/// Where and as what the stack runs locally.
#[derive(Debug, Clone)]
pub struct StackSettings {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// Overrides of the template's parameters (`--parameter-overrides`).
    pub parameters: BTreeMap<String, String>,
    /// What the database clusters' endpoints are here.
    pub database_host: String,
    pub database_port: u16,
    /// What the HTTP APIs' `ApiEndpoint` is here: the local gateway's URL.
    pub api_endpoint: String,
}

impl StackSettings {
    pub fn new(stack_name: impl Into<String>) -> Self {
        Self {
            stack_name: stack_name.into(),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            parameters: BTreeMap::new(),
            database_host: "127.0.0.1".to_owned(),
            database_port: 3306,
            api_endpoint: "http://127.0.0.1:3000".to_owned(),
        }
    }
}

/// The stack: the resources the local runtime stands in for.
#[derive(Debug, Clone, Default)]
pub struct LocalStack {
    pub name: String,
    pub region: String,
    pub account_id: String,
    pub partition: String,
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub http_apis: Vec<HttpApi>,
    pub buckets: Vec<Bucket>,
    pub keys: Vec<Key>,
    pub secrets: Vec<Secret>,
    pub database_clusters: Vec<DatabaseCluster>,
    pub collections: Vec<Collection>,
    pub queues: Vec<Queue>,
    pub gateway_endpoints: Vec<GatewayEndpoint>,
    pub interface_endpoints: Vec<InterfaceEndpoint>,
    /// Subnet id → the route table associated with it.
    pub subnet_route_tables: BTreeMap<String, String>,
    pub custom_resources: Vec<CustomResource>,
    pub user_pools: Vec<UserPool>,
    pub load_balancers: Vec<LoadBalancer>,
    pub target_groups: Vec<TargetGroup>,
    pub lambda_permissions: Vec<LambdaPermission>,
    pub alarms: Vec<Alarm>,
    pub dashboards: Vec<Dashboard>,
}

/// A Lambda function (`AWS::Serverless::Function`, Globals applied).
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// The workspace binary it is built from (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub role_name: String,
    pub role_arn: String,
    pub timeout: Duration,
    pub memory_mb: u32,
    pub environment: BTreeMap<String, String>,
    /// The policies of the role SAM makes for it, by name, resolved: its
    /// `Policies` (`<Function>RolePolicy<n>`) and what SAM adds for an SQS
    /// on-failure destination (`<Function>EventInvokeConfigOnFailureSQSPolicy`).
    pub policies: Vec<(String, Value)>,
    pub routes: Vec<Route>,
    /// Its `EventInvokeConfig`. With an `AutoPublishAlias`, SAM gives it to
    /// the alias (`Qualifier`), not to `$LATEST`: see [`Function::asynchronous_for`].
    pub asynchronous: AsyncInvokeConfig,
    /// Its `AutoPublishAlias`.
    pub alias: Option<String>,
    /// Subnet ids when it runs in a VPC.
    pub subnets: Vec<String>,
    pub reserved_concurrency: Option<u32>,
    /// Its `ScheduleV2` events: EventBridge Scheduler invoking it.
    pub schedules: Vec<Schedule>,
    /// Its `SQS` events: Lambda polling a queue and invoking it.
    pub queue_sources: Vec<QueueSource>,
    /// Its `LoggingConfig`.
    pub logging: Logging,
}

/// A function's `LoggingConfig`, as Lambda hands it to the runtime
/// (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_GROUP_NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// `JSON` or `Text` (Lambda's default).
    pub format: String,
    /// `ApplicationLogLevel` with JSON logs (INFO unless set); none with text.
    pub application_level: Option<String>,
    /// `LogGroup`, or Lambda's default `/aws/lambda/<function name>`.
    pub log_group: String,
}

/// An `SQS` event: an event source mapping that receives batches of a
/// queue's messages and invokes the function with them, synchronously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    pub event_id: String,
    pub queue_arn: String,
    /// Messages per invocation at most.
    pub batch_size: u32,
    /// Invocations at once at most (`ScalingConfig.MaximumConcurrency`).
    pub maximum_concurrency: Option<u32>,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: the function
    /// names the messages that failed; otherwise a failure fails the batch.
    pub reports_item_failures: bool,
    pub enabled: bool,
}

/// A `ScheduleV2` event: EventBridge Scheduler invokes the function
/// asynchronously at a fixed rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub event_id: String,
    pub every: Duration,
    pub enabled: bool,
}

impl Function {
    /// The asynchronous invocation settings of what `arn` names: the
    /// function (`$LATEST`), one of its versions or its alias. Only what
    /// `EventInvokeConfig` qualifies has its settings; the rest, Lambda's
    /// defaults.
    pub fn asynchronous_for(&self, arn: &str) -> AsyncInvokeConfig {
        let qualifier = arn
            .strip_prefix(self.arn.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or("$LATEST");
        if qualifier == self.alias.as_deref().unwrap_or("$LATEST") {
            self.asynchronous.clone()
        } else {
            AsyncInvokeConfig::default()
        }
    }

    /// Whether `arn` names this function, unqualified or qualified.
    pub fn is_named_by(&self, arn: &str) -> bool {
        arn.strip_prefix(self.arn.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    }

    /// The ARN its calls are made as: the session of its role.
    pub fn session_arn(&self) -> String {
        let account = self.role_arn.split(':').nth(4).unwrap_or_default();
        format!(
            "arn:{}:sts::{account}:assumed-role/{}/{}",
            self.role_arn.split(':').nth(1).unwrap_or("aws"),
            self.role_name,
            self.name
        )
    }
}

/// An `HttpApi` event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The API's logical id.
    pub api: String,
    /// Upper case, or `ANY`.
    pub method: String,
    pub path: String,
    /// The authorizer guarding it; `None` for a public route.
    pub authorizer: Option<String>,
}

/// Lambda's asynchronous invocation settings (`EventInvokeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvokeConfig {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age: Duration,
    /// ARN of the on-failure destination.
    pub on_failure: Option<String>,
}

impl Default for AsyncInvokeConfig {
    /// Lambda's defaults: two retries, events kept six hours.
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(6 * 3600),
            on_failure: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpApi {
    pub logical_id: String,
    pub id: String,
    pub default_authorizer: Option<String>,
    pub authorizers: BTreeMap<String, JwtAuthorizer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    pub issuer: String,
    pub audience: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub versioned: bool,
    /// ARN of the KMS key of its default encryption (SSE-KMS).
    pub kms_key: Option<String>,
    /// Its bucket policy (`AWS::S3::BucketPolicy`).
    pub policy: Option<Value>,
    pub cors: Vec<CorsRule>,
    pub notifications: Vec<QueueNotification>,
}

/// A `QueueConfigurations` entry of a bucket's notifications: S3 sends
/// the events it matches to an SQS queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNotification {
    pub filter: EventFilter,
    /// The queue's logical id.
    pub queue: String,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub logical_id: String,
    pub id: String,
    pub arn: String,
    pub policy: Value,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Secret {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// ARN of the key it is encrypted with; `None`: `aws/secretsmanager`.
    pub kms_key: Option<String>,
    pub value: SecretValue,
}

/// What a secret holds when it is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretValue {
    /// `SecretString`.
    Fixed(String),
    /// `GenerateSecretString`.
    Generated(GeneratedSecret),
    /// The master user secret RDS manages for a cluster.
    DatabaseMaster { cluster: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedSecret {
    pub template: Option<String>,
    pub key: Option<String>,
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub exclude_numbers: bool,
    pub include_space: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseCluster {
    pub logical_id: String,
    pub identifier: String,
    pub database: Option<String>,
    pub master_username: String,
    /// ARN of the master user secret RDS manages.
    pub master_secret: Option<String>,
    pub resource_id: String,
    pub iam_authentication: bool,
}

/// An `AWS::CloudWatch::Alarm`: its name, ARN and resolved properties,
/// which the local CloudWatch reads as `PutMetricAlarm` does.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub properties: Map<String, Value>,
}

/// An `AWS::CloudWatch::Dashboard`: its name and its body, resolved.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub logical_id: String,
    pub name: String,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub logical_id: String,
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// Its URL (its `Ref`), as SQS names it.
    pub url: String,
    /// ARN of the key its messages are encrypted with.
    pub kms_key: Option<String>,
    /// Its queue policy (`AWS::SQS::QueuePolicy`).
    pub policy: Option<Value>,
    /// How long a received message stays hidden (`VisibilityTimeout`).
    pub visibility_timeout: Duration,
    /// How long a message is kept after it was first sent.
    pub retention: Duration,
    /// Where messages received too often go (`RedrivePolicy`).
    pub redrive: Option<Redrive>,
}

/// A queue's `RedrivePolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// The dead-letter queue's ARN.
    pub dead_letter_arn: String,
    /// Receives after which a message is moved there.
    pub max_receive_count: u32,
}

/// A gateway VPC endpoint: traffic from the subnets of its route tables to
/// its service passes it and its policy.
#[derive(Debug, Clone)]
pub struct GatewayEndpoint {
    pub logical_id: String,
    pub id: String,
    /// e.g. `s3`
    pub service: String,
    pub policy: Value,
    pub route_tables: Vec<String>,
}

/// An interface VPC endpoint (private DNS: the whole VPC reaches the
/// service through it).
#[derive(Debug, Clone)]
pub struct InterfaceEndpoint {
    pub logical_id: String,
    pub id: String,
    pub service: String,
    pub subnets: Vec<String>,
    pub private_dns: bool,
}

/// A custom resource (`Custom::*` or `AWS::CloudFormation::CustomResource`).
#[derive(Debug, Clone)]
pub struct CustomResource {
    pub logical_id: String,
    pub resource_type: String,
    pub service_token: String,
    /// The function behind the service token, when it is one of the stack's.
    pub function: Option<String>,
    pub service_timeout: Duration,
    /// `ResourceProperties` as the function receives them (ServiceToken included).
    pub properties: Map<String, Value>,
}

/// A Cognito user pool with its app clients, groups and domain.
#[derive(Debug, Clone)]
pub struct UserPool {
    pub logical_id: String,
    pub id: String,
    pub arn: String,
    /// The issuer (`iss`) of its tokens.
    pub issuer: String,
    /// `Properties`, resolved (password policy, MFA, ...).
    pub properties: Map<String, Value>,
    pub clients: Vec<UserPoolClient>,
    pub groups: Vec<String>,
    /// The prefix of its Cognito domain (`<prefix>.auth.<region>.amazoncognito.com`).
    pub domain_prefix: Option<String>,
}

impl UserPool {
    /// The URL of its domain's endpoints in AWS.
    pub fn domain_url(&self, region: &str) -> Option<String> {
        self.domain_prefix
            .as_ref()
            .map(|prefix| format!("https://{prefix}.auth.{region}.amazoncognito.com"))
    }
}

/// An app client of a user pool.
#[derive(Debug, Clone)]
pub struct UserPoolClient {
    pub logical_id: String,
    pub id: String,
    /// `Properties`, resolved: the names are those of the Cognito API's
    /// client settings (`CallbackURLs`, `AllowedOAuthFlows`, ...).
    pub properties: Map<String, Value>,
}

/// Lambda refuses functions that set these (reserved) variables.
pub const RESERVED_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
/// Lambda's limit on the total size of a function's variables.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

impl LocalStack {
    pub fn load(path: &Path, settings: &StackSettings) -> Result<Self, StackError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| StackError::Read(format!("{}: {error}", path.display())))?;
        Self::from_template(&parse_template(&text)?, settings)
    }

    pub fn from_template(template: &Value, settings: &StackSettings) -> Result<Self, StackError> {
        Builder::new(template, settings)?.build()
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    pub fn function_by_arn(&self, arn: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.arn == arn)
    }

    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.iter().find(|b| b.name == name)
    }

    pub fn key(&self, arn: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.arn == arn)
    }

    pub fn secret(&self, arn: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.arn == arn)
    }

    /// The gateway endpoint a function's calls to `service` pass, if any.
    pub fn gateway_endpoint_for(
        &self,
        function: &Function,
        service: &str,
    ) -> Option<&GatewayEndpoint> {
        self.gateway_endpoints.iter().find(|endpoint| {
            endpoint.service == service
                && function.subnets.iter().any(|subnet| {
                    self.subnet_route_tables
                        .get(subnet)
                        .is_some_and(|table| endpoint.route_tables.contains(table))
                })
        })
    }

    /// Whether a function can reach `service` at all: outside a VPC always;
    /// inside, only through an endpoint (the VPC has no NAT).
    pub fn reaches(&self, function: &Function, service: &str) -> bool {
        function.subnets.is_empty()
            || self.gateway_endpoint_for(function, service).is_some()
            || self
                .interface_endpoints
                .iter()
                .any(|endpoint| endpoint.service == service && endpoint.private_dns)
    }
}

struct Builder<'t> {
    template: &'t Value,
    resources: &'t Map<String, Value>,
    settings: &'t StackSettings,
    parameters: BTreeMap<String, Value>,
    pseudo: BTreeMap<&'static str, Value>,
    values: BTreeMap<String, ResourceValues>,
    empty: Map<String, Value>,
}

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, StackError> {
    value
        .as_object()
        .ok_or_else(|| StackError::Invalid(format!("{what} must be a map")))
}

/// A short lower-case suffix, stable for a stack and a name.
fn suffix(stack: &str, name: &str, length: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = Sha256::digest(format!("{stack}/{name}").as_bytes());
    digest
        .iter()
        .take(length)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// 16 hexadecimal digits, as in ELB's ARNs.
fn hex_id(stack: &str, name: &str) -> String {
    uuid_like(stack, name).replace('-', "")[..16].to_owned()
}

/// A load balancer's or target group's name: its `Name`, or one made of the
/// stack's name and a suffix (ELB: at most 32 characters, letters, digits
/// and hyphens, not ending with a hyphen).
fn elb_name(stack: &str, logical_id: &str, resource: &Value) -> String {
    if let Some(name) = resource.pointer("/Properties/Name").and_then(Value::as_str) {
        return name.to_owned();
    }
    let prefix: String = stack
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(19)
        .collect();
    format!(
        "{}-{}",
        prefix.trim_matches('-'),
        suffix(stack, logical_id, 12)
    )
}

fn uuid_like(stack: &str, name: &str) -> String {
    let digits = hex::encode(&Sha256::digest(format!("{stack}/{name}").as_bytes())[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &digits[0..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..32],
    )
}

impl<'t> Builder<'t> {
    pub(super) fn new(
        template: &'t Value,
        settings: &'t StackSettings,
    ) -> Result<Self, StackError> {
        let resources = template
            .get("Resources")
            .map(|r| object(r, "Resources"))
            .transpose()?
            .ok_or_else(|| StackError::Invalid("the template has no Resources".into()))?;
        let partition = "aws";
        let pseudo = BTreeMap::from([
            ("AWS::AccountId", json!(settings.account_id)),
            ("AWS::Region", json!(settings.region)),
            ("AWS::StackName", json!(settings.stack_name)),
            (
                "AWS::StackId",
                json!(format!(
                    "arn:{partition}:cloudformation:{}:{}:stack/{}/{}",
                    settings.region,
                    settings.account_id,
                    settings.stack_name,
                    uuid_like(&settings.stack_name, "stack")
                )),
            ),
            ("AWS::Partition", json!(partition)),
            ("AWS::URLSuffix", json!("amazonaws.com")),
            ("AWS::NotificationARNs", json!([])),
        ]);
        let mut builder = Self {
            template,
            resources,
            settings,
            parameters: BTreeMap::new(),
            pseudo,
            values: BTreeMap::new(),
            empty: Map::new(),
        };
        builder.parameters = builder.parameters()?;
        builder.check_rules()?;
        builder.values = builder.resource_values()?;
        Ok(builder)
    }

    pub(super) fn section(&self, name: &str) -> Result<&'t Map<String, Value>, StackError> {
        match self.template.get(name) {
            Some(value) => object(value, name),
            None => Ok(&EMPTY_MAP),
        }
    }

    pub(super) fn resolver<'s>(
        &'s self,
        values: &'s BTreeMap<String, ResourceValues>,
    ) -> Result<Resolver<'s>, StackError> {
        Ok(Resolver::new(
            &self.parameters,
            &self.pseudo,
            self.section("Conditions")?,
            self.section("Mappings")?,
            values,
            &self.settings.region,
        ))
    }

    /// Whether the resource exists with these parameters.
    pub(super) fn exists(&self, resource: &Value) -> Result<bool, StackError> {
        match resource.get("Condition").and_then(Value::as_str) {
            Some(condition) => {
                let no_resources = BTreeMap::new();
                self.resolver(&no_resources)?.condition(condition)
            }
            None => Ok(true),
        }
    }

    pub(super) fn resource_type(resource: &Value) -> &str {
        resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The property `name` of `properties`, its intrinsics resolved.
    pub(super) fn resolved(
        resolver: &Resolver<'_>,
        properties: &Map<String, Value>,
        name: &str,
    ) -> Result<Option<Value>, StackError> {
        properties
            .get(name)
            .map(|v| resolver.resolve(v))
            .transpose()
            .map(Option::flatten)
    }

    pub(super) fn properties(resource: &Value) -> &Map<String, Value> {
        resource
            .get("Properties")
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY_MAP)
    }
}

static EMPTY_MAP: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
