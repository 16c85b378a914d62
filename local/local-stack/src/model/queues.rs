//! SQS queues and what links them: a queue's attributes and redrive
//! policy, a bucket's notifications to a queue, and a function's `SQS`
//! events (event source mappings), each checked as the service that
//! creates it checks it.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::StackError;
use crate::intrinsics::{Resolver, scalar};

/// What SAM attaches to the role of a function with an `SQS` event: the
/// managed policy `AWSLambdaSQSQueueExecutionRole` (its document, as IAM
/// publishes it).
pub(super) const SQS_EXECUTION_POLICY: &str = "AWSLambdaSQSQueueExecutionRole";

pub(super) fn sqs_execution_policy() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*"}]})
}

impl Builder<'_> {
    /// An SQS queue, its attributes checked as `CreateQueue` checks them
    /// (SQS API reference, `SetQueueAttributes`).
    pub(super) fn queue(
        &self,
        resolver: &Resolver<'_>,
        logical_id: &str,
        resource: &Value,
    ) -> Result<Queue, StackError> {
        let properties = Self::properties(resource);
        let get = |name: &str| Self::resolved(resolver, properties, name);
        let seconds = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            let Some(value) = get(name)? else {
                return Ok(Duration::from_secs(default));
            };
            scalar(&value, name)?
                .parse()
                .ok()
                .filter(|s| range.contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    StackError::Invalid(format!(
                        "{name} must be from {} to {} seconds",
                        range.start(),
                        range.end()
                    ))
                })
        };
        let redrive = get("RedrivePolicy")?
            .map(|policy| {
                let dead_letter_arn = policy
                    .get("deadLetterTargetArn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        StackError::Invalid("RedrivePolicy needs a deadLetterTargetArn".into())
                    })?
                    .to_owned();
                let max_receive_count = policy
                    .get("maxReceiveCount")
                    .and_then(|v| scalar(v, "maxReceiveCount").ok()?.parse().ok())
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        StackError::Invalid("maxReceiveCount must be from 1 to 1,000".into())
                    })?;
                Ok::<_, StackError>(Redrive {
                    dead_letter_arn,
                    max_receive_count,
                })
            })
            .transpose()?;
        let values = &self.values[logical_id];
        let attribute = |name: &str| {
            values.attributes[name]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Queue {
            logical_id: logical_id.to_owned(),
            name: attribute("QueueName"),
            arn: attribute("Arn"),
            url: values
                .reference
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            kms_key: get("KmsMasterKeyId")?.and_then(|v| v.as_str().map(str::to_owned)),
            policy: None,
            visibility_timeout: seconds("VisibilityTimeout", 30, 0..=43_200)?,
            retention: seconds("MessageRetentionPeriod", 345_600, 60..=1_209_600)?,
            redrive,
        })
    }
}

/// An `SQS` event's properties, checked as `CreateEventSourceMapping`
/// checks them (Lambda API reference): `BatchSize` 1 to 10 without a
/// batching window, `MaximumConcurrency` 2 to 1,000, and only
/// `ReportBatchItemFailures` as a response type.
pub(super) fn queue_source(event_id: &str, props: &Value) -> Result<QueueSource, StackError> {
    let invalid = |reason: String| StackError::Invalid(format!("{event_id}: {reason}"));
    let number = |value: Option<&Value>, name: &str| -> Result<Option<u32>, StackError> {
        value
            .map(|v| {
                scalar(v, name)?
                    .parse()
                    .map_err(|_| invalid(format!("{name} must be a whole number")))
            })
            .transpose()
    };
    let queue_arn = props
        .get("Queue")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Queue must be a queue's ARN".into()))?
        .to_owned();
    if props.get("MaximumBatchingWindowInSeconds").is_some() {
        return Err(StackError::Unsupported(format!(
            "{event_id}: MaximumBatchingWindowInSeconds"
        )));
    }
    let batch_size = number(props.get("BatchSize"), "BatchSize")?.unwrap_or(10);
    if !(1..=10).contains(&batch_size) {
        return Err(invalid(
            "BatchSize must be from 1 to 10 without a batching window".into(),
        ));
    }
    let maximum_concurrency = number(
        props.pointer("/ScalingConfig/MaximumConcurrency"),
        "MaximumConcurrency",
    )?;
    if maximum_concurrency.is_some_and(|n| !(2..=1000).contains(&n)) {
        return Err(invalid("MaximumConcurrency must be from 2 to 1,000".into()));
    }
    let mut reports_item_failures = false;
    for kind in props
        .get("FunctionResponseTypes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match kind.as_str() {
            Some("ReportBatchItemFailures") => reports_item_failures = true,
            _ => {
                return Err(invalid(format!(
                    "FunctionResponseTypes: {kind} is not known"
                )));
            }
        }
    }
    Ok(QueueSource {
        event_id: event_id.to_owned(),
        queue_arn,
        batch_size,
        maximum_concurrency,
        reports_item_failures,
        enabled: props.get("Enabled").is_none_or(super::build::truthy),
    })
}

/// Links queues to what names them by ARN, and refuses what the services
/// would: a redrive to a queue that is not there, a notification to a
/// queue of another stack, a function whose `Timeout` exceeds its
/// queue's `VisibilityTimeout` (Lambda refuses the event source mapping).
pub(super) fn link_queues(stack: &mut LocalStack) -> Result<(), StackError> {
    let queues = &stack.queues;
    let logical_id_of = |arn: &str| {
        queues
            .iter()
            .find(|q| q.arn == arn)
            .map(|q| q.logical_id.clone())
    };
    for queue in queues {
        if let Some(redrive) = &queue.redrive
            && logical_id_of(&redrive.dead_letter_arn).is_none()
        {
            return Err(StackError::Resource {
                resource: queue.logical_id.clone(),
                reason: format!(
                    "its dead-letter queue {} is not one of the stack's queues",
                    redrive.dead_letter_arn
                ),
            });
        }
    }
    for bucket in &mut stack.buckets {
        for notification in &mut bucket.notifications {
            // The notification names the queue by ARN.
            notification.queue =
                logical_id_of(&notification.queue).ok_or_else(|| StackError::Resource {
                    resource: bucket.logical_id.clone(),
                    reason: format!(
                        "notifies {}, which is not one of the stack's queues",
                        notification.queue
                    ),
                })?;
        }
    }
    for function in &stack.functions {
        for source in &function.queue_sources {
            let queue = queues
                .iter()
                .find(|q| q.arn == source.queue_arn)
                .ok_or_else(|| StackError::Resource {
                    resource: function.logical_id.clone(),
                    reason: format!(
                        "{} reads {}, which is not one of the stack's queues",
                        source.event_id, source.queue_arn
                    ),
                })?;
            if function.timeout > queue.visibility_timeout {
                return Err(StackError::Resource {
                    resource: function.logical_id.clone(),
                    reason: format!(
                        "InvalidParameterValueException: Queue visibility timeout: {} seconds is less than Function timeout: {} seconds",
                        queue.visibility_timeout.as_secs(),
                        function.timeout.as_secs()
                    ),
                });
            }
        }
    }
    Ok(())
}
