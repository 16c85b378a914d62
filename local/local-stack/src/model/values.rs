//! What `Ref` and `Fn::GetAtt` give for each resource here: physical names
//! and ARNs in the local account, as CloudFormation and SAM make them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::{ResourceValues, deferred_attribute};

impl<'t> Builder<'t> {
    /// A name property resolved with what is known before any resource
    /// value (parameters and pseudo parameters), or a generated name.
    pub(super) fn physical_name(
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
    pub(super) fn resource_values(&self) -> Result<BTreeMap<String, ResourceValues>, StackError> {
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
}
