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
        let mut values = BTreeMap::new();
        for (logical_id, resource) in self.resources {
            if !self.exists(resource)? {
                continue;
            }
            let at = Naming {
                region: &self.settings.region,
                account: &self.settings.account_id,
                stack: &self.settings.stack_name,
                logical_id,
            };
            let kind = Self::resource_type(resource);
            let value = match kind {
                "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                    let (function, versions) = self.function_values(&at, resource)?;
                    values.extend(versions);
                    function
                }
                "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                    let id = at.suffix(10);
                    named(
                        &id,
                        [
                            ("ApiEndpoint", self.settings.api_endpoint.clone()),
                            ("ApiId", id.clone()),
                        ],
                    )
                }
                "AWS::Cognito::UserPool"
                | "AWS::Cognito::UserPoolDomain"
                | "AWS::Cognito::UserPoolClient" => self.cognito_values(&at, kind, resource)?,
                kind if kind.starts_with("AWS::ElasticLoadBalancingV2::") => {
                    load_balancing_values(&at, kind, resource)
                }
                kind if kind.starts_with("AWS::EC2::") => network_values(&at, kind),
                kind if kind.starts_with("Custom::")
                    || kind == "AWS::CloudFormation::CustomResource" =>
                {
                    ResourceValues {
                        deferred: true,
                        ..at.generated()
                    }
                }
                kind => self.data_values(&at, kind, resource)?,
            };
            values.insert(logical_id.clone(), value);
        }
        Ok(values)
    }

    /// Buckets, keys, collections, secrets, clusters, queues, logs, topics,
    /// and any other resource (whose `Ref` is a generated name).
    fn data_values(
        &self,
        at: &Naming<'_>,
        kind: &str,
        resource: &Value,
    ) -> Result<ResourceValues, StackError> {
        let Naming {
            region,
            account,
            stack,
            logical_id,
        } = *at;
        let name =
            |property: &str, max: usize| self.physical_name(logical_id, resource, property, max);
        Ok(match kind {
            "AWS::S3::Bucket" => {
                let name = name("BucketName", 63)?.to_lowercase();
                named(
                    &name,
                    [
                        ("Arn", format!("arn:aws:s3:::{name}")),
                        ("DomainName", format!("{name}.s3.amazonaws.com")),
                    ],
                )
            }
            "AWS::KMS::Key" => {
                let key = uuid_like(stack, logical_id);
                named(
                    &key,
                    [
                        ("Arn", format!("arn:aws:kms:{region}:{account}:key/{key}")),
                        ("KeyId", key.clone()),
                    ],
                )
            }
            "AWS::KMS::Alias" => named(&name("AliasName", 256)?, []),
            "AWS::Rekognition::Collection" => {
                let name = name("CollectionId", 255)?;
                named(
                    &name,
                    [(
                        "Arn",
                        format!("arn:aws:rekognition:{region}:{account}:collection/{name}"),
                    )],
                )
            }
            "AWS::SecretsManager::Secret" => {
                let name = name("Name", 512)?;
                let arn = format!(
                    "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{}",
                    at.suffix(6)
                );
                named(&arn, [("Id", arn.clone())])
            }
            "AWS::RDS::DBCluster" => {
                let identifier = name("DBClusterIdentifier", 63)?.to_lowercase();
                let host = &self.settings.database_host;
                named(
                    &identifier,
                    [
                        ("Endpoint.Address", host.clone()),
                        ("Endpoint.Port", self.settings.database_port.to_string()),
                        ("ReadEndpoint.Address", host.clone()),
                        (
                            "DBClusterArn",
                            format!("arn:aws:rds:{region}:{account}:cluster:{identifier}"),
                        ),
                        (
                            "DBClusterResourceId",
                            format!("cluster-{}", at.suffix(26).to_uppercase()),
                        ),
                        (
                            "MasterUserSecret.SecretArn",
                            format!(
                                "arn:aws:secretsmanager:{region}:{account}:secret:rds!cluster-{}-{}",
                                uuid_like(stack, logical_id),
                                suffix(stack, &format!("{logical_id}/secret"), 6)
                            ),
                        ),
                    ],
                )
            }
            "AWS::SQS::Queue" => {
                let name = name("QueueName", 80)?;
                let url = format!("https://sqs.{region}.amazonaws.com/{account}/{name}");
                named(
                    &url,
                    [
                        ("Arn", format!("arn:aws:sqs:{region}:{account}:{name}")),
                        ("QueueName", name),
                        ("QueueUrl", url.clone()),
                    ],
                )
            }
            "AWS::Logs::LogGroup" => {
                let name = name("LogGroupName", 512)?;
                named(
                    &name,
                    [(
                        "Arn",
                        format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
                    )],
                )
            }
            "AWS::CloudWatch::Alarm" => {
                let name = name("AlarmName", 255)?;
                named(
                    &name,
                    [(
                        "Arn",
                        format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
                    )],
                )
            }
            "AWS::CloudWatch::Dashboard" => named(&name("DashboardName", 255)?, []),
            "AWS::SNS::Topic" => {
                let name = name("TopicName", 256)?;
                named(
                    &format!("arn:aws:sns:{region}:{account}:{name}"),
                    [("TopicName", name)],
                )
            }
            _ => at.generated(),
        })
    }

    /// A function's name and ARN; with an `AutoPublishAlias`, also SAM's
    /// `Function.Version` and `Function.Alias`.
    fn function_values(
        &self,
        at: &Naming<'_>,
        resource: &Value,
    ) -> Result<(ResourceValues, Vec<(String, ResourceValues)>), StackError> {
        let Naming {
            region,
            account,
            logical_id,
            ..
        } = *at;
        let name = self.physical_name(logical_id, resource, "FunctionName", 64)?;
        let arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
        let mut versions = Vec::new();
        if let Some(alias) = self.auto_publish_alias(resource)? {
            // The version is published at deploy time, from the code (see
            // `deferred_attribute`).
            versions.push((
                format!("{logical_id}.Version"),
                ResourceValues {
                    reference: Some(json!(deferred_attribute(logical_id, "Version"))),
                    ..ResourceValues::default()
                },
            ));
            versions.push((
                format!("{logical_id}.Alias"),
                named(&format!("{arn}:{alias}"), []),
            ));
        }
        Ok((named(&name, [("Arn", arn)]), versions))
    }

    fn cognito_values(
        &self,
        at: &Naming<'_>,
        kind: &str,
        resource: &Value,
    ) -> Result<ResourceValues, StackError> {
        let Naming {
            region,
            account,
            logical_id,
            ..
        } = *at;
        Ok(match kind {
            "AWS::Cognito::UserPool" => {
                let pool = format!("{region}_{}", at.suffix(9));
                named(
                    &pool,
                    [
                        (
                            "Arn",
                            format!("arn:aws:cognito-idp:{region}:{account}:userpool/{pool}"),
                        ),
                        (
                            "ProviderName",
                            format!("cognito-idp.{region}.amazonaws.com/{pool}"),
                        ),
                        (
                            "ProviderURL",
                            format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
                        ),
                    ],
                )
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
                named(&prefix, [])
            }
            _ => named(&at.suffix(26), []),
        })
    }
}

/// What a resource's generated names and ARNs are made of.
#[derive(Clone, Copy)]
struct Naming<'a> {
    region: &'a str,
    account: &'a str,
    stack: &'a str,
    logical_id: &'a str,
}

impl Naming<'_> {
    /// A suffix of `length` characters, stable for the stack and resource.
    fn suffix(&self, length: usize) -> String {
        suffix(self.stack, self.logical_id, length)
    }

    /// A resource the runtime has no part in: its `Ref` is a name made of
    /// its logical id.
    fn generated(&self) -> ResourceValues {
        named(&format!("{}-{}", self.logical_id, self.suffix(12)), [])
    }
}

/// A resource whose `Ref` is `reference`, with string attributes.
fn named<const N: usize>(reference: &str, attributes: [(&str, String); N]) -> ResourceValues {
    ResourceValues {
        reference: Some(json!(reference)),
        attributes: attributes
            .into_iter()
            .map(|(name, value)| (name.to_owned(), json!(value)))
            .collect(),
        deferred: false,
    }
}

fn load_balancing_values(at: &Naming<'_>, kind: &str, resource: &Value) -> ResourceValues {
    let Naming {
        region,
        account,
        stack,
        logical_id,
    } = *at;
    let elb = format!("arn:aws:elasticloadbalancing:{region}:{account}");
    let hex = hex_id(stack, logical_id);
    match kind {
        "AWS::ElasticLoadBalancingV2::LoadBalancer" => {
            let name = elb_name(stack, logical_id, resource);
            let arn = format!("{elb}:loadbalancer/app/{name}/{hex}");
            let digits: String = hex.chars().filter(char::is_ascii_digit).collect();
            named(
                &arn,
                [
                    (
                        "DNSName",
                        format!("{name}-{digits}.{region}.elb.amazonaws.com"),
                    ),
                    ("LoadBalancerFullName", format!("app/{name}/{hex}")),
                    ("LoadBalancerName", name),
                    ("LoadBalancerArn", arn.clone()),
                ],
            )
        }
        "AWS::ElasticLoadBalancingV2::TargetGroup" => {
            let name = elb_name(stack, logical_id, resource);
            let arn = format!("{elb}:targetgroup/{name}/{hex}");
            named(
                &arn,
                [
                    ("TargetGroupFullName", format!("targetgroup/{name}/{hex}")),
                    ("TargetGroupName", name),
                    ("TargetGroupArn", arn.clone()),
                ],
            )
        }
        // A listener's and a rule's ARNs name their load balancer; here
        // they carry ids of their own, which nothing parses.
        "AWS::ElasticLoadBalancingV2::Listener" => {
            let arn = format!("{elb}:listener/app/{}/{hex}", at.suffix(12));
            named(&arn, [("ListenerArn", arn.clone())])
        }
        "AWS::ElasticLoadBalancingV2::ListenerRule" => {
            let arn = format!("{elb}:listener-rule/app/{}/{hex}", at.suffix(12));
            named(
                &arn,
                [("RuleArn", arn.clone()), ("IsDefault", "false".to_owned())],
            )
        }
        _ => at.generated(),
    }
}

/// EC2's ids: the kind's prefix and 17 characters.
fn network_values(at: &Naming<'_>, kind: &str) -> ResourceValues {
    let id = |prefix: &str| format!("{prefix}-{}", at.suffix(17));
    match kind {
        "AWS::EC2::VPC" => named(&id("vpc"), []),
        "AWS::EC2::Subnet" => named(&id("subnet"), []),
        "AWS::EC2::RouteTable" => named(&id("rtb"), []),
        "AWS::EC2::InternetGateway" => named(&id("igw"), []),
        "AWS::EC2::VPCEndpoint" => named(&id("vpce"), []),
        "AWS::EC2::SecurityGroup" => named(&id("sg"), [("GroupId", id("sg"))]),
        _ => at.generated(),
    }
}
