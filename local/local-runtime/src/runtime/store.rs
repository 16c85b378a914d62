//! The stack's queues, the S3 store's buckets with their notifications
//! sent to those queues, and CloudFormation's response bucket.

use std::collections::BTreeMap;
use std::sync::Arc;

use local_iam::Access;
use local_s3_store::{
    BucketConfig, CorsRule, DeliveryPolicy, EventTarget, KmsKey, Notification, NotificationTarget,
    S3StoreConfig,
};
use local_stack::LocalStack;

use crate::cloudformation::response_bucket;
use crate::recording::RecordingTarget;
use crate::sqs::dead_letters::DeadLetters;
use crate::sqs::{Queue, QueueSpec};
use crate::targets::{QueueTarget, S3_SERVICE};
use crate::urls::LocalUrls;

use super::*;

/// The stack's queues by logical id, their messages kept in the state
/// folder; a dead-letter queue is opened before the queues that name it.
pub(super) fn open_queues(
    options: &RuntimeOptions,
    stack: &LocalStack,
) -> Result<BTreeMap<String, Arc<Queue>>, StartError> {
    let mut opened: BTreeMap<String, Arc<Queue>> = BTreeMap::new();
    // Each pass opens the queues whose dead-letter queue is open.
    while opened.len() < stack.queues.len() {
        let before = opened.len();
        for spec in &stack.queues {
            if opened.contains_key(&spec.logical_id) {
                continue;
            }
            let redrive = match &spec.redrive {
                None => None,
                Some(redrive) => match opened
                    .values()
                    .find(|q| q.spec.arn == redrive.dead_letter_arn)
                {
                    Some(dead_letters) => {
                        Some((Arc::clone(dead_letters), redrive.max_receive_count))
                    }
                    None => continue,
                },
            };
            let queue = Queue::open(
                QueueSpec {
                    name: spec.name.clone(),
                    arn: spec.arn.clone(),
                    url: spec.url.clone(),
                    policy: spec
                        .policy
                        .as_ref()
                        .map(|document| policy(&spec.logical_id, document))
                        .transpose()?,
                    key: spec
                        .kms_key
                        .as_deref()
                        .map(|arn| key_of(stack, arn))
                        .transpose()?,
                    visibility_timeout: spec.visibility_timeout,
                    retention: spec.retention,
                },
                redrive,
                &options.state.queue(&spec.name),
            )
            .map_err(|error| StartError::Resource {
                what: spec.logical_id.clone(),
                reason: format!("its messages cannot be read: {error}"),
            })?;
            opened.insert(spec.logical_id.clone(), Arc::new(queue));
        }
        if opened.len() == before {
            return Err(StartError::Resource {
                what: "the stack's queues".into(),
                reason: "their redrive policies name each other in a cycle".into(),
            });
        }
    }
    Ok(opened)
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

/// The S3 store's buckets: the stack's, with their notifications sent to
/// the stack's queues as S3 sends them, and CloudFormation's response
/// bucket. A notification S3 may not send to fails here, as S3 refuses to
/// set it ("Unable to validate the following destination configurations").
pub(super) fn store_config(
    options: &RuntimeOptions,
    stack: &LocalStack,
    access: &Access,
    queues: &BTreeMap<String, Arc<Queue>>,
    local_urls: &LocalUrls,
) -> Result<S3StoreConfig, StartError> {
    let mut config = S3StoreConfig::new(
        options.state.s3(),
        options.state.s3_versions(),
        access.clone(),
    );
    config.region.clone_from(&stack.region);
    let s3 = access
        .keys
        .named(S3_SERVICE)
        .ok_or_else(|| StartError::Resource {
            what: S3_SERVICE.into(),
            reason: "has no key pair".into(),
        })?;
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
                // An origin served here (the load balancer's) is the local one.
                allowed_origins: rule
                    .allowed_origins
                    .iter()
                    .map(|origin| local_urls.local(origin).unwrap_or_else(|| origin.clone()))
                    .collect(),
                ..rule.clone()
            })
            .collect();
        for (index, notification) in bucket.notifications.iter().enumerate() {
            let queue = &queues[&notification.queue];
            let target = QueueTarget {
                queue: Arc::clone(queue),
                access: access.clone(),
                s3: Arc::clone(&s3),
                bucket_arn: bucket.arn.clone(),
            };
            target.check().map_err(|error| StartError::Resource {
                what: bucket.logical_id.clone(),
                reason: format!(
                    "Unable to validate the following destination configurations: {}: {error}",
                    queue.spec.arn
                ),
            })?;
            let target: Arc<dyn EventTarget> = Arc::new(target);
            let target = match &options.record_events {
                Some(dir) => Arc::new(RecordingTarget {
                    inner: target,
                    dir: dir.clone(),
                }),
                None => target,
            };
            local.notifications.push(Notification {
                id: format!("{}-{}-{index}", bucket.logical_id, notification.queue),
                filter: notification.filter.clone(),
                target: NotificationTarget {
                    name: notification.queue.clone(),
                    target,
                    // S3 retries a send that fails; what still fails is
                    // kept here, where S3 would lose it.
                    delivery: DeliveryPolicy::default(),
                    dead_letter_dir: options.state.undelivered(&queue.spec.name),
                    destination: None,
                },
            });
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
    Ok(config)
}

/// The queue a bucket notifies and its dead-letter queue: where the events
/// its reader failed on end.
pub fn photo_dead_letter_queue(
    stack: &LocalStack,
) -> Option<(&local_stack::Queue, &local_stack::Queue)> {
    let notified = stack
        .buckets
        .iter()
        .flat_map(|b| &b.notifications)
        .find_map(|n| stack.queues.iter().find(|q| q.logical_id == n.queue))?;
    let redrive = notified.redrive.as_ref()?;
    let dead_letters = stack
        .queues
        .iter()
        .find(|q| q.arn == redrive.dead_letter_arn)?;
    Some((notified, dead_letters))
}

pub(super) fn photo_dead_letters(
    stack: &LocalStack,
    queues: &BTreeMap<String, Arc<Queue>>,
) -> Option<DeadLetters> {
    let (source, dead_letters) = photo_dead_letter_queue(stack)?;
    Some(DeadLetters {
        queue: Arc::clone(queues.get(&dead_letters.logical_id)?),
        source: Arc::clone(queues.get(&source.logical_id)?),
    })
}
