//! The indexer's dead letters in a deployed stack: the invocation records
//! Lambda sends to the on-failure destination (the SQS queue of the stack's
//! `IndexerDeadLetterQueueUrl` output) once it gives up on an S3 event. SQS
//! redrive cannot send them back to S3, so a replay invokes the function
//! the record names with the event it wraps (`requestPayload`), and deletes
//! the message only once the function has handled it.
//!
//! The caller needs `sqs:ReceiveMessage`, `sqs:ChangeMessageVisibility` and
//! `sqs:DeleteMessage` on the queue, `kms:Decrypt` on the stack's key (the
//! queue is encrypted with it), and `lambda:InvokeFunction` on the indexer.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Lambda's invocation record for an asynchronous invocation it gave up on
/// (Lambda developer guide, "Capturing records of Lambda asynchronous
/// invocations"): `condition` is `RetriesExhausted` or `EventAgeExceeded`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    pub timestamp: String,
    pub request_context: RequestContext,
    /// The event as the function received it.
    pub request_payload: Option<Value>,
    pub response_payload: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The function, with the qualifier invoked (`...:function:name:$LATEST`).
    pub function_arn: String,
    pub condition: String,
    pub approximate_invoke_count: Option<u32>,
}

/// One message of the queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    receipt_handle: String,
    /// The record, or why the body is not one.
    pub record: Result<InvocationRecord, String>,
}

/// What the listing shows of a dead letter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    pub failed_at: Option<String>,
    pub condition: Option<String>,
    pub attempts: Option<u32>,
    pub function: Option<String>,
    /// The function's last error message.
    pub error: Option<String>,
    /// `bucket/key` of each object the event was about.
    pub objects: Vec<String>,
}

impl DeadLetter {
    pub fn parse(message_id: String, receipt_handle: String, body: &str) -> Self {
        let record = serde_json::from_str::<InvocationRecord>(body)
            .map_err(|e| format!("the message is not a Lambda invocation record: {e}"));
        Self {
            message_id,
            receipt_handle,
            record,
        }
    }

    pub fn summary(&self) -> Summary {
        let record = self.record.as_ref().ok();
        let objects = record
            .and_then(|r| r.request_payload.as_ref())
            .and_then(|payload| payload["Records"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|event| {
                let bucket = event["s3"]["bucket"]["name"].as_str()?;
                let key = event["s3"]["object"]["key"].as_str()?;
                Some(format!("{bucket}/{key}"))
            })
            .collect();
        Summary {
            id: self.message_id.clone(),
            failed_at: record.map(|r| r.timestamp.clone()),
            condition: record.map(|r| r.request_context.condition.clone()),
            attempts: record.and_then(|r| r.request_context.approximate_invoke_count),
            function: record.map(|r| r.request_context.function_arn.clone()),
            error: match &self.record {
                Ok(record) => record
                    .response_payload
                    .as_ref()
                    .and_then(|p| p["errorMessage"].as_str())
                    .map(str::to_owned),
                Err(problem) => Some(problem.clone()),
            },
            objects,
        }
    }
}

/// What became of one replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    pub id: String,
    /// Handled, and deleted from the queue.
    pub replayed: bool,
    /// Why not: the message stays.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("SQS: {0}")]
    Sqs(String),
}

pub struct DeadLetterQueue {
    sqs: aws_sdk_sqs::Client,
    lambda: aws_sdk_lambda::Client,
    queue_url: String,
}

/// How long messages stay hidden from other readers while they are listed
/// or replayed; they are released (visible again) as soon as that is done.
const LIST_HOLD: Duration = Duration::from_secs(60);
const REPLAY_HOLD: Duration = Duration::from_secs(15 * 60);

impl DeadLetterQueue {
    pub fn new(aws: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(aws),
            lambda: aws_sdk_lambda::Client::new(aws),
            queue_url: queue_url.into(),
        }
    }

    /// Every dead letter, left in the queue.
    pub async fn list(&self) -> Result<Vec<Summary>, DeadLetterError> {
        let letters = self.receive_all(LIST_HOLD).await?;
        let summaries = letters.iter().map(DeadLetter::summary).collect();
        self.release(&letters).await;
        Ok(summaries)
    }

    /// Replays the dead letters `ids` names (all when `None`), one at a time.
    pub async fn replay(&self, ids: Option<&[String]>) -> Result<Vec<Replayed>, DeadLetterError> {
        let letters = self.receive_all(REPLAY_HOLD).await?;
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
            let outcome = match self.invoke(&letter).await {
                Ok(()) => match self.delete(&letter).await {
                    Ok(()) => Replayed {
                        id: letter.message_id.clone(),
                        replayed: true,
                        error: None,
                    },
                    Err(error) => Replayed {
                        id: letter.message_id.clone(),
                        replayed: true,
                        error: Some(format!("handled, but not deleted from the queue: {error}")),
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

    /// Every message, each received once and hidden for `hold`.
    async fn receive_all(&self, hold: Duration) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut letters: Vec<DeadLetter> = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(i32::try_from(hold.as_secs()).unwrap_or(i32::MAX))
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| DeadLetterError::Sqs(aws_message(&e)))?;
            let messages = received.messages();
            if messages.is_empty() {
                return Ok(letters);
            }
            for message in messages {
                let (Some(id), Some(receipt)) = (message.message_id(), message.receipt_handle())
                else {
                    continue;
                };
                if letters.iter().any(|l| l.message_id == id) {
                    continue;
                }
                letters.push(DeadLetter::parse(
                    id.to_owned(),
                    receipt.to_owned(),
                    message.body().unwrap_or_default(),
                ));
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

    /// Invokes the function the record names with the event it wraps, and
    /// waits for its answer: handled only without a function error.
    async fn invoke(&self, letter: &DeadLetter) -> Result<(), String> {
        let record = letter.record.as_ref().map_err(Clone::clone)?;
        let payload = record
            .request_payload
            .as_ref()
            .ok_or("the record holds no event (requestPayload) to replay")?;
        let answer = self
            .lambda
            .invoke()
            .function_name(function_to_invoke(&record.request_context.function_arn))
            .payload(Blob::new(
                serde_json::to_vec(payload).map_err(|e| e.to_string())?,
            ))
            .send()
            .await
            .map_err(|e| aws_message(&e))?;
        match answer.function_error() {
            None => Ok(()),
            Some(kind) => {
                let detail = answer
                    .payload()
                    .and_then(|p| serde_json::from_slice::<Value>(p.as_ref()).ok())
                    .and_then(|p| p["errorMessage"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                Err(format!("the function failed again ({kind}): {detail}"))
            }
        }
    }
}

/// The function a record names, unqualified when it names `$LATEST`: that
/// is the same function, and a permission on the function's ARN covers
/// only invocations by that ARN, not by a qualified one (Lambda developer
/// guide, "Versioning, aliases and resource policies").
fn function_to_invoke(arn: &str) -> &str {
    arn.strip_suffix(":$LATEST").unwrap_or(arn)
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

    /// A record as Lambda writes it for the indexer, wrapping a sample event.
    fn record(payload: Option<Value>) -> String {
        let mut record = serde_json::json!({
            "version": "1.0",
            "timestamp": "2026-12-01T10:00:00.000Z",
            "requestContext": {
                "requestId": "c2a6f2ae-7dbb-4d22-8782-d0485c9877e2",
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:face-registry-IndexerFunction:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "responseContext": { "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" },
            "responsePayload": { "errorMessage": "the database is unavailable", "errorType": "Retry" }
        });
        if let Some(payload) = payload {
            record["requestPayload"] = payload;
        }
        record.to_string()
    }

    #[test]
    fn a_record_is_summarised_with_the_objects_of_its_event() {
        let event: Value =
            serde_json::from_str(include_str!("../../../events/s3-put.json")).unwrap();
        let letter = DeadLetter::parse("m-1".into(), "r-1".into(), &record(Some(event)));
        let summary = letter.summary();
        assert_eq!(summary.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(summary.attempts, Some(3));
        assert_eq!(
            summary.error.as_deref(),
            Some("the database is unavailable")
        );
        assert!(
            summary
                .function
                .unwrap()
                .ends_with("IndexerFunction:$LATEST")
        );
        assert_eq!(
            summary.objects,
            ["face-registry-123456789012-us-east-1-photos/obama_barack.jpg"]
        );
    }

    #[test]
    fn latest_is_invoked_by_the_unqualified_arn() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:stack-indexer";
        assert_eq!(function_to_invoke(&format!("{arn}:$LATEST")), arn);
        assert_eq!(function_to_invoke(&format!("{arn}:7")), format!("{arn}:7"));
        assert_eq!(function_to_invoke(arn), arn);
    }

    #[test]
    fn a_body_that_is_not_a_record_says_so() {
        let letter = DeadLetter::parse("m-2".into(), "r-2".into(), "{\"hello\": 1}");
        let summary = letter.summary();
        assert!(
            summary
                .error
                .unwrap()
                .starts_with("the message is not a Lambda invocation record")
        );
        assert!(summary.objects.is_empty());
        let without_event = DeadLetter::parse("m-3".into(), "r-3".into(), &record(None));
        assert!(without_event.record.unwrap().request_payload.is_none());
    }
}
