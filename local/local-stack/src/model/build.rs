//! The stack assembled from its resources, each read by kind.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::{Resolver, scalar};

impl<'t> Builder<'t> {
    pub(super) fn build(&self) -> Result<LocalStack, StackError> {
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
                "AWS::SQS::Queue" => stack.queues.push(
                    self.queue(&resolver, logical_id, resource)
                        .map_err(in_resource)?,
                ),
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
        for bucket in &mut stack.buckets {
            resolve_key(&bucket.logical_id, &mut bucket.kms_key)?;
        }
        super::queues::link_queues(&mut stack)?;
        for custom in &mut stack.custom_resources {
            custom.function = stack
                .functions
                .iter()
                .find(|f| f.is_named_by(&custom.service_token))
                .map(|f| f.logical_id.clone());
        }
        Ok(stack)
    }
}

pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The key policy AWS gives a key created without one: the account
/// administers it through IAM.
pub(super) fn default_key_policy(account: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"}]})
}

pub(super) fn secret_value(
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
