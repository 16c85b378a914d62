//! The S3 store's buckets, notifications and CloudFormation's response
//! bucket; the on-failure queues of the functions S3 notifies.

use std::sync::Arc;
use std::time::Duration;

use local_iam::Access;
use local_s3_store::{
    BucketConfig, CorsRule, DeliveryPolicy, EventTarget, FailureDestination, KmsKey, Notification,
    NotificationTarget, RunningS3Store, S3StoreConfig,
};
use local_stack::LocalStack;

use crate::cloudformation::response_bucket;
use crate::lambda::LocalLambda;
use crate::recording::RecordingTarget;
use crate::sqs::DeadLetterQueue;
use crate::targets::{FunctionTarget, QueueDestination};
use crate::urls::LocalUrls;

use super::*;

/// The queues that are on-failure destinations of functions S3 notifies:
/// what the S3 store could not deliver to the function.
pub(super) fn dead_letter_queues(
    stack: &LocalStack,
    lambda: &LocalLambda,
    s3: &RunningS3Store,
) -> Result<Vec<DeadLetterQueue>, StartError> {
    let mut queues = Vec::new();
    for function in lambda.functions() {
        let Some(queue) = function
            .spec
            .asynchronous
            .on_failure
            .as_deref()
            .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn))
        else {
            continue;
        };
        let Some(letters) = s3.dead_letters(&function.spec.logical_id) else {
            continue;
        };
        queues.push(DeadLetterQueue::new(
            queue,
            queue
                .policy
                .as_ref()
                .map(|document| policy(&queue.logical_id, document))
                .transpose()?,
            queue
                .kms_key
                .as_deref()
                .map(|arn| key_of(stack, arn))
                .transpose()?,
            &function.spec.arn,
            letters.clone(),
        ));
    }
    Ok(queues)
}

pub(super) fn key_of(stack: &LocalStack, arn: &str) -> Result<KmsKey, StartError> {
    let key = stack.key(arn).ok_or_else(|| StartError::Resource {
        what: arn.to_owned(),
        reason: "is not one of the stack's keys".into(),
    })?;
    Ok(KmsKey {
        arn: key.arn.clone(),
        policy: policy(&key.logical_id, &key.policy)?,
    })
}

/// The S3 store's buckets: the stack's, with their notifications delivered
/// to the functions as Lambda's asynchronous invocation does, and
/// CloudFormation's response bucket. Also names the indexer's dead letters.
pub(super) fn store_config(
    options: &RuntimeOptions,
    stack: &LocalStack,
    access: &Access,
    lambda: &Arc<LocalLambda>,
    local_urls: &LocalUrls,
) -> Result<(S3StoreConfig, Option<String>), StartError> {
    let mut config = S3StoreConfig::new(
        options.state.s3(),
        options.state.s3_versions(),
        access.clone(),
    );
    config.region.clone_from(&stack.region);
    let mut notified = None;
    for bucket in &stack.buckets {
        let mut local = BucketConfig::new(&bucket.name);
        local.versioned = bucket.versioned;
        local.kms_key = bucket
            .kms_key
            .as_deref()
            .map(|arn| key_of(stack, arn))
            .transpose()?;
        local.policy = bucket
            .policy
            .as_ref()
            .map(|document| policy(&format!("{}Policy", bucket.logical_id), document))
            .transpose()?;
        local.cors = bucket
            .cors
            .iter()
            .map(|rule| CorsRule {
                allowed_methods: rule.allowed_methods.clone(),
                // An origin served here (the load balancer's) is the local one.
                allowed_origins: rule
                    .allowed_origins
                    .iter()
                    .map(|origin| local_urls.local(origin).unwrap_or_else(|| origin.clone()))
                    .collect(),
                allowed_headers: rule.allowed_headers.clone(),
                exposed_headers: rule.exposed_headers.clone(),
                max_age_seconds: rule.max_age_seconds,
            })
            .collect();
        for (index, notification) in bucket.notifications.iter().enumerate() {
            let function = lambda
                .function(&notification.function)
                .cloned()
                .ok_or_else(|| StartError::Resource {
                    what: bucket.logical_id.clone(),
                    reason: format!(
                        "notifies {}, which the local runtime does not run",
                        notification.function
                    ),
                })?;
            let asynchronous = &function.spec.asynchronous;
            let queue = asynchronous
                .on_failure
                .as_deref()
                .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn));
            let destination: Option<Arc<dyn FailureDestination>> = match queue {
                Some(queue) => Some(Arc::new(QueueDestination {
                    access: access.clone(),
                    sender: access
                        .keys
                        .named(&function.spec.logical_id)
                        .ok_or_else(|| StartError::Resource {
                            what: function.spec.logical_id.clone(),
                            reason: "has no key pair".into(),
                        })?,
                    queue_arn: queue.arn.clone(),
                    policy: queue
                        .policy
                        .as_ref()
                        .map(|document| policy(&queue.logical_id, document))
                        .transpose()?,
                    key: queue
                        .kms_key
                        .as_deref()
                        .map(|arn| key_of(stack, arn))
                        .transpose()?,
                    region: stack.region.clone(),
                })),
                None => None,
            };
            let queue = queue.map_or_else(
                || format!("{}-unhandled", function.spec.name),
                |q| q.name.clone(),
            );
            let target: Arc<dyn EventTarget> = Arc::new(FunctionTarget(Arc::clone(&function)));
            let target = match &options.record_events {
                Some(dir) => Arc::new(RecordingTarget {
                    inner: target,
                    dir: dir.clone(),
                }),
                None => target,
            };
            let retries =
                (asynchronous.maximum_retry_attempts as usize).min(options.retry_delays.len());
            local.notifications.push(Notification {
                id: format!("{}-{}-{index}", bucket.logical_id, notification.function),
                event: notification.event.clone(),
                prefix: notification.prefix.clone(),
                suffix: notification.suffix.clone(),
                target: NotificationTarget {
                    name: notification.function.clone(),
                    target,
                    delivery: DeliveryPolicy {
                        retry_delays: options.retry_delays[..retries].to_vec(),
                        max_event_age: asynchronous.maximum_event_age,
                        // The local Lambda service times the function out itself.
                        attempt_timeout: function.spec.timeout + Duration::from_secs(5),
                        ..DeliveryPolicy::default()
                    },
                    dead_letter_dir: options.state.queue(&queue),
                    destination,
                },
            });
            notified = Some(notification.function.clone());
        }
        config.buckets.push(local);
    }
    config
        .buckets
        .push(BucketConfig::new(response_bucket(&stack.region)));
    for endpoint in &stack.gateway_endpoints {
        config.endpoints.insert(
            endpoint.id.clone(),
            Some(policy(&endpoint.logical_id, &endpoint.policy)?),
        );
    }
    Ok((config, notified))
}

/// The queue a bucket's notified function sends failed events to.
pub fn indexer_queue(stack: &LocalStack) -> Option<String> {
    stack
        .buckets
        .iter()
        .flat_map(|b| &b.notifications)
        .filter_map(|n| stack.function(&n.function))
        .find_map(|f| f.asynchronous.on_failure.as_deref())
        .and_then(|arn| stack.queues.iter().find(|q| q.arn == arn))
        .map(|q| q.name.clone())
}
