//! The resources of a stack, as the local runtime runs them.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::StackError;
use crate::elb::{self, LambdaPermission, Listener, ListenerRule, LoadBalancer, TargetGroup};
use crate::intrinsics::{Resolver, ResourceValues, deferred_attribute, scalar};
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
#[derive(Debug, Clone)]
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
    pub notifications: Vec<LambdaNotification>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsRule {
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age_seconds: Option<u64>,
}

/// A `LambdaConfigurations` entry of a bucket's notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaNotification {
    /// e.g. `s3:ObjectCreated:*`
    pub event: String,
    /// The function's logical id.
    pub function: String,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl LambdaNotification {
    /// Whether an event named `event_name` (e.g. `ObjectCreated:Put`) for
    /// `key` is sent to the function.
    pub fn matches(&self, event_name: &str, key: &str) -> bool {
        let pattern = self.event.strip_prefix("s3:").unwrap_or(&self.event);
        let event = match pattern.strip_suffix('*') {
            Some(prefix) => event_name.starts_with(prefix),
            None => event_name == pattern,
        };
        event
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
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

enum PoolPart {
    Client(UserPoolClient),
    Group(String),
    Domain(String),
}

/// Lambda refuses functions that set these (reserved) variables.
const RESERVED_VARIABLES: &[&str] = &[
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

/// Rules go to their listener (by priority, which ELB keeps unique per
/// listener), listeners to their load balancer.
fn attach_listeners(
    stack: &mut LocalStack,
    mut listeners: Vec<Listener>,
    mut rules: Vec<ListenerRule>,
) -> Result<(), StackError> {
    rules.sort_by_key(|r| r.priority);
    for rule in rules {
        let listener = listeners
            .iter_mut()
            .find(|l| l.arn == rule.listener_arn)
            .ok_or_else(|| StackError::Resource {
                resource: rule.logical_id.clone(),
                reason: format!("no listener {} in the stack", rule.listener_arn),
            })?;
        if let Some(other) = listener.rules.iter().find(|r| r.priority == rule.priority) {
            return Err(StackError::Resource {
                resource: rule.logical_id.clone(),
                reason: format!(
                    "priority {} is already {}'s (ELB: PriorityInUse)",
                    rule.priority, other.logical_id
                ),
            });
        }
        listener.rules.push(rule);
    }
    for listener in listeners {
        let balancer = stack
            .load_balancers
            .iter_mut()
            .find(|b| b.arn == listener.load_balancer_arn)
            .ok_or_else(|| StackError::Resource {
                resource: listener.logical_id.clone(),
                reason: format!(
                    "no load balancer {} in the stack",
                    listener.load_balancer_arn
                ),
            })?;
        balancer.listeners.push(listener);
    }
    Ok(())
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
    fn new(template: &'t Value, settings: &'t StackSettings) -> Result<Self, StackError> {
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

    fn section(&self, name: &str) -> Result<&'t Map<String, Value>, StackError> {
        match self.template.get(name) {
            Some(value) => object(value, name),
            None => Ok(&EMPTY_MAP),
        }
    }

    fn resolver<'s>(
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

    /// Defaults and overrides, checked as CloudFormation checks them.
    fn parameters(&self) -> Result<BTreeMap<String, Value>, StackError> {
        let declared = self.section("Parameters")?;
        if let Some(unknown) = self
            .settings
            .parameters
            .keys()
            .find(|name| !declared.contains_key(*name))
        {
            return Err(StackError::Parameter {
                name: unknown.clone(),
                reason: "the template declares no such parameter".into(),
            });
        }
        let mut values = BTreeMap::new();
        for (name, declaration) in declared {
            let fail = |reason: String| StackError::Parameter {
                name: name.clone(),
                reason,
            };
            let value = match self.settings.parameters.get(name) {
                Some(value) => value.clone(),
                None => match declaration.get("Default") {
                    Some(default) => scalar(default, name).map_err(|e| fail(e.to_string()))?,
                    None => return Err(fail("needs a value (it has no default)".into())),
                },
            };
            check_parameter(declaration, &value).map_err(fail)?;
            let kind = declaration
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("String");
            let value = if kind.starts_with("List<") || kind == "CommaDelimitedList" {
                Value::Array(value.split(',').map(|s| json!(s.trim())).collect())
            } else {
                Value::String(value)
            };
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    fn check_rules(&self) -> Result<(), StackError> {
        let no_resources = BTreeMap::new();
        let resolver = self.resolver(&no_resources)?;
        for (name, rule) in self.section("Rules")? {
            if let Some(condition) = rule.get("RuleCondition")
                && !resolver.truth(condition)?
            {
                continue;
            }
            for assertion in rule
                .get("Assertions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let holds = assertion
                    .get("Assert")
                    .map(|a| resolver.truth(a))
                    .transpose()?
                    .unwrap_or(true);
                if !holds {
                    return Err(StackError::Rule {
                        rule: name.clone(),
                        description: assertion
                            .get("AssertDescription")
                            .and_then(Value::as_str)
                            .unwrap_or("an assertion does not hold")
                            .to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether the resource exists with these parameters.
    fn exists(&self, resource: &Value) -> Result<bool, StackError> {
        match resource.get("Condition").and_then(Value::as_str) {
            Some(condition) => {
                let no_resources = BTreeMap::new();
                self.resolver(&no_resources)?.condition(condition)
            }
            None => Ok(true),
        }
    }

    fn resource_type(resource: &Value) -> &str {
        resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn properties(resource: &Value) -> &Map<String, Value> {
        resource
            .get("Properties")
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY_MAP)
    }

    /// A name property resolved with what is known before any resource
    /// value (parameters and pseudo parameters), or a generated name.
    fn physical_name(
        &self,
        logical_id: &str,
        resource: &Value,
        property: &str,
        max: usize,
    ) -> Result<String, StackError> {
        match Self::properties(resource).get(property) {
            Some(name) => {
                let no_resources = BTreeMap::new();
                self.resolver(&no_resources)?
                    .string(name, &format!("{logical_id}.{property}"))
            }
            None => {
                let mut name = format!(
                    "{}-{logical_id}-{}",
                    self.settings.stack_name,
                    suffix(&self.settings.stack_name, logical_id, 12).to_uppercase()
                );
                name.truncate(max);
                Ok(name)
            }
        }
    }

    /// What `Ref` and `Fn::GetAtt` give for each resource here.
    fn resource_values(&self) -> Result<BTreeMap<String, ResourceValues>, StackError> {
        let s = self.settings;
        let (region, account, stack) = (&s.region, &s.account_id, &s.stack_name);
        let mut values = BTreeMap::new();
        for (logical_id, resource) in self.resources {
            if !self.exists(resource)? {
                continue;
            }
            let id = |prefix: &str| format!("{prefix}-{}", suffix(stack, logical_id, 17));
            let mut v = ResourceValues::default();
            let attr = |v: &mut ResourceValues, name: &str, value: Value| {
                v.attributes.insert(name.to_owned(), value);
            };
            match Self::resource_type(resource) {
                "AWS::S3::Bucket" => {
                    let name = self
                        .physical_name(logical_id, resource, "BucketName", 63)?
                        .to_lowercase();
                    attr(&mut v, "Arn", json!(format!("arn:aws:s3:::{name}")));
                    attr(
                        &mut v,
                        "DomainName",
                        json!(format!("{name}.s3.amazonaws.com")),
                    );
                    v.reference = Some(json!(name));
                }
                "AWS::KMS::Key" => {
                    let key = uuid_like(stack, logical_id);
                    attr(
                        &mut v,
                        "Arn",
                        json!(format!("arn:aws:kms:{region}:{account}:key/{key}")),
                    );
                    attr(&mut v, "KeyId", json!(key));
                    v.reference = Some(json!(key));
                }
                "AWS::KMS::Alias" => {
                    v.reference = Some(json!(self.physical_name(
                        logical_id,
                        resource,
                        "AliasName",
                        256
                    )?));
                }
                "AWS::Rekognition::Collection" => {
                    let name = self.physical_name(logical_id, resource, "CollectionId", 255)?;
                    attr(
                        &mut v,
                        "Arn",
                        json!(format!(
                            "arn:aws:rekognition:{region}:{account}:collection/{name}"
                        )),
                    );
                    v.reference = Some(json!(name));
                }
                "AWS::SecretsManager::Secret" => {
                    let name = self.physical_name(logical_id, resource, "Name", 512)?;
                    let arn = format!(
                        "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{}",
                        suffix(stack, logical_id, 6)
                    );
                    attr(&mut v, "Id", json!(arn));
                    v.reference = Some(json!(arn));
                }
                "AWS::RDS::DBCluster" => {
                    let identifier = self
                        .physical_name(logical_id, resource, "DBClusterIdentifier", 63)?
                        .to_lowercase();
                    attr(&mut v, "Endpoint.Address", json!(s.database_host));
                    attr(&mut v, "Endpoint.Port", json!(s.database_port.to_string()));
                    attr(&mut v, "ReadEndpoint.Address", json!(s.database_host));
                    attr(
                        &mut v,
                        "DBClusterArn",
                        json!(format!(
                            "arn:aws:rds:{region}:{account}:cluster:{identifier}"
                        )),
                    );
                    attr(
                        &mut v,
                        "DBClusterResourceId",
                        json!(format!(
                            "cluster-{}",
                            suffix(stack, logical_id, 26).to_uppercase()
                        )),
                    );
                    attr(
                        &mut v,
                        "MasterUserSecret.SecretArn",
                        json!(format!(
                            "arn:aws:secretsmanager:{region}:{account}:secret:rds!cluster-{}-{}",
                            uuid_like(stack, logical_id),
                            suffix(stack, &format!("{logical_id}/secret"), 6)
                        )),
                    );
                    v.reference = Some(json!(identifier));
                }
                "AWS::SQS::Queue" => {
                    let name = self.physical_name(logical_id, resource, "QueueName", 80)?;
                    attr(
                        &mut v,
                        "Arn",
                        json!(format!("arn:aws:sqs:{region}:{account}:{name}")),
                    );
                    attr(&mut v, "QueueName", json!(name));
                    attr(
                        &mut v,
                        "QueueUrl",
                        json!(format!(
                            "https://sqs.{region}.amazonaws.com/{account}/{name}"
                        )),
                    );
                    v.reference = Some(json!(format!(
                        "https://sqs.{region}.amazonaws.com/{account}/{name}"
                    )));
                }
                "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                    let name = self.physical_name(logical_id, resource, "FunctionName", 64)?;
                    let arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
                    if let Some(alias) = self.auto_publish_alias(resource)? {
                        // SAM's `Ref Function.Version` and `Ref Function.Alias`:
                        // the version is published at deploy time, from the
                        // code (see `deferred_attribute`).
                        let version = ResourceValues {
                            reference: Some(json!(deferred_attribute(logical_id, "Version"))),
                            ..ResourceValues::default()
                        };
                        let alias = ResourceValues {
                            reference: Some(json!(format!("{arn}:{alias}"))),
                            ..ResourceValues::default()
                        };
                        values.insert(format!("{logical_id}.Version"), version);
                        values.insert(format!("{logical_id}.Alias"), alias);
                    }
                    attr(&mut v, "Arn", json!(arn));
                    v.reference = Some(json!(name));
                }
                "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                    attr(&mut v, "ApiEndpoint", json!(s.api_endpoint));
                    attr(&mut v, "ApiId", json!(suffix(stack, logical_id, 10)));
                    v.reference = Some(json!(suffix(stack, logical_id, 10)));
                }
                "AWS::Cognito::UserPool" => {
                    let pool = format!("{region}_{}", suffix(stack, logical_id, 9));
                    attr(
                        &mut v,
                        "Arn",
                        json!(format!(
                            "arn:aws:cognito-idp:{region}:{account}:userpool/{pool}"
                        )),
                    );
                    attr(
                        &mut v,
                        "ProviderName",
                        json!(format!("cognito-idp.{region}.amazonaws.com/{pool}")),
                    );
                    attr(
                        &mut v,
                        "ProviderURL",
                        json!(format!("https://cognito-idp.{region}.amazonaws.com/{pool}")),
                    );
                    v.reference = Some(json!(pool));
                }
                // Ref gives the domain prefix.
                "AWS::Cognito::UserPoolDomain" => {
                    let no_resources = BTreeMap::new();
                    let prefix = match Self::properties(resource).get("Domain") {
                        Some(domain) => self
                            .resolver(&no_resources)?
                            .string(domain, &format!("{logical_id}.Domain"))?,
                        None => String::new(),
                    };
                    v.reference = Some(json!(prefix));
                }
                "AWS::Cognito::UserPoolClient" => {
                    v.reference = Some(json!(suffix(stack, logical_id, 26)))
                }
                kind if kind.starts_with("Custom::")
                    || kind == "AWS::CloudFormation::CustomResource" =>
                {
                    v.deferred = true;
                    v.reference = Some(json!(format!(
                        "{logical_id}-{}",
                        suffix(stack, logical_id, 12)
                    )));
                }
                "AWS::Logs::LogGroup" => {
                    let name = self.physical_name(logical_id, resource, "LogGroupName", 512)?;
                    attr(
                        &mut v,
                        "Arn",
                        json!(format!(
                            "arn:aws:logs:{region}:{account}:log-group:{name}:*"
                        )),
                    );
                    v.reference = Some(json!(name));
                }
                "AWS::SNS::Topic" => {
                    let name = self.physical_name(logical_id, resource, "TopicName", 256)?;
                    attr(&mut v, "TopicName", json!(name));
                    v.reference = Some(json!(format!("arn:aws:sns:{region}:{account}:{name}")));
                }
                "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                    let name = elb_name(stack, logical_id, resource);
                    let hex = hex_id(stack, logical_id);
                    let arn = format!(
                        "arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{name}/{hex}"
                    );
                    let digits: String = hex.chars().filter(char::is_ascii_digit).collect();
                    attr(
                        &mut v,
                        "DNSName",
                        json!(format!("{name}-{digits}.{region}.elb.amazonaws.com")),
                    );
                    attr(
                        &mut v,
                        "LoadBalancerFullName",
                        json!(format!("app/{name}/{hex}")),
                    );
                    attr(&mut v, "LoadBalancerName", json!(name));
                    attr(&mut v, "LoadBalancerArn", json!(arn));
                    v.reference = Some(json!(arn));
                }
                "AWS::ElasticLoadBalancingV2::TargetGroup" => {
                    let name = elb_name(stack, logical_id, resource);
                    let hex = hex_id(stack, logical_id);
                    let arn = format!(
                        "arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{hex}"
                    );
                    attr(
                        &mut v,
                        "TargetGroupFullName",
                        json!(format!("targetgroup/{name}/{hex}")),
                    );
                    attr(&mut v, "TargetGroupName", json!(name));
                    attr(&mut v, "TargetGroupArn", json!(arn));
                    v.reference = Some(json!(arn));
                }
                // A listener's and a rule's ARNs name their load balancer;
                // here they carry ids of their own, which nothing parses.
                "AWS::ElasticLoadBalancingV2::Listener" => {
                    let arn = format!(
                        "arn:aws:elasticloadbalancing:{region}:{account}:listener/app/{}/{}",
                        suffix(stack, logical_id, 12),
                        hex_id(stack, logical_id)
                    );
                    attr(&mut v, "ListenerArn", json!(arn));
                    v.reference = Some(json!(arn));
                }
                "AWS::ElasticLoadBalancingV2::ListenerRule" => {
                    let arn = format!(
                        "arn:aws:elasticloadbalancing:{region}:{account}:listener-rule/app/{}/{}",
                        suffix(stack, logical_id, 12),
                        hex_id(stack, logical_id)
                    );
                    attr(&mut v, "RuleArn", json!(arn));
                    attr(&mut v, "IsDefault", json!("false"));
                    v.reference = Some(json!(arn));
                }
                "AWS::EC2::VPC" => v.reference = Some(json!(id("vpc"))),
                "AWS::EC2::Subnet" => v.reference = Some(json!(id("subnet"))),
                "AWS::EC2::RouteTable" => v.reference = Some(json!(id("rtb"))),
                "AWS::EC2::InternetGateway" => v.reference = Some(json!(id("igw"))),
                "AWS::EC2::VPCEndpoint" => v.reference = Some(json!(id("vpce"))),
                "AWS::EC2::SecurityGroup" => {
                    attr(&mut v, "GroupId", json!(id("sg")));
                    v.reference = Some(json!(id("sg")));
                }
                _ => {
                    v.reference = Some(json!(format!(
                        "{logical_id}-{}",
                        suffix(stack, logical_id, 12)
                    )))
                }
            }
            values.insert(logical_id.clone(), v);
        }
        Ok(values)
    }

    fn build(&self) -> Result<LocalStack, StackError> {
        let resolver = self.resolver(&self.values)?;
        let mut stack = LocalStack {
            name: self.settings.stack_name.clone(),
            region: self.settings.region.clone(),
            account_id: self.settings.account_id.clone(),
            partition: "aws".to_owned(),
            parameters: self
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), scalar(v, k).unwrap_or_default()))
                .collect(),
            functions: Vec::new(),
            http_apis: Vec::new(),
            buckets: Vec::new(),
            keys: Vec::new(),
            secrets: Vec::new(),
            database_clusters: Vec::new(),
            collections: Vec::new(),
            queues: Vec::new(),
            gateway_endpoints: Vec::new(),
            interface_endpoints: Vec::new(),
            subnet_route_tables: BTreeMap::new(),
            custom_resources: Vec::new(),
            user_pools: Vec::new(),
            load_balancers: Vec::new(),
            target_groups: Vec::new(),
            lambda_permissions: Vec::new(),
        };
        let mut bucket_policies: BTreeMap<String, Value> = BTreeMap::new();
        // Queue URL (the queue's `Ref`) → policy.
        let mut queue_policies: BTreeMap<String, Value> = BTreeMap::new();
        let mut aliases: Vec<(String, String)> = Vec::new();
        // Clients, groups and domains name their pool; attached after the loop.
        let mut pool_parts: Vec<(String, PoolPart)> = Vec::new();
        // Rules name their listener, listeners their load balancer.
        let mut listeners: Vec<Listener> = Vec::new();
        let mut rules: Vec<ListenerRule> = Vec::new();
        let text = |value: Option<Value>| value.and_then(|v| v.as_str().map(str::to_owned));
        for (logical_id, resource) in self.resources {
            if !self.exists(resource)? {
                continue;
            }
            let in_resource = |error: StackError| StackError::Resource {
                resource: logical_id.clone(),
                reason: error.to_string(),
            };
            let properties = Self::properties(resource);
            let reference = || {
                self.values[logical_id]
                    .reference
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let attribute = |name: &str| {
                self.values[logical_id].attributes[name]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            let resolve = |name: &str| -> Result<Option<Value>, StackError> {
                properties
                    .get(name)
                    .map(|value| resolver.resolve(value))
                    .transpose()
                    .map(Option::flatten)
                    .map_err(in_resource)
            };
            match Self::resource_type(resource) {
                "AWS::Serverless::Function" => stack.functions.push(
                    self.function(&resolver, logical_id, resource)
                        .map_err(in_resource)?,
                ),
                "AWS::Lambda::Function" => {
                    return Err(StackError::Unsupported(format!(
                        "{logical_id}: AWS::Lambda::Function (declare functions as AWS::Serverless::Function)"
                    )));
                }
                "AWS::Serverless::HttpApi" => {
                    stack.http_apis.push(
                        self.http_api(&resolver, logical_id, resource)
                            .map_err(in_resource)?,
                    );
                }
                "AWS::S3::Bucket" => {
                    stack.buckets.push(
                        self.bucket(&resolver, logical_id, resource)
                            .map_err(in_resource)?,
                    );
                }
                "AWS::S3::BucketPolicy" => {
                    let bucket = resolve("Bucket")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let policy = resolve("PolicyDocument")?.unwrap_or(Value::Null);
                    bucket_policies.insert(bucket, policy);
                }
                "AWS::SQS::QueuePolicy" => {
                    let policy = resolve("PolicyDocument")?.unwrap_or(Value::Null);
                    let queues = resolve("Queues")?.unwrap_or(Value::Null);
                    for url in queues.as_array().into_iter().flatten() {
                        if let Some(url) = url.as_str() {
                            queue_policies.insert(url.to_owned(), policy.clone());
                        }
                    }
                }
                "AWS::KMS::Key" => stack.keys.push(Key {
                    logical_id: logical_id.clone(),
                    id: reference(),
                    arn: attribute("Arn"),
                    policy: resolve("KeyPolicy")?
                        .unwrap_or_else(|| default_key_policy(&self.settings.account_id)),
                    aliases: Vec::new(),
                }),
                "AWS::KMS::Alias" => {
                    let target = resolve("TargetKeyId")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    aliases.push((reference(), target));
                }
                "AWS::SecretsManager::Secret" => stack.secrets.push(Secret {
                    logical_id: logical_id.clone(),
                    name: self
                        .physical_name(logical_id, resource, "Name", 512)
                        .map_err(in_resource)?,
                    arn: reference(),
                    kms_key: resolve("KmsKeyId")?.and_then(|v| v.as_str().map(str::to_owned)),
                    value: secret_value(&resolver, properties).map_err(in_resource)?,
                }),
                "AWS::RDS::DBCluster" => {
                    let managed = resolve("ManageMasterUserPassword")?.is_some_and(|v| truthy(&v));
                    let master_secret = managed.then(|| attribute("MasterUserSecret.SecretArn"));
                    if let Some(arn) = &master_secret {
                        let key = resolve("MasterUserSecret")?.and_then(|v| {
                            v.get("KmsKeyId").and_then(Value::as_str).map(str::to_owned)
                        });
                        stack.secrets.push(Secret {
                            logical_id: format!("{logical_id}.MasterUserSecret"),
                            name: arn.rsplit(':').next().unwrap_or_default().to_owned(),
                            arn: arn.clone(),
                            kms_key: key,
                            value: SecretValue::DatabaseMaster {
                                cluster: logical_id.clone(),
                            },
                        });
                    }
                    stack.database_clusters.push(DatabaseCluster {
                        logical_id: logical_id.clone(),
                        identifier: reference(),
                        database: resolve("DatabaseName")?
                            .and_then(|v| v.as_str().map(str::to_owned)),
                        master_username: resolve("MasterUsername")?
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .ok_or_else(|| {
                                in_resource(StackError::Invalid("MasterUsername is missing".into()))
                            })?,
                        master_secret,
                        resource_id: attribute("DBClusterResourceId"),
                        iam_authentication: resolve("EnableIAMDatabaseAuthentication")?
                            .is_some_and(|v| truthy(&v)),
                    });
                }
                "AWS::Rekognition::Collection" => stack.collections.push(Collection {
                    logical_id: logical_id.clone(),
                    id: reference(),
                    arn: attribute("Arn"),
                }),
                "AWS::SQS::Queue" => stack.queues.push(Queue {
                    logical_id: logical_id.clone(),
                    name: attribute("QueueName"),
                    arn: attribute("Arn"),
                    url: reference(),
                    kms_key: resolve("KmsMasterKeyId")?.and_then(|v| v.as_str().map(str::to_owned)),
                    policy: None,
                }),
                "AWS::EC2::VPCEndpoint" => {
                    let service_name = resolve("ServiceName")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let service = service_name
                        .rsplit('.')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let strings = |name: &str| -> Result<Vec<String>, StackError> {
                        Ok(resolve(name)?
                            .and_then(|v| v.as_array().cloned())
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect())
                    };
                    let kind = resolve("VpcEndpointType")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(|| "Gateway".to_owned());
                    if kind == "Gateway" {
                        stack.gateway_endpoints.push(GatewayEndpoint {
                            logical_id: logical_id.clone(),
                            id: reference(),
                            service,
                            // No policy: the endpoint allows everything.
                            policy: resolve("PolicyDocument")?.unwrap_or_else(|| {
                                json!({"Version": "2012-10-17", "Statement": [
                                    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
                            }),
                            route_tables: strings("RouteTableIds")?,
                        });
                    } else {
                        stack.interface_endpoints.push(InterfaceEndpoint {
                            logical_id: logical_id.clone(),
                            id: reference(),
                            service,
                            subnets: strings("SubnetIds")?,
                            private_dns: resolve("PrivateDnsEnabled")?.is_some_and(|v| truthy(&v)),
                        });
                    }
                }
                "AWS::EC2::SubnetRouteTableAssociation" => {
                    let subnet = resolve("SubnetId")?.and_then(|v| v.as_str().map(str::to_owned));
                    let table =
                        resolve("RouteTableId")?.and_then(|v| v.as_str().map(str::to_owned));
                    if let (Some(subnet), Some(table)) = (subnet, table) {
                        stack.subnet_route_tables.insert(subnet, table);
                    }
                }
                "AWS::Cognito::UserPool" => {
                    let resolved = resolver
                        .resolve(&Value::Object(properties.clone()))
                        .map_err(in_resource)?;
                    stack.user_pools.push(UserPool {
                        logical_id: logical_id.clone(),
                        id: reference(),
                        arn: attribute("Arn"),
                        issuer: format!("https://{}", attribute("ProviderName")),
                        properties: resolved
                            .and_then(|v| v.as_object().cloned())
                            .unwrap_or_default(),
                        clients: Vec::new(),
                        groups: Vec::new(),
                        domain_prefix: None,
                    });
                }
                "AWS::Cognito::UserPoolClient" => {
                    let resolved = resolver
                        .resolve(&Value::Object(properties.clone()))
                        .map_err(in_resource)?
                        .and_then(|v| v.as_object().cloned())
                        .unwrap_or_default();
                    let pool = resolved
                        .get("UserPoolId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    pool_parts.push((
                        pool,
                        PoolPart::Client(UserPoolClient {
                            logical_id: logical_id.clone(),
                            id: reference(),
                            properties: resolved,
                        }),
                    ));
                }
                "AWS::Cognito::UserPoolGroup" => {
                    let pool = resolve("UserPoolId")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let name = resolve("GroupName")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_else(reference);
                    pool_parts.push((pool, PoolPart::Group(name)));
                }
                "AWS::Cognito::UserPoolDomain" => {
                    let pool = resolve("UserPoolId")?
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    pool_parts.push((pool, PoolPart::Domain(reference())));
                }
                "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                    let kind = text(resolve("Type")?).unwrap_or_else(|| "application".into());
                    if kind != "application" {
                        return Err(StackError::Unsupported(format!(
                            "{logical_id}: a load balancer of type {kind}"
                        )));
                    }
                    stack.load_balancers.push(LoadBalancer {
                        logical_id: logical_id.clone(),
                        arn: reference(),
                        dns_name: attribute("DNSName"),
                        listeners: Vec::new(),
                    });
                }
                "AWS::ElasticLoadBalancingV2::Listener" => {
                    let port = resolve("Port")?
                        .and_then(|v| scalar(&v, "Port").ok())
                        .and_then(|p| p.parse::<u16>().ok())
                        .ok_or_else(|| {
                            in_resource(StackError::Invalid("Port must be 1 to 65535".into()))
                        })?;
                    listeners.push(Listener {
                        logical_id: logical_id.clone(),
                        arn: reference(),
                        load_balancer_arn: text(resolve("LoadBalancerArn")?).unwrap_or_default(),
                        port,
                        protocol: text(resolve("Protocol")?).unwrap_or_else(|| "HTTP".into()),
                        default_actions: elb::actions(
                            resolve("DefaultActions")?.as_ref(),
                            logical_id,
                        )
                        .map_err(in_resource)?,
                        rules: Vec::new(),
                    });
                }
                "AWS::ElasticLoadBalancingV2::ListenerRule" => {
                    // ELB: priorities are 1 to 50000.
                    let priority = resolve("Priority")?
                        .and_then(|v| scalar(&v, "Priority").ok())
                        .and_then(|p| p.parse::<u32>().ok())
                        .filter(|p| (1..=50_000).contains(p))
                        .ok_or_else(|| {
                            in_resource(StackError::Invalid("Priority must be 1 to 50000".into()))
                        })?;
                    rules.push(ListenerRule {
                        logical_id: logical_id.clone(),
                        listener_arn: text(resolve("ListenerArn")?).unwrap_or_default(),
                        priority,
                        conditions: elb::conditions(resolve("Conditions")?.as_ref(), logical_id)
                            .map_err(in_resource)?,
                        actions: elb::actions(resolve("Actions")?.as_ref(), logical_id)
                            .map_err(in_resource)?,
                    });
                }
                "AWS::ElasticLoadBalancingV2::TargetGroup" => {
                    let kind = text(resolve("TargetType")?).unwrap_or_else(|| "instance".into());
                    if kind != "lambda" {
                        return Err(StackError::Unsupported(format!(
                            "{logical_id}: targets of type {kind} (the local ALB forwards to Lambda functions)"
                        )));
                    }
                    let targets = resolve("Targets")?
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    let attributes = resolve("TargetGroupAttributes")?
                        .and_then(|v| v.as_array().cloned())
                        .unwrap_or_default();
                    stack.target_groups.push(TargetGroup {
                        logical_id: logical_id.clone(),
                        arn: reference(),
                        functions: targets
                            .iter()
                            .filter_map(|t| t.get("Id").and_then(Value::as_str).map(str::to_owned))
                            .collect(),
                        multi_value_headers: attributes.iter().any(|a| {
                            a.get("Key").and_then(Value::as_str)
                                == Some("lambda.multi_value_headers.enabled")
                                && a.get("Value").is_some_and(truthy)
                        }),
                    });
                }
                "AWS::Lambda::Permission" => stack.lambda_permissions.push(LambdaPermission {
                    logical_id: logical_id.clone(),
                    function: text(resolve("FunctionName")?).unwrap_or_default(),
                    action: text(resolve("Action")?).unwrap_or_default(),
                    principal: text(resolve("Principal")?).unwrap_or_default(),
                    source_account: text(resolve("SourceAccount")?),
                    source_arn: text(resolve("SourceArn")?),
                }),
                kind if kind.starts_with("Custom::")
                    || kind == "AWS::CloudFormation::CustomResource" =>
                {
                    stack.custom_resources.push(
                        self.custom_resource(&resolver, logical_id, resource)
                            .map_err(in_resource)?,
                    );
                }
                _ => {}
            }
        }
        for bucket in &mut stack.buckets {
            bucket.policy = bucket_policies.remove(&bucket.name);
        }
        for queue in &mut stack.queues {
            queue.policy = queue_policies.remove(&queue.url);
        }
        for (pool_id, part) in pool_parts {
            let pool = stack
                .user_pools
                .iter_mut()
                .find(|p| p.id == pool_id)
                .ok_or_else(|| {
                    StackError::Invalid(format!("no user pool {pool_id} in the stack"))
                })?;
            match part {
                PoolPart::Client(client) => pool.clients.push(client),
                PoolPart::Group(group) => pool.groups.push(group),
                PoolPart::Domain(prefix) => pool.domain_prefix = Some(prefix),
            }
        }
        attach_listeners(&mut stack, listeners, rules)?;
        for (alias, target) in aliases {
            if let Some(key) = stack
                .keys
                .iter_mut()
                .find(|k| k.id == target || k.arn == target)
            {
                key.aliases.push(alias);
            }
        }
        // Key references may be ids, ARNs or aliases: make them ARNs.
        let key_arn = |reference: &str| -> Option<String> {
            stack
                .keys
                .iter()
                .find(|k| {
                    k.arn == reference
                        || k.id == reference
                        || k.aliases
                            .iter()
                            .any(|a| a == reference || reference.ends_with(&format!(":{a}")))
                })
                .map(|k| k.arn.clone())
        };
        let resolve_key = |resource: &str, key: &mut Option<String>| -> Result<(), StackError> {
            if let Some(reference) = key.as_deref() {
                *key = Some(key_arn(reference).ok_or_else(|| StackError::Resource {
                    resource: resource.to_owned(),
                    reason: format!("its KMS key {reference} is not one of the stack's keys"),
                })?);
            }
            Ok(())
        };
        for secret in &mut stack.secrets {
            resolve_key(&secret.logical_id, &mut secret.kms_key)?;
        }
        for queue in &mut stack.queues {
            resolve_key(&queue.logical_id, &mut queue.kms_key)?;
        }
        let functions = &stack.functions;
        for bucket in &mut stack.buckets {
            resolve_key(&bucket.logical_id, &mut bucket.kms_key)?;
            for notification in &mut bucket.notifications {
                // The notification names the function by ARN.
                let function = functions
                    .iter()
                    .find(|f| f.arn == notification.function)
                    .ok_or_else(|| StackError::Resource {
                        resource: bucket.logical_id.clone(),
                        reason: format!(
                            "notifies {}, which is not one of the stack's functions",
                            notification.function
                        ),
                    })?;
                notification.function = function.logical_id.clone();
            }
        }
        for custom in &mut stack.custom_resources {
            custom.function = stack
                .functions
                .iter()
                .find(|f| f.is_named_by(&custom.service_token))
                .map(|f| f.logical_id.clone());
        }
        Ok(stack)
    }

    fn globals(&self, kind: &str) -> &'t Map<String, Value> {
        self.template
            .get("Globals")
            .and_then(|g| g.get(kind))
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY_MAP)
    }

    /// A function's `AutoPublishAlias` (its own or the Globals'): SAM
    /// wants a name, or a `Ref` to a parameter it can resolve.
    fn auto_publish_alias(&self, resource: &Value) -> Result<Option<String>, StackError> {
        if Self::resource_type(resource) != "AWS::Serverless::Function" {
            return Ok(None);
        }
        let Some(alias) = Self::properties(resource)
            .get("AutoPublishAlias")
            .or_else(|| self.globals("Function").get("AutoPublishAlias"))
        else {
            return Ok(None);
        };
        let no_resources = BTreeMap::new();
        let alias = self
            .resolver(&no_resources)?
            .string(alias, "AutoPublishAlias")?;
        // Lambda's alias names: (?!^[0-9]+$)([a-zA-Z0-9-_]+), 1 to 128.
        let valid = (1..=128).contains(&alias.len())
            && alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !alias.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(StackError::Invalid(format!(
                "AutoPublishAlias {alias:?} is not a Lambda alias name"
            )));
        }
        Ok(Some(alias))
    }

    fn function(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<Function, StackError> {
        // SAM's Globals: maps merge (the function's keys win), lists
        // add up, anything else is the function's if it sets it.
        let mut merged = Value::Object(self.globals("Function").clone());
        merge_globals(
            &mut merged,
            &Value::Object(Self::properties(resource).clone()),
        );
        let properties = merged.as_object().unwrap_or(&self.empty);
        let get = |name: &str| -> Result<Option<Value>, StackError> {
            properties
                .get(name)
                .map(|v| resolver.resolve(v))
                .transpose()
                .map(Option::flatten)
        };
        let values = &self.values[logical_id];
        let name = values
            .reference
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                StackError::Invalid(
                    "Metadata.BuildProperties.Binary names no workspace binary".into(),
                )
            })?
            .to_owned();
        let number = |name: &str,
                      default: u64,
                      range: std::ops::RangeInclusive<u64>|
         -> Result<u64, StackError> {
            let value = match get(name)? {
                None => default,
                Some(v) => scalar(&v, name)?
                    .parse()
                    .map_err(|_| StackError::Invalid(format!("{name} must be a number")))?,
            };
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(StackError::Invalid(format!(
                    "{name} {value} is outside {range:?}"
                )))
            }
        };
        let timeout = Duration::from_secs(number("Timeout", 3, 1..=900)?);
        let memory_mb = u32::try_from(number("MemorySize", 128, 128..=10240)?).unwrap_or(128);

        let mut environment = BTreeMap::new();
        if let Some(variables) = get("Environment")?.and_then(|e| e.get("Variables").cloned()) {
            for (key, value) in object(&variables, "Environment.Variables")? {
                if RESERVED_VARIABLES.contains(&key.as_str()) {
                    return Err(StackError::Invalid(format!(
                        "Lambda reserves the environment variable {key}; a function may not set it"
                    )));
                }
                environment.insert(key.clone(), scalar(value, key)?);
            }
        }
        let size: usize = environment.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_ENVIRONMENT_BYTES {
            return Err(StackError::Invalid(format!(
                "its environment variables take {size} bytes; Lambda allows {MAX_ENVIRONMENT_BYTES}"
            )));
        }

        let mut policies = Vec::new();
        for policy in get("Policies")?
            .and_then(|p| p.as_array().cloned())
            .unwrap_or_default()
        {
            if policy.get("Statement").is_some() {
                policies.push((format!("{logical_id}RolePolicy{}", policies.len()), policy));
            } else {
                return Err(StackError::Unsupported(format!(
                    "the policy {policy} (only inline policy documents are evaluated locally)"
                )));
            }
        }

        let mut routes = Vec::new();
        let mut schedules = Vec::new();
        if let Some(events) = properties.get("Events").and_then(Value::as_object) {
            for (event_id, event) in events {
                let kind = event
                    .get("Type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let props = event
                    .get("Properties")
                    .map(|p| resolver.value(p, event_id))
                    .transpose()?
                    .unwrap_or_else(|| json!({}));
                match kind {
                    "HttpApi" => {}
                    "ScheduleV2" => {
                        schedules.push(schedule(event_id, &props)?);
                        continue;
                    }
                    _ => {
                        return Err(StackError::Unsupported(format!(
                            "the {kind} event {event_id}"
                        )));
                    }
                }
                let api = match event.pointer("/Properties/ApiId") {
                    Some(Value::Object(reference)) => reference
                        .get("Ref")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            StackError::Invalid(format!("{event_id}: ApiId must be a Ref"))
                        })?,
                    Some(_) => {
                        return Err(StackError::Invalid(format!(
                            "{event_id}: ApiId must be a Ref"
                        )));
                    }
                    None => "ServerlessHttpApi".to_owned(),
                };
                let method = props
                    .get("Method")
                    .and_then(Value::as_str)
                    .unwrap_or("ANY")
                    .to_uppercase();
                let path = props
                    .get("Path")
                    .and_then(Value::as_str)
                    .unwrap_or("$default")
                    .to_owned();
                let authorizer = match props.pointer("/Auth/Authorizer").and_then(Value::as_str) {
                    Some("NONE") => Some(None),
                    Some(name) => Some(Some(name.to_owned())),
                    None => None,
                };
                let authorizer = match authorizer {
                    Some(explicit) => explicit,
                    None => self
                        .resources
                        .get(&api)
                        .and_then(|a| a.pointer("/Properties/Auth/DefaultAuthorizer"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                };
                routes.push(Route {
                    api,
                    method,
                    path,
                    authorizer,
                });
            }
        }

        let mut asynchronous = AsyncInvokeConfig::default();
        if let Some(config) = get("EventInvokeConfig")? {
            if let Some(retries) = config.get("MaximumRetryAttempts") {
                asynchronous.maximum_retry_attempts = scalar(retries, "MaximumRetryAttempts")?
                    .parse()
                    .ok()
                    .filter(|r| *r <= 2)
                    .ok_or_else(|| {
                        StackError::Invalid("MaximumRetryAttempts must be 0, 1 or 2".into())
                    })?;
            }
            if let Some(age) = config.get("MaximumEventAgeInSeconds") {
                let seconds: u64 = scalar(age, "MaximumEventAgeInSeconds")?
                    .parse()
                    .ok()
                    .filter(|s| (60..=21600).contains(s))
                    .ok_or_else(|| {
                        StackError::Invalid(
                            "MaximumEventAgeInSeconds must be from 60 to 21600".into(),
                        )
                    })?;
                asynchronous.maximum_event_age = Duration::from_secs(seconds);
            }
            asynchronous.on_failure = config
                .pointer("/DestinationConfig/OnFailure/Destination")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match config
                .pointer("/DestinationConfig/OnFailure/Type")
                .and_then(Value::as_str)
            {
                // SAM lets the role send to the queue.
                Some("SQS") => policies.push((
                    format!("{logical_id}EventInvokeConfigOnFailureSQSPolicy"),
                    json!({"Statement": [{"Action": "sqs:SendMessage", "Effect": "Allow",
                                          "Resource": asynchronous.on_failure}]}),
                )),
                None => {}
                Some(other) => {
                    return Err(StackError::Unsupported(format!(
                        "an on-failure destination of type {other}"
                    )));
                }
            }
        }

        let subnets = get("VpcConfig")?
            .and_then(|v| v.get("SubnetIds").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        let reserved_concurrency = get("ReservedConcurrentExecutions")?
            .map(|v| scalar(&v, "ReservedConcurrentExecutions"))
            .transpose()?
            .map(|v| {
                v.parse().map_err(|_| {
                    StackError::Invalid("ReservedConcurrentExecutions must be a number".into())
                })
            })
            .transpose()?;
        let role_name = {
            let mut role = format!(
                "{}-{logical_id}Role-{}",
                self.settings.stack_name,
                suffix(&self.settings.stack_name, &format!("{logical_id}Role"), 12).to_uppercase()
            );
            role.truncate(64);
            role
        };
        if get("Role")?.is_some() {
            return Err(StackError::Unsupported(format!(
                "{logical_id}: a Role of its own (the local runtime evaluates the role SAM makes of Policies)"
            )));
        }
        Ok(Function {
            logical_id: logical_id.to_owned(),
            arn: values.attributes["Arn"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            name,
            binary,
            role_arn: format!("arn:aws:iam::{}:role/{role_name}", self.settings.account_id),
            role_name,
            timeout,
            memory_mb,
            environment,
            policies,
            routes,
            asynchronous,
            alias: self.auto_publish_alias(resource)?,
            subnets,
            reserved_concurrency,
            schedules,
        })
    }

    fn http_api(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<HttpApi, StackError> {
        let auth = match Self::properties(resource).get("Auth") {
            Some(auth) => resolver.value(auth, "Auth")?,
            None => json!({}),
        };
        let mut authorizers = BTreeMap::new();
        for (name, authorizer) in auth
            .get("Authorizers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let jwt = authorizer.get("JwtConfiguration").ok_or_else(|| {
                StackError::Unsupported(format!(
                    "the authorizer {name} (only JWT authorizers run locally)"
                ))
            })?;
            authorizers.insert(
                name.clone(),
                JwtAuthorizer {
                    issuer: jwt
                        .get("issuer")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    audience: jwt
                        .get("audience")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect(),
                },
            );
        }
        Ok(HttpApi {
            logical_id: logical_id.to_owned(),
            id: self.values[logical_id]
                .reference
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            default_authorizer: auth
                .get("DefaultAuthorizer")
                .and_then(Value::as_str)
                .map(str::to_owned),
            authorizers,
        })
    }

    fn bucket(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<Bucket, StackError> {
        let properties = Self::properties(resource);
        let get = |name: &str| -> Result<Option<Value>, StackError> {
            properties
                .get(name)
                .map(|v| resolver.resolve(v))
                .transpose()
                .map(Option::flatten)
        };
        let values = &self.values[logical_id];
        let versioned = get("VersioningConfiguration")?
            .and_then(|v| {
                v.get("Status")
                    .and_then(Value::as_str)
                    .map(|s| s == "Enabled")
            })
            .unwrap_or(false);
        let kms_key = get("BucketEncryption")?
            .and_then(|e| {
                e.pointer("/ServerSideEncryptionConfiguration/0/ServerSideEncryptionByDefault")
                    .cloned()
            })
            .filter(|d| d.get("SSEAlgorithm").and_then(Value::as_str) == Some("aws:kms"))
            .and_then(|d| {
                d.get("KMSMasterKeyID")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let strings = |rule: &Value, name: &str| -> Vec<String> {
            rule.get(name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let cors = get("CorsConfiguration")?
            .and_then(|c| c.get("CorsRules").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .map(|rule| CorsRule {
                allowed_methods: strings(rule, "AllowedMethods"),
                allowed_origins: strings(rule, "AllowedOrigins"),
                allowed_headers: strings(rule, "AllowedHeaders"),
                exposed_headers: strings(rule, "ExposedHeaders"),
                max_age_seconds: rule
                    .get("MaxAge")
                    .and_then(|m| scalar(m, "MaxAge").ok()?.parse().ok()),
            })
            .collect();
        let mut notifications = Vec::new();
        if let Some(configuration) = get("NotificationConfiguration")? {
            for (kind, entries) in configuration.as_object().into_iter().flatten() {
                if kind != "LambdaConfigurations" {
                    return Err(StackError::Unsupported(format!("notifications by {kind}")));
                }
                for entry in entries.as_array().into_iter().flatten() {
                    let mut prefix = None;
                    let mut suffix = None;
                    for rule in entry
                        .pointer("/Filter/S3Key/Rules")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let value = rule.get("Value").and_then(Value::as_str).map(str::to_owned);
                        match rule
                            .get("Name")
                            .and_then(Value::as_str)
                            .map(str::to_lowercase)
                            .as_deref()
                        {
                            Some("prefix") => prefix = value,
                            Some("suffix") => suffix = value,
                            _ => return Err(StackError::Invalid(format!("filter rule {rule}"))),
                        }
                    }
                    notifications.push(LambdaNotification {
                        event: entry
                            .get("Event")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        function: entry
                            .get("Function")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        prefix,
                        suffix,
                    });
                }
            }
        }
        Ok(Bucket {
            logical_id: logical_id.to_owned(),
            name: values
                .reference
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            arn: values.attributes["Arn"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            versioned,
            kms_key,
            policy: None,
            cors,
            notifications,
        })
    }

    fn custom_resource(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<CustomResource, StackError> {
        let properties = match resolver.value(
            &Value::Object(Self::properties(resource).clone()),
            logical_id,
        )? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let service_token = properties
            .get("ServiceToken")
            .and_then(Value::as_str)
            .ok_or_else(|| StackError::Invalid("ServiceToken is missing".into()))?
            .to_owned();
        let service_timeout = match properties.get("ServiceTimeout") {
            None => Duration::from_secs(3600),
            Some(value) => Duration::from_secs(
                scalar(value, "ServiceTimeout")?
                    .parse()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| {
                        StackError::Invalid("ServiceTimeout must be from 1 to 3600 seconds".into())
                    })?,
            ),
        };
        // CloudFormation hands the function every property as a string.
        let properties = properties
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Number(n) => Value::String(n.to_string()),
                    Value::Bool(b) => Value::String(b.to_string()),
                    other => other,
                };
                (k, v)
            })
            .collect();
        Ok(CustomResource {
            logical_id: logical_id.to_owned(),
            resource_type: Self::resource_type(resource).to_owned(),
            service_token,
            function: None,
            service_timeout,
            properties,
        })
    }
}

static EMPTY_MAP: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The key policy AWS gives a key created without one: the account
/// administers it through IAM.
fn default_key_policy(account: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"}]})
}

fn secret_value(
    resolver: &Resolver<'_>,
    properties: &Map<String, Value>,
) -> Result<SecretValue, StackError> {
    if let Some(text) = properties.get("SecretString") {
        return Ok(SecretValue::Fixed(resolver.string(text, "SecretString")?));
    }
    let Some(generate) = properties.get("GenerateSecretString") else {
        return Ok(SecretValue::Generated(GeneratedSecret {
            template: None,
            key: None,
            length: 32,
            exclude_characters: String::new(),
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            exclude_numbers: false,
            include_space: false,
        }));
    };
    let generate = resolver.value(generate, "GenerateSecretString")?;
    let text = |name: &str| {
        generate
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let flag = |name: &str| generate.get(name).is_some_and(truthy);
    let length = match generate.get("PasswordLength") {
        Some(v) => scalar(v, "PasswordLength")?
            .parse()
            .ok()
            .filter(|l| (1..=4096).contains(l))
            .ok_or_else(|| StackError::Invalid("PasswordLength must be from 1 to 4096".into()))?,
        None => 32,
    };
    let template = text("SecretStringTemplate");
    let key = text("GenerateStringKey");
    if template.is_some() != key.is_some() {
        return Err(StackError::Invalid(
            "SecretStringTemplate and GenerateStringKey go together".into(),
        ));
    }
    if let Some(template) = &template
        && !serde_json::from_str::<Value>(template).is_ok_and(|v| v.is_object())
    {
        return Err(StackError::Invalid(format!(
            "SecretStringTemplate {template} is not a JSON object"
        )));
    }
    Ok(SecretValue::Generated(GeneratedSecret {
        template,
        key,
        length,
        exclude_characters: text("ExcludeCharacters").unwrap_or_default(),
        exclude_punctuation: flag("ExcludePunctuation"),
        exclude_uppercase: flag("ExcludeUppercase"),
        exclude_lowercase: flag("ExcludeLowercase"),
        exclude_numbers: flag("ExcludeNumbers"),
        include_space: flag("IncludeSpace"),
    }))
}

fn merge_globals(base: &mut Value, local: &Value) {
    match (base, local) {
        (Value::Object(base), Value::Object(local)) => {
            for (key, value) in local {
                match base.get_mut(key) {
                    Some(existing) => merge_globals(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(local)) => base.extend(local.iter().cloned()),
        (base, local) => *base = local.clone(),
    }
}

/// `AllowedValues`, `AllowedPattern`, lengths and bounds, as CloudFormation
/// checks a parameter's value.
fn check_parameter(declaration: &Value, value: &str) -> Result<(), String> {
    if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_array)
        && !allowed
            .iter()
            .any(|a| scalar(a, "").is_ok_and(|a| a == value))
    {
        let allowed: Vec<String> = allowed
            .iter()
            .filter_map(|a| scalar(a, "").ok())
            .map(|a| format!("{a:?}"))
            .collect();
        return Err(format!("{value:?} is not one of {}", allowed.join(", ")));
    }
    if let Some(pattern) = declaration.get("AllowedPattern").and_then(Value::as_str) {
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("AllowedPattern {pattern:?} is not a pattern: {e}"))?;
        if !anchored.is_match(value) {
            let why = declaration
                .get("ConstraintDescription")
                .and_then(Value::as_str)
                .unwrap_or(pattern);
            return Err(format!("{value:?} does not match: {why}"));
        }
    }
    let bound = |name: &str| {
        declaration
            .get(name)
            .and_then(|v| scalar(v, name).ok()?.parse::<f64>().ok())
    };
    if declaration.get("Type").and_then(Value::as_str) == Some("Number") {
        let number: f64 = value
            .parse()
            .map_err(|_| format!("{value:?} is not a number"))?;
        if bound("MinValue").is_some_and(|min| number < min)
            || bound("MaxValue").is_some_and(|max| number > max)
        {
            return Err(format!("{value} is out of bounds"));
        }
    }
    let length = value.chars().count() as f64;
    if bound("MinLength").is_some_and(|min| length < min)
        || bound("MaxLength").is_some_and(|max| length > max)
    {
        return Err(format!("{value:?} has a length out of bounds"));
    }
    Ok(())
}

/// A `ScheduleV2` event's properties, checked as EventBridge Scheduler
/// checks a schedule (Scheduler API reference, `CreateSchedule`).
fn schedule(event_id: &str, props: &Value) -> Result<Schedule, StackError> {
    let invalid = |reason: String| StackError::Invalid(format!("{event_id}: {reason}"));
    let expression = props
        .get("ScheduleExpression")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("ScheduleExpression is required".into()))?;
    let every = rate(expression).ok_or_else(|| {
        invalid(format!(
            "ScheduleExpression {expression:?} is not rate(value unit): a positive whole \
             number, then minute, hour or day for 1 and minutes, hours or days otherwise \
             (cron and at expressions are not run locally)"
        ))
    })?;
    match props
        .pointer("/FlexibleTimeWindow/Mode")
        .and_then(Value::as_str)
    {
        None | Some("OFF") => {}
        Some("FLEXIBLE") => {
            let window = props
                .pointer("/FlexibleTimeWindow/MaximumWindowInMinutes")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
            if !window.is_some_and(|w| (1..=1440).contains(&w)) {
                return Err(invalid(
                    "a FLEXIBLE time window needs MaximumWindowInMinutes from 1 to 1440".into(),
                ));
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "FlexibleTimeWindow.Mode {other:?} is not OFF or FLEXIBLE"
            )));
        }
    }
    let number = |pointer: &str| {
        props
            .pointer(pointer)
            .map(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    };
    if let Some(attempts) = number("/RetryPolicy/MaximumRetryAttempts")
        && attempts.is_none_or(|a| a > 185)
    {
        return Err(invalid(
            "RetryPolicy.MaximumRetryAttempts must be from 0 to 185".into(),
        ));
    }
    if let Some(age) = number("/RetryPolicy/MaximumEventAgeInSeconds")
        && age.is_none_or(|a| !(60..=86400).contains(&a))
    {
        return Err(invalid(
            "RetryPolicy.MaximumEventAgeInSeconds must be from 60 to 86400".into(),
        ));
    }
    let enabled = match props.get("State").and_then(Value::as_str) {
        None | Some("ENABLED") => true,
        Some("DISABLED") => false,
        Some(other) => {
            return Err(invalid(format!(
                "State {other:?} is not ENABLED or DISABLED"
            )));
        }
    };
    Ok(Schedule {
        event_id: event_id.to_owned(),
        every,
        enabled,
    })
}

/// `rate(value unit)`: the singular unit for 1, the plural otherwise (the
/// form both EventBridge rules and Scheduler take).
fn rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (value, unit) = inner.split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let seconds = match (unit, value == 1) {
        ("minute", true) | ("minutes", false) => 60,
        ("hour", true) | ("hours", false) => 3600,
        ("day", true) | ("days", false) => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(value.checked_mul(seconds)?))
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[test]
    fn rates_take_a_positive_number_and_a_unit_that_agrees_with_it() {
        assert_eq!(rate("rate(10 minutes)"), Some(Duration::from_secs(600)));
        assert_eq!(rate("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(rate("rate(2 days)"), Some(Duration::from_secs(172800)));
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(ten minutes)",
            "rate(5 weeks)",
            "cron(0 12 * * ? *)",
        ] {
            assert_eq!(rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn schedules_are_checked_as_scheduler_checks_them() {
        let ok = schedule(
            "Every",
            &json!({"ScheduleExpression": "rate(10 minutes)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "RetryPolicy": {"MaximumRetryAttempts": 0}}),
        )
        .unwrap();
        assert_eq!(ok.every, Duration::from_secs(600));
        assert!(ok.enabled);
        for bad in [
            json!({}),
            json!({"ScheduleExpression": "rate(1 minutes)"}),
            json!({"ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}),
            json!({"ScheduleExpression": "rate(5 minutes)", "RetryPolicy": {"MaximumRetryAttempts": 186}}),
            json!({"ScheduleExpression": "rate(5 minutes)", "State": "PAUSED"}),
        ] {
            assert!(schedule("Every", &bad).is_err(), "{bad}");
        }
    }
}
