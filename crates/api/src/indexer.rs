//! The `indexer` function: the photo bucket's S3 `ObjectCreated` events,
//! as SQS messages of the stack's `IndexQueue` (S3 sends each event there
//! as a message body; Lambda hands the function a batch of messages).
//! Each message that fails is reported alone (`batchItemFailures`): SQS
//! shows it again after its visibility timeout and, after five receives,
//! moves it to the dead-letter queue; the rest of the batch is done.

use std::time::Instant;

pub use aws_lambda_events::s3::{S3Event, S3EventRecord};
pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use registry::Sequencer;
use registry::indexing::{Indexer, IndexingResult, ObjectCreated};
use registry::key::decode_event_key;
use registry::ports::{FaceIndex, PersonStore, PhotoStore, PortError};

use crate::metrics;

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// Lambda retries the whole event; records already handled are replays
    /// then, which change nothing.
    #[error("{failed} of {total} records could not be handled; the first: {first}")]
    Retry {
        failed: usize,
        total: usize,
        first: PortError,
    },
    #[error("a message that failed has no message id")]
    Unidentified,
}

impl From<IndexerError> for lambda_runtime::Diagnostic {
    fn from(error: IndexerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "Indexer.RecordsFailed".to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What an IndexQueue message holds.
#[derive(Debug)]
pub enum QueuedEvent {
    /// The bucket's event.
    Photos(S3Event),
    /// What S3 sends when a notification is set, to check the queue.
    Test,
    /// Not an S3 event: why (never the body, which may hold names).
    Unreadable(String),
}

impl QueuedEvent {
    pub fn parse(body: &str) -> Self {
        let value: serde_json::Value = match serde_json::from_str(body) {
            Ok(value) => value,
            Err(error) => return Self::Unreadable(format!("not JSON: {error}")),
        };
        if value["Event"] == "s3:TestEvent" {
            return Self::Test;
        }
        if !value["Records"].is_array() {
            return Self::Unreadable("no Records".into());
        }
        match serde_json::from_value(value) {
            Ok(event) => Self::Photos(event),
            Err(error) => Self::Unreadable(format!("not an S3 event: {error}")),
        }
    }
}

/// What one invocation did, record by record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexerReport {
    pub results: Vec<IndexingResult>,
    /// Records that are not object creations, or unreadable.
    pub skipped: usize,
}

pub struct IndexerFn<P, S, F> {
    pub people: P,
    pub photos: S,
    pub faces: F,
}

impl<P: PersonStore, S: PhotoStore, F: FaceIndex> IndexerFn<P, S, F> {
    /// Handles one invocation's event; `request_id` is the invocation's
    /// (the audit trail records the outcomes with it).
    pub async fn handle(
        &self,
        event: &S3Event,
        request_id: &str,
    ) -> Result<IndexerReport, IndexerError> {
        let indexer = Indexer {
            people: &self.people,
            photos: &self.photos,
            faces: &self.faces,
            request_id,
        };
        let mut report = IndexerReport::default();
        let mut failures = Vec::new();
        for record in &event.records {
            let Some(created) = object_created(record) else {
                report.skipped += 1;
                metrics::count("EventsIgnored", 1);
                continue;
            };
            let started = Instant::now();
            let outcome = indexer.handle(&created).await;
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            match outcome {
                Ok(result) => {
                    self.observe(&created, &result, elapsed_ms);
                    report.results.push(result);
                }
                Err(error) => {
                    // Logs name the object by its event's sequencer, never by its
                    // key: the key holds the person's name.
                    tracing::error!(sequencer = created.sequencer.as_str(), version_id = created.version_id.as_deref().unwrap_or("-"), %error, "indexing failed; the event will be retried");
                    metrics::count("IndexingErrors", 1);
                    failures.push(error);
                }
            }
        }
        if failures.is_empty() {
            Ok(report)
        } else {
            let failed = failures.len();
            Err(IndexerError::Retry {
                failed,
                total: event.records.len(),
                first: failures.swap_remove(0),
            })
        }
    }

    /// Handles a batch of IndexQueue messages; the answer names those that
    /// failed, to be received again (an unreadable message too: it ends in
    /// the dead-letter queue, where it can be read).
    pub async fn handle_messages(
        &self,
        batch: &SqsEvent,
        request_id: &str,
    ) -> Result<SqsBatchResponse, IndexerError> {
        let mut response = SqsBatchResponse::default();
        for message in &batch.records {
            let failed = match QueuedEvent::parse(message.body.as_deref().unwrap_or_default()) {
                QueuedEvent::Photos(event) => self.handle(&event, request_id).await.is_err(),
                QueuedEvent::Test => {
                    tracing::info!("S3's test event; nothing to index");
                    false
                }
                QueuedEvent::Unreadable(why) => {
                    tracing::error!(
                        message_id = message.message_id.as_deref().unwrap_or("-"),
                        why,
                        "unreadable message; it will be dead-lettered"
                    );
                    metrics::count("IndexingErrors", 1);
                    true
                }
            };
            if failed {
                // Without its id a message cannot be reported alone: the
                // whole batch is received again.
                let Some(id) = message.message_id.clone() else {
                    return Err(IndexerError::Unidentified);
                };
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    fn observe(&self, created: &ObjectCreated, result: &IndexingResult, elapsed_ms: f64) {
        match result {
            IndexingResult::Indexed { person, face_id } => {
                tracing::info!(person_id = person.0, face_id = %face_id, elapsed_ms, "photo indexed");
                metrics::count("PhotosIndexed", 1);
                metrics::milliseconds("IndexingDuration", elapsed_ms);
            }
            IndexingResult::Rejected { person, .. } => {
                // The reason is the person's record (it may quote the file name).
                tracing::info!(person_id = person.0, elapsed_ms, "photo rejected");
                metrics::count("PhotosRejected", 1);
                metrics::milliseconds("IndexingDuration", elapsed_ms);
            }
            IndexingResult::Ignored(why) => {
                tracing::info!(
                    sequencer = created.sequencer.as_str(),
                    ignored = why.as_str(),
                    "event changed no record"
                );
                // Counted, so that events that keep changing nothing (a
                // file that never arrives, keys that are not the
                // registry's) show on the dashboard.
                metrics::count("EventsIgnored", 1);
            }
        }
    }
}

/// The object creation a record reports, or `None` for other records.
pub fn object_created(record: &S3EventRecord) -> Option<ObjectCreated> {
    if !record
        .event_name
        .as_deref()
        .is_some_and(|name| name.starts_with("ObjectCreated:"))
    {
        tracing::warn!(
            event_name = record.event_name.as_deref().unwrap_or("-"),
            "not an object creation; skipped"
        );
        return None;
    }
    let bucket = record.s3.bucket.name.clone()?;
    let encoded_key = record.s3.object.key.as_deref()?;
    let key = match decode_event_key(encoded_key) {
        Ok(key) => key,
        Err(error) => {
            tracing::warn!(%error, "object key cannot be decoded; skipped");
            return None;
        }
    };
    // S3 always sends a sequencer for object creations; without one the
    // record cannot be ordered, and the empty sequencer loses to any other.
    let sequencer = Sequencer::new(record.s3.object.sequencer.clone().unwrap_or_default());
    Some(ObjectCreated {
        bucket,
        key,
        etag: record
            .s3
            .object
            .e_tag
            .clone()
            .filter(|e| !e.is_empty())
            .map(|e| quoted(&e)),
        version_id: record
            .s3
            .object
            .version_id
            .clone()
            .filter(|v| !v.is_empty() && v != "null"),
        sequencer,
        event_time: record.event_time,
    })
}

/// Events carry the ETag bare; HeadObject returns it quoted.
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}
