//! The indexer's dead letters in a deployed stack: the photo events the
//! indexer failed on five times, which IndexQueue's redrive policy moved to
//! the dead-letter queue (the stack's `IndexerDeadLetterQueueUrl` output).
//! Each message is the S3 event as S3 sent it. A replay sends it back to
//! the queue it came from (`ListDeadLetterSourceQueues`), where the
//! indexer reads it again, and deletes it from the dead-letter queue once
//! it is sent.
//!
//! The caller needs `sqs:ReceiveMessage`, `sqs:ChangeMessageVisibility`,
//! `sqs:DeleteMessage` and `sqs:ListDeadLetterSourceQueues` on the
//! dead-letter queue, `sqs:SendMessage` on IndexQueue, and `kms:Decrypt`
//! and `kms:GenerateDataKey` on the stack's key (both queues are encrypted
//! with it).

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;
use serde_json::Value;

/// One message of the queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    receipt_handle: String,
    body: String,
    /// When S3 first sent it (ms since the epoch).
    sent_at_ms: Option<i64>,
    receives: Option<u32>,
}

/// What the listing shows of a dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    /// When S3 sent the event (RFC 3339).
    pub sent_at: Option<String>,
    /// SQS's `ApproximateReceiveCount`: the indexer's receives, and this
    /// listing's.
    pub receives: Option<u32>,
    /// `bucket/key` of each object the event was about.
    pub objects: Vec<String>,
    /// Why the message is not an S3 event, if it is not.
    pub error: Option<String>,
}

impl DeadLetter {
    pub fn new(message: &aws_sdk_sqs::types::Message) -> Option<Self> {
        let attribute = |name: MessageSystemAttributeName| {
            message
                .attributes()
                .and_then(|attributes| attributes.get(&name))
                .cloned()
                .unwrap_or_default()
        };
        Some(Self {
            message_id: message.message_id()?.to_owned(),
            receipt_handle: message.receipt_handle()?.to_owned(),
            body: message.body().unwrap_or_default().to_owned(),
            sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp)
                .parse()
                .ok(),
            receives: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                .parse()
                .ok(),
        })
    }

    pub fn summary(&self) -> Summary {
        let (objects, error) = match serde_json::from_str::<Value>(&self.body) {
            Ok(event) if event["Records"].is_array() => (objects_of(&event), None),
            Ok(_) => (
                Vec::new(),
                Some("the message is not an S3 event".to_owned()),
            ),
            Err(error) => (
                Vec::new(),
                Some(format!("the message is not JSON: {error}")),
            ),
        };
        Summary {
            id: self.message_id.clone(),
            sent_at: self
                .sent_at_ms
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            receives: self.receives,
            objects,
            error,
        }
    }
}

/// `bucket/key` of each record of an S3 event.
fn objects_of(event: &Value) -> Vec<String> {
    event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|record| {
            let bucket = record["s3"]["bucket"]["name"].as_str()?;
            let key = record["s3"]["object"]["key"].as_str()?;
            Some(format!("{bucket}/{key}"))
        })
        .collect()
}

/// What became of one replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    pub id: String,
    /// Sent back to the indexer's queue.
    pub replayed: bool,
    /// Why not, or what went wrong after: the message stays.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("SQS: {0}")]
    Sqs(String),
    #[error("the dead-letter queue is the dead-letter queue of {0} queues, not one")]
    Sources(usize),
}

pub struct DeadLetterQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

/// How long messages stay hidden from other readers while they are listed
/// or replayed; those kept are released (visible again) as soon as that is
/// done.
const HOLD: Duration = Duration::from_secs(60);

impl DeadLetterQueue {
    pub fn new(aws: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(aws),
            queue_url: queue_url.into(),
        }
    }

    /// Every dead letter, left in the queue.
    pub async fn list(&self) -> Result<Vec<Summary>, DeadLetterError> {
        let letters = self.receive_all().await?;
        let summaries = letters.iter().map(DeadLetter::summary).collect();
        self.release(&letters).await;
        Ok(summaries)
    }

    /// Sends the dead letters `ids` names (all when `None`) back to the
    /// queue they came from.
    pub async fn replay(&self, ids: Option<&[String]>) -> Result<Vec<Replayed>, DeadLetterError> {
        let source = self.source_queue().await?;
        let letters = self.receive_all().await?;
        let wanted: Option<BTreeSet<&str>> =
            ids.map(|ids| ids.iter().map(String::as_str).collect());
        let mut outcomes = Vec::new();
        let mut kept = Vec::new();
        for letter in letters {
            if wanted
                .as_ref()
                .is_some_and(|w| !w.contains(letter.message_id.as_str()))
            {
                kept.push(letter);
                continue;
            }
            let outcome = match self.send_back(&source, &letter).await {
                Ok(()) => match self.delete(&letter).await {
                    Ok(()) => Replayed {
                        id: letter.message_id.clone(),
                        replayed: true,
                        error: None,
                    },
                    // It would be replayed twice: the indexer changes
                    // nothing the second time.
                    Err(error) => Replayed {
                        id: letter.message_id.clone(),
                        replayed: true,
                        error: Some(format!(
                            "sent back, but not deleted from the queue: {error}"
                        )),
                    },
                },
                Err(error) => {
                    kept.push(letter.clone());
                    Replayed {
                        id: letter.message_id.clone(),
                        replayed: false,
                        error: Some(error),
                    }
                }
            };
            outcomes.push(outcome);
        }
        self.release(&kept).await;
        if let Some(wanted) = wanted {
            for id in wanted {
                if !outcomes.iter().any(|o| o.id == id) {
                    outcomes.push(Replayed {
                        id: id.to_owned(),
                        replayed: false,
                        error: Some("no such dead letter in the queue".into()),
                    });
                }
            }
        }
        Ok(outcomes)
    }

    /// The queue whose redrive policy names this one.
    async fn source_queue(&self) -> Result<String, DeadLetterError> {
        let sources = self
            .sqs
            .list_dead_letter_source_queues()
            .queue_url(&self.queue_url)
            .send()
            .await
            .map_err(|e| DeadLetterError::Sqs(aws_message(&e)))?;
        match sources.queue_urls() {
            [one] => Ok(one.clone()),
            others => Err(DeadLetterError::Sources(others.len())),
        }
    }

    /// Every message, each received once and hidden for [`HOLD`].
    async fn receive_all(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters: Vec<DeadLetter> = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(i32::try_from(HOLD.as_secs()).unwrap_or(i32::MAX))
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(|e| DeadLetterError::Sqs(aws_message(&e)))?;
            let messages = received.messages();
            if messages.is_empty() {
                return Ok(letters);
            }
            for letter in messages.iter().filter_map(DeadLetter::new) {
                if !letters.iter().any(|l| l.message_id == letter.message_id) {
                    letters.push(letter);
                }
            }
        }
    }

    /// Makes the messages visible again at once.
    async fn release(&self, letters: &[DeadLetter]) {
        for letter in letters {
            let released = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(&letter.receipt_handle)
                .visibility_timeout(0)
                .send()
                .await;
            if let Err(error) = released {
                // It becomes visible again when its hold ends.
                tracing::warn!(id = %letter.message_id, error = %aws_message(&error), "dead letter not released");
            }
        }
    }

    async fn delete(&self, letter: &DeadLetter) -> Result<(), String> {
        self.sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(&letter.receipt_handle)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_message(&e))
    }

    async fn send_back(&self, source: &str, letter: &DeadLetter) -> Result<(), String> {
        self.sqs
            .send_message()
            .queue_url(source)
            .message_body(&letter.body)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_message(&e))
    }
}

/// The service's error code and message; the whole chain for an error
/// that is not the service's answer (no connection, no credentials).
fn aws_message<E, R>(error: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_sdk_sqs::error::DisplayErrorContext(error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::Message;

    fn message(body: &str) -> Message {
        Message::builder()
            .message_id("m-1")
            .receipt_handle("r-1")
            .body(body)
            .attributes(MessageSystemAttributeName::SentTimestamp, "1796119200000")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "6")
            .build()
    }

    #[test]
    fn a_dead_letter_is_summarised_with_the_objects_of_its_event() {
        let letter =
            DeadLetter::new(&message(include_str!("../../../events/s3-put.json"))).unwrap();
        let summary = letter.summary();
        assert_eq!(summary.receives, Some(6));
        assert_eq!(summary.sent_at.as_deref(), Some("2026-12-01T10:00:00.000Z"));
        assert_eq!(summary.error, None);
        assert_eq!(
            summary.objects,
            ["face-registry-123456789012-us-east-1-photos/obama_barack.jpg"]
        );
    }

    #[test]
    fn a_body_that_is_not_an_s3_event_says_so() {
        let summary = DeadLetter::new(&message("{\"hello\": 1}"))
            .unwrap()
            .summary();
        assert_eq!(
            summary.error.as_deref(),
            Some("the message is not an S3 event")
        );
        assert!(summary.objects.is_empty());
        let summary = DeadLetter::new(&message("not json")).unwrap().summary();
        assert!(
            summary
                .error
                .unwrap()
                .starts_with("the message is not JSON")
        );
    }
}
