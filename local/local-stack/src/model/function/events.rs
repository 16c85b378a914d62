//! A function's `Events`: HTTP API routes (with the authorizer each gets),
//! schedules, and SQS event source mappings.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::StackError;
use crate::intrinsics::Resolver;
use crate::model::{Builder, QueueSource, Route, Schedule};

/// What a function's events make of it.
#[derive(Default)]
pub(super) struct Events {
    pub routes: Vec<Route>,
    pub schedules: Vec<Schedule>,
    pub queue_sources: Vec<QueueSource>,
}

impl Builder<'_> {
    pub(super) fn events(
        &self,
        resolver: &Resolver<'_>,
        properties: &Map<String, Value>,
    ) -> Result<Events, StackError> {
        let mut events = Events::default();
        let Some(declared) = properties.get("Events").and_then(Value::as_object) else {
            return Ok(events);
        };
        for (event_id, event) in declared {
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
                "HttpApi" => events.routes.push(self.route(event_id, event, &props)?),
                "ScheduleV2" => events.schedules.push(schedule(event_id, &props)?),
                "SQS" => events
                    .queue_sources
                    .push(crate::model::queues::queue_source(event_id, &props)?),
                _ => {
                    return Err(StackError::Unsupported(format!(
                        "the {kind} event {event_id}"
                    )));
                }
            }
        }
        Ok(events)
    }

    /// An `HttpApi` event: its API (the implicit one unless `ApiId` names
    /// another), method, path, and authorizer (its own, `NONE`, or the
    /// API's default).
    fn route(&self, event_id: &str, event: &Value, props: &Value) -> Result<Route, StackError> {
        let api = match event.pointer("/Properties/ApiId") {
            Some(Value::Object(reference)) => reference
                .get("Ref")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| StackError::Invalid(format!("{event_id}: ApiId must be a Ref")))?,
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
            Some("NONE") => None,
            Some(name) => Some(name.to_owned()),
            None => self
                .resources
                .get(&api)
                .and_then(|a| a.pointer("/Properties/Auth/DefaultAuthorizer"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        Ok(Route {
            api,
            method,
            path,
            authorizer,
        })
    }
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
pub(in crate::model) fn rate(expression: &str) -> Option<Duration> {
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
