//! The HTTP API, buckets and custom resources of the stack.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::{Resolver, scalar};

impl<'t> Builder<'t> {
    pub(super) fn http_api(
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

    pub(super) fn bucket(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<Bucket, StackError> {
        let properties = Self::properties(resource);
        let get = |name: &str| Self::resolved(resolver, properties, name);
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
                if kind != "QueueConfigurations" {
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
                    notifications.push(QueueNotification {
                        filter: EventFilter {
                            event: entry
                                .get("Event")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            prefix,
                            suffix,
                        },
                        queue: entry
                            .get("Queue")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
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

    pub(super) fn custom_resource(
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
