//! A SAM function as Lambda runs it: Globals merged, its environment,
//! policies, routes, schedules and asynchronous invocation settings.

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

    pub(super) fn function(
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
        let mut queue_sources = Vec::new();
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
                    "SQS" => {
                        queue_sources.push(super::queues::queue_source(event_id, &props)?);
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

        if !queue_sources.is_empty() {
            policies.push((
                super::queues::SQS_EXECUTION_POLICY.to_owned(),
                super::queues::sqs_execution_policy(),
            ));
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
            queue_sources,
        })
    }
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

/// A `ScheduleV2` event's properties, checked as EventBridge Scheduler
/// checks a schedule (Scheduler API reference, `CreateSchedule`).
pub(super) fn schedule(event_id: &str, props: &Value) -> Result<Schedule, StackError> {
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
pub(super) fn rate(expression: &str) -> Option<Duration> {
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
