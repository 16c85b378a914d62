//! A SAM function as Lambda runs it: Globals merged, its environment,
//! policies, routes, schedules and asynchronous invocation settings (its
//! events are read in `events`).

mod events;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::{Resolver, scalar};

impl<'t> Builder<'t> {
    pub(super) fn globals(&self, kind: &str) -> &'t Map<String, Value> {
        self.template
            .get("Globals")
            .and_then(|g| g.get(kind))
            .and_then(Value::as_object)
            .unwrap_or(&EMPTY_MAP)
    }

    /// A function's `AutoPublishAlias` (its own or the Globals'): SAM
    /// wants a name, or a `Ref` to a parameter it can resolve.
    pub(super) fn auto_publish_alias(
        &self,
        resource: &Value,
    ) -> Result<Option<String>, StackError> {
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

    pub(in crate::model) fn function(
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
        let get = |name: &str| Self::resolved(resolver, properties, name);
        let values = &self.values[logical_id];
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                StackError::Invalid(
                    "Metadata.BuildProperties.Binary names no workspace binary".into(),
                )
            })?
            .to_owned();
        if get("Role")?.is_some() {
            return Err(StackError::Unsupported(format!(
                "{logical_id}: a Role of its own (the local runtime evaluates the role SAM makes of Policies)"
            )));
        }
        let mut policies = inline_policies(logical_id, get("Policies")?)?;
        let events = self.events(resolver, properties)?;
        if !events.queue_sources.is_empty() {
            policies.push((
                super::queues::SQS_EXECUTION_POLICY.to_owned(),
                super::queues::sqs_execution_policy(),
            ));
        }
        let (asynchronous, destination_policy) =
            asynchronous(logical_id, get("EventInvokeConfig")?)?;
        policies.extend(destination_policy);
        let role_name = self.role_name(logical_id);
        Ok(Function {
            logical_id: logical_id.to_owned(),
            arn: text(values.attributes.get("Arn")),
            name: text(values.reference.as_ref()),
            binary,
            role_arn: format!("arn:aws:iam::{}:role/{role_name}", self.settings.account_id),
            role_name,
            timeout: Duration::from_secs(bounded(get("Timeout")?, "Timeout", 3, 1..=900)?),
            memory_mb: u32::try_from(bounded(get("MemorySize")?, "MemorySize", 128, 128..=10240)?)
                .unwrap_or(128),
            environment: environment(get("Environment")?)?,
            policies,
            routes: events.routes,
            asynchronous,
            alias: self.auto_publish_alias(resource)?,
            subnets: get("VpcConfig")?
                .and_then(|v| v.get("SubnetIds").and_then(Value::as_array).cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            reserved_concurrency: get("ReservedConcurrentExecutions")?
                .map(|v| {
                    scalar(&v, "ReservedConcurrentExecutions")?
                        .parse()
                        .map_err(|_| {
                            StackError::Invalid(
                                "ReservedConcurrentExecutions must be a number".into(),
                            )
                        })
                })
                .transpose()?,
            schedules: events.schedules,
            queue_sources: events.queue_sources,
            logging: logging(get("LoggingConfig")?, &text(values.reference.as_ref()))?,
        })
    }

    /// The name SAM gives the function's role: the stack's name, the
    /// role's logical id and a suffix, at most 64 characters (IAM).
    fn role_name(&self, logical_id: &str) -> String {
        let stack = &self.settings.stack_name;
        let mut role = format!(
            "{stack}-{logical_id}Role-{}",
            suffix(stack, &format!("{logical_id}Role"), 12).to_uppercase()
        );
        role.truncate(64);
        role
    }
}

fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A whole-number property within `range`, or `default` when it is unset.
fn bounded(
    value: Option<Value>,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, StackError> {
    let value = match value {
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
}

/// `Environment.Variables`, checked as Lambda checks them: no reserved
/// variable, at most 4 KB in all.
fn environment(environment: Option<Value>) -> Result<BTreeMap<String, String>, StackError> {
    let mut variables = BTreeMap::new();
    if let Some(declared) = environment.and_then(|e| e.get("Variables").cloned()) {
        for (key, value) in object(&declared, "Environment.Variables")? {
            if RESERVED_VARIABLES.contains(&key.as_str()) {
                return Err(StackError::Invalid(format!(
                    "Lambda reserves the environment variable {key}; a function may not set it"
                )));
            }
            variables.insert(key.clone(), scalar(value, key)?);
        }
    }
    let size: usize = variables.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_ENVIRONMENT_BYTES {
        return Err(StackError::Invalid(format!(
            "its environment variables take {size} bytes; Lambda allows {MAX_ENVIRONMENT_BYTES}"
        )));
    }
    Ok(variables)
}

/// `LoggingConfig`, with the values Lambda accepts (its API reference's
/// LoggingConfig). Log-level filtering needs the JSON format ("To use
/// log-level filtering, your function must be configured to use the JSON
/// log format", Lambda's developer guide); with JSON, the application log
/// level is INFO unless set, as `sam local invoke` gives it too
/// (samcli/local/lambdafn/env_vars.py).
fn logging(config: Option<Value>, function_name: &str) -> Result<Logging, StackError> {
    let config = config.unwrap_or(Value::Null);
    let field = |name: &str| -> Result<Option<String>, StackError> {
        config
            .get(name)
            .map(|value| scalar(value, &format!("LoggingConfig.{name}")))
            .transpose()
    };
    let format = field("LogFormat")?.unwrap_or_else(|| "Text".to_owned());
    if !["JSON", "Text"].contains(&format.as_str()) {
        return Err(StackError::Invalid(format!(
            "LoggingConfig.LogFormat {format:?} is not JSON or Text"
        )));
    }
    let application_level = field("ApplicationLogLevel")?;
    if let Some(level) = &application_level {
        if !["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].contains(&level.as_str()) {
            return Err(StackError::Invalid(format!(
                "LoggingConfig.ApplicationLogLevel {level:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
            )));
        }
        if format != "JSON" {
            return Err(StackError::Invalid(
                "LoggingConfig.ApplicationLogLevel needs LogFormat JSON".into(),
            ));
        }
    }
    let application_level = match (application_level, format.as_str()) {
        (None, "JSON") => Some("INFO".to_owned()),
        (level, _) => level,
    };
    Ok(Logging {
        format,
        application_level,
        log_group: field("LogGroup")?.unwrap_or_else(|| format!("/aws/lambda/{function_name}")),
    })
}

/// `Policies`, named as SAM names the role's inline policies; only policy
/// documents (not SAM's policy templates or managed policies' names).
fn inline_policies(
    logical_id: &str,
    declared: Option<Value>,
) -> Result<Vec<(String, Value)>, StackError> {
    let mut policies = Vec::new();
    for policy in declared
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default()
    {
        if policy.get("Statement").is_none() {
            return Err(StackError::Unsupported(format!(
                "the policy {policy} (only inline policy documents are evaluated locally)"
            )));
        }
        policies.push((format!("{logical_id}RolePolicy{}", policies.len()), policy));
    }
    Ok(policies)
}

/// `EventInvokeConfig`: retries and event age as Lambda bounds them, and the
/// on-failure destination with the policy SAM gives the role to send there.
fn asynchronous(
    logical_id: &str,
    config: Option<Value>,
) -> Result<(AsyncInvokeConfig, Option<(String, Value)>), StackError> {
    let mut asynchronous = AsyncInvokeConfig::default();
    let Some(config) = config else {
        return Ok((asynchronous, None));
    };
    if let Some(retries) = config.get("MaximumRetryAttempts") {
        asynchronous.maximum_retry_attempts = scalar(retries, "MaximumRetryAttempts")?
            .parse()
            .ok()
            .filter(|r| *r <= 2)
            .ok_or_else(|| StackError::Invalid("MaximumRetryAttempts must be 0, 1 or 2".into()))?;
    }
    if let Some(age) = config.get("MaximumEventAgeInSeconds") {
        let seconds: u64 = scalar(age, "MaximumEventAgeInSeconds")?
            .parse()
            .ok()
            .filter(|s| (60..=21600).contains(s))
            .ok_or_else(|| {
                StackError::Invalid("MaximumEventAgeInSeconds must be from 60 to 21600".into())
            })?;
        asynchronous.maximum_event_age = Duration::from_secs(seconds);
    }
    asynchronous.on_failure = config
        .pointer("/DestinationConfig/OnFailure/Destination")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let policy = match config
        .pointer("/DestinationConfig/OnFailure/Type")
        .and_then(Value::as_str)
    {
        // SAM lets the role send to the queue.
        Some("SQS") => Some((
            format!("{logical_id}EventInvokeConfigOnFailureSQSPolicy"),
            json!({"Statement": [{"Action": "sqs:SendMessage", "Effect": "Allow",
                                  "Resource": asynchronous.on_failure}]}),
        )),
        None => None,
        Some(other) => {
            return Err(StackError::Unsupported(format!(
                "an on-failure destination of type {other}"
            )));
        }
    };
    Ok((asynchronous, policy))
}

pub(super) fn merge_globals(base: &mut Value, local: &Value) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn logging_is_what_lambda_tells_the_runtime() {
        let json = logging(Some(json!({"LogFormat": "JSON", "LogGroup": "/x"})), "f").unwrap();
        assert_eq!(
            json.application_level.as_deref(),
            Some("INFO"),
            "INFO unless set"
        );
        assert_eq!(json.log_group, "/x");
        let text = logging(None, "f").unwrap();
        assert_eq!(
            (text.format.as_str(), text.application_level),
            ("Text", None)
        );
        assert_eq!(text.log_group, "/aws/lambda/f");
        let debug = logging(
            Some(json!({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})),
            "f",
        );
        assert_eq!(debug.unwrap().application_level.as_deref(), Some("DEBUG"));
        for refused in [
            json!({"LogFormat": "json"}),
            json!({"LogFormat": "JSON", "ApplicationLogLevel": "debug"}),
            json!({"ApplicationLogLevel": "DEBUG"}),
        ] {
            assert!(logging(Some(refused.clone()), "f").is_err(), "{refused}");
        }
    }
}
