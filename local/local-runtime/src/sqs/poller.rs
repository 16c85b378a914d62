//! An `SQS` event of a function: Lambda's event source mapping, which
//! polls the queue with the function's role (`sqs:ReceiveMessage`, and
//! `kms:Decrypt` for an encrypted queue), invokes the function
//! synchronously with a batch of messages, and deletes what was handled
//! (`sqs:DeleteMessage`). A failed invocation leaves the whole batch to
//! come back after the visibility timeout; with `ReportBatchItemFailures`
//! only the messages the function names do (Lambda developer guide,
//! "Handling errors for an SQS event source"). At most
//! `MaximumConcurrency` invocations run at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use local_iam::{Access, Conditions, Identity};
use local_stack::QueueSource;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::queue::{Queue, Received};
use crate::lambda::LocalFunction;

/// Lambda's pollers invoke up to this many batches at once without a
/// `MaximumConcurrency` (it scales further; this is enough here).
const DEFAULT_CONCURRENCY: u32 = 5;
/// How long an idle poller waits for a message before it looks again.
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// How soon a failed message comes back locally: a queue's visibility
/// timeout is minutes (six times the function's timeout).
pub const LOCAL_REDELIVERY_DELAY: Duration = Duration::from_secs(1);
/// How long a poller whose role is refused waits before it tries again.
const REFUSED_WAIT: Duration = Duration::from_secs(5);

pub struct QueuePoller {
    pub queue: Arc<Queue>,
    pub function: Arc<LocalFunction>,
    pub source: QueueSource,
    pub access: Access,
    /// The function's role, which Lambda polls as.
    pub role: Arc<Identity>,
    pub region: String,
    /// How soon a failed message comes back; `None`: the queue's
    /// visibility timeout, as in AWS.
    pub redelivery_delay: Option<Duration>,
}

impl QueuePoller {
    /// Polls until `stop`; in-flight invocations finish first.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if !self.source.enabled {
            return;
        }
        let concurrency = self
            .source
            .maximum_concurrency
            .unwrap_or(DEFAULT_CONCURRENCY);
        let permits = Arc::new(Semaphore::new(concurrency as usize));
        let tasks = TaskTracker::new();
        loop {
            let permit = tokio::select! {
                () = stop.cancelled() => break,
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let batch = match self.receive() {
                Ok(batch) => batch,
                Err(wait) => {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            if batch.is_empty() {
                drop(permit);
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = self.queue.wait_for_messages(IDLE_WAIT) => continue,
                }
            }
            let this = Arc::clone(&self);
            tasks.spawn(async move {
                this.invoke(batch).await;
                drop(permit);
            });
        }
        tasks.close();
        tasks.wait().await;
    }

    /// A batch received as the role, or how long to wait when the role
    /// may not (Lambda then reports the mapping's problem and retries).
    fn receive(&self) -> Result<Vec<Received>, Duration> {
        let conditions = Conditions::of_caller(&self.role);
        let allowed = self
            .queue
            .authorize(&self.access, &self.role, "sqs:ReceiveMessage", &conditions)
            .and_then(|()| {
                self.queue
                    .authorize_key(&self.access, &self.role, "kms:Decrypt", &self.region)
            });
        if let Err(error) = allowed {
            tracing::error!(function = %self.function.spec.logical_id, %error, "the event source mapping cannot read its queue");
            return Err(REFUSED_WAIT);
        }
        let visibility = self.queue.spec.visibility_timeout;
        self.queue
            .receive(self.source.batch_size as usize, visibility)
            .map_err(|error| {
                tracing::error!(queue = %self.queue.spec.name, %error, "messages could not be received");
                REFUSED_WAIT
            })
    }

    async fn invoke(&self, batch: Vec<Received>) {
        let event = self.event(&batch);
        let failed: Vec<String> = match self.function.invoke(event).await {
            Ok(answer) if self.source.reports_item_failures => {
                match item_failures(&answer, &batch) {
                    Some(failed) => failed,
                    // Lambda treats an answer it cannot read as a failure
                    // of the whole batch.
                    None => batch.iter().map(|r| r.message.id.clone()).collect(),
                }
            }
            Ok(_) => Vec::new(),
            Err(error) => {
                tracing::warn!(function = %self.function.spec.logical_id, %error, messages = batch.len(), "the batch failed; its messages come back after their visibility timeout");
                batch.iter().map(|r| r.message.id.clone()).collect()
            }
        };
        if let Some(delay) = self.redelivery_delay {
            for received in batch.iter().filter(|r| failed.contains(&r.message.id)) {
                // Still in flight unless the visibility timeout has passed.
                let _ = self.queue.change_visibility(&received.receipt, delay);
            }
        }
        let conditions = Conditions::of_caller(&self.role);
        for received in batch.iter().filter(|r| !failed.contains(&r.message.id)) {
            let deleted = self
                .queue
                .authorize(&self.access, &self.role, "sqs:DeleteMessage", &conditions)
                .map_err(|e| e.to_string())
                .and_then(|()| self.queue.delete(&received.receipt).map_err(|e| e.message));
            if let Err(error) = deleted {
                tracing::error!(function = %self.function.spec.logical_id, %error, "a handled message could not be deleted; it will be handled again");
            }
        }
    }

    /// The event Lambda hands the function (Lambda developer guide, "Using
    /// Lambda with Amazon SQS", example standard queue message event).
    fn event(&self, batch: &[Received]) -> Value {
        let records: Vec<Value> = batch
            .iter()
            .map(|received| {
                let message = &received.message;
                json!({
                    "messageId": message.id,
                    "receiptHandle": received.receipt,
                    "body": message.body,
                    "attributes": {
                        "ApproximateReceiveCount": message.receive_count.to_string(),
                        "SentTimestamp": message.sent_at_ms.to_string(),
                        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                        "ApproximateFirstReceiveTimestamp": message
                            .first_received_at_ms
                            .unwrap_or_else(|| Utc::now().timestamp_millis())
                            .to_string(),
                    },
                    "messageAttributes": {},
                    "md5OfBody": hex::encode(<md5::Md5 as md5::Digest>::digest(message.body.as_bytes())),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue.spec.arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }
}

/// The ids of the messages the answer names as failed; `None` when it
/// names one that is not in the batch, or is not a batch response.
fn item_failures(answer: &Value, batch: &[Received]) -> Option<Vec<String>> {
    if answer.is_null() {
        return Some(Vec::new());
    }
    let failures = answer.get("batchItemFailures")?.as_array()?;
    failures
        .iter()
        .map(|failure| {
            let id = failure.get("itemIdentifier")?.as_str()?;
            batch
                .iter()
                .any(|r| r.message.id == id)
                .then(|| id.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqs::queue::StoredMessage;

    fn received(id: &str) -> Received {
        Received {
            message: StoredMessage {
                id: id.to_owned(),
                body: "{}".into(),
                sent_at_ms: 0,
                receive_count: 1,
                first_received_at_ms: Some(0),
                source_arn: None,
            },
            receipt: format!("{id}.1"),
        }
    }

    #[test]
    fn the_answer_names_the_failed_messages_of_the_batch() {
        let batch = [received("a"), received("b")];
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert_eq!(item_failures(&answer, &batch), Some(vec!["b".to_owned()]));
        assert_eq!(
            item_failures(&json!({"batchItemFailures": []}), &batch),
            Some(vec![])
        );
        assert_eq!(item_failures(&Value::Null, &batch), Some(vec![]));
    }

    #[test]
    fn an_answer_naming_another_message_fails_the_batch() {
        let batch = [received("a")];
        let answer = json!({"batchItemFailures": [{"itemIdentifier": "z"}]});
        assert_eq!(item_failures(&answer, &batch), None);
        assert_eq!(item_failures(&json!({"other": 1}), &batch), None);
    }
}
