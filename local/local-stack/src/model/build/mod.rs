//! The stack assembled from its resources: each resource read by its kind
//! (a file per family of kinds), then the resources that name one another
//! (policies and their bucket or queue, aliases and their key, a pool's
//! parts, listeners and rules) linked once every one is read.

mod cognito;
mod data;
mod load_balancing;
mod network;
mod reading;

use std::collections::BTreeMap;

use serde_json::Value;

use self::cognito::PoolPart;
use self::reading::Reading;
pub(super) use self::reading::truthy;
use super::{Builder, LocalStack};
use crate::StackError;
use crate::elb::{Listener, ListenerRule};
use crate::intrinsics::scalar;

/// The stack as its resources are read, and the parts that wait for the
/// resource they name.
#[derive(Default)]
struct Assembly {
    stack: LocalStack,
    /// Bucket name → its policy.
    bucket_policies: BTreeMap<String, Value>,
    /// Queue URL (the queue's `Ref`) → its policy.
    queue_policies: BTreeMap<String, Value>,
    /// (alias, the key id or ARN it names).
    key_aliases: Vec<(String, String)>,
    /// (pool id, part).
    pool_parts: Vec<(String, PoolPart)>,
    listeners: Vec<Listener>,
    rules: Vec<ListenerRule>,
}

impl Builder<'_> {
    pub(super) fn build(&self) -> Result<LocalStack, StackError> {
        let resolver = self.resolver(&self.values)?;
        let mut assembly = Assembly {
            stack: LocalStack {
                name: self.settings.stack_name.clone(),
                region: self.settings.region.clone(),
                account_id: self.settings.account_id.clone(),
                partition: "aws".to_owned(),
                parameters: self
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar(v, k).unwrap_or_default()))
                    .collect(),
                ..LocalStack::default()
            },
            ..Assembly::default()
        };
        for (logical_id, resource) in self.resources {
            if self.exists(resource)? {
                let values = &self.values[logical_id];
                self.read(
                    &mut assembly,
                    &Reading::new(logical_id, resource, &resolver, values),
                )?;
            }
        }
        assembly.link()
    }

    /// Reads one resource into the stack, by its kind; kinds the local
    /// runtime has no part in are left out.
    fn read(&self, assembly: &mut Assembly, r: &Reading<'_>) -> Result<(), StackError> {
        let (id, resource, resolver) = (r.logical_id, r.resource, r.resolver);
        let in_resource = |error| r.error(error);
        let stack = &mut assembly.stack;
        match Self::resource_type(resource) {
            "AWS::Serverless::Function" => stack
                .functions
                .push(self.function(resolver, id, resource).map_err(in_resource)?),
            "AWS::Lambda::Function" => {
                return Err(StackError::Unsupported(format!(
                    "{id}: AWS::Lambda::Function (declare functions as AWS::Serverless::Function)"
                )));
            }
            "AWS::Lambda::Permission" => stack
                .lambda_permissions
                .push(load_balancing::permission(r)?),
            "AWS::Serverless::HttpApi" => stack
                .http_apis
                .push(self.http_api(resolver, id, resource).map_err(in_resource)?),
            "AWS::S3::Bucket" => stack
                .buckets
                .push(self.bucket(resolver, id, resource).map_err(in_resource)?),
            "AWS::S3::BucketPolicy" => {
                let bucket = r.text("Bucket")?.unwrap_or_default();
                let policy = r.resolve("PolicyDocument")?.unwrap_or(Value::Null);
                assembly.bucket_policies.insert(bucket, policy);
            }
            "AWS::SQS::Queue" => stack
                .queues
                .push(self.queue(resolver, id, resource).map_err(in_resource)?),
            "AWS::SQS::QueuePolicy" => {
                let policy = r.resolve("PolicyDocument")?.unwrap_or(Value::Null);
                for url in r.strings("Queues")? {
                    assembly.queue_policies.insert(url, policy.clone());
                }
            }
            "AWS::KMS::Key" => stack.keys.push(self.key(r)?),
            "AWS::KMS::Alias" => assembly.key_alias(r)?,
            "AWS::SecretsManager::Secret" => stack.secrets.push(self.secret(r)?),
            "AWS::RDS::DBCluster" => assembly.database_cluster(r)?,
            "AWS::Rekognition::Collection" => stack.collections.push(data::collection(r)),
            "AWS::CloudWatch::Alarm" => stack.alarms.push(data::alarm(r)?),
            "AWS::CloudWatch::Dashboard" => stack.dashboards.push(data::dashboard(r)?),
            "AWS::EC2::VPCEndpoint" => network::vpc_endpoint(stack, r)?,
            "AWS::EC2::SubnetRouteTableAssociation" => {
                network::route_table_association(stack, r)?;
            }
            "AWS::Cognito::UserPool" => stack.user_pools.push(cognito::user_pool(r)?),
            "AWS::Cognito::UserPoolClient" => assembly.pool_parts.push(cognito::client(r)?),
            "AWS::Cognito::UserPoolGroup" => assembly.pool_parts.push(cognito::group(r)?),
            "AWS::Cognito::UserPoolDomain" => assembly.pool_parts.push(cognito::domain(r)?),
            "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
                stack.load_balancers.push(load_balancing::load_balancer(r)?)
            }
            "AWS::ElasticLoadBalancingV2::Listener" => {
                assembly.listeners.push(load_balancing::listener(r)?);
            }
            "AWS::ElasticLoadBalancingV2::ListenerRule" => {
                assembly.rules.push(load_balancing::rule(r)?);
            }
            "AWS::ElasticLoadBalancingV2::TargetGroup" => {
                stack.target_groups.push(load_balancing::target_group(r)?)
            }
            kind if kind.starts_with("Custom::")
                || kind == "AWS::CloudFormation::CustomResource" =>
            {
                stack.custom_resources.push(
                    self.custom_resource(resolver, id, resource)
                        .map_err(in_resource)?,
                );
            }
            _ => {}
        }
        Ok(())
    }
}

impl Assembly {
    /// The stack, every part joined to the resource it names.
    fn link(self) -> Result<LocalStack, StackError> {
        let Assembly {
            mut stack,
            mut bucket_policies,
            mut queue_policies,
            key_aliases,
            pool_parts,
            listeners,
            rules,
        } = self;
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
            part.join(pool);
        }
        load_balancing::attach_listeners(&mut stack, listeners, rules)?;
        link_keys(&mut stack, key_aliases)?;
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

/// Aliases join their key; a secret's, queue's or bucket's key, which may
/// be named by id, ARN or alias, becomes the key's ARN.
fn link_keys(stack: &mut LocalStack, aliases: Vec<(String, String)>) -> Result<(), StackError> {
    for (alias, target) in aliases {
        if let Some(key) = stack
            .keys
            .iter_mut()
            .find(|k| k.id == target || k.arn == target)
        {
            key.aliases.push(alias);
        }
    }
    let keys = &stack.keys;
    let key_arn = |resource: &str, key: &mut Option<String>| -> Result<(), StackError> {
        let Some(reference) = key.as_deref() else {
            return Ok(());
        };
        let found = keys.iter().find(|k| {
            k.arn == reference
                || k.id == reference
                || k.aliases
                    .iter()
                    .any(|a| a == reference || reference.ends_with(&format!(":{a}")))
        });
        *key = Some(
            found
                .map(|k| k.arn.clone())
                .ok_or_else(|| StackError::Resource {
                    resource: resource.to_owned(),
                    reason: format!("its KMS key {reference} is not one of the stack's keys"),
                })?,
        );
        Ok(())
    };
    for secret in &mut stack.secrets {
        key_arn(&secret.logical_id, &mut secret.kms_key)?;
    }
    for queue in &mut stack.queues {
        key_arn(&queue.logical_id, &mut queue.kms_key)?;
    }
    for bucket in &mut stack.buckets {
        key_arn(&bucket.logical_id, &mut bucket.kms_key)?;
    }
    Ok(())
}
