//! The local view of a dead-letter queue, for `registry-local
//! dead-letters` and the gateway's `/local/dead-letters`: its messages
//! with the objects their S3 events name, and a replay that sends one back
//! to the queue it came from (as `registry dead-letters replay` does with
//! SQS's API against a deployed stack).

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};

use super::queue::{Queue, StoredMessage};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no dead letter {0}")]
    NotFound(String),
    #[error("the dead letter could not be sent back: {0}")]
    Send(#[from] std::io::Error),
}

pub struct DeadLetters {
    pub queue: Arc<Queue>,
    /// The queue whose redrive policy fills it.
    pub source: Arc<Queue>,
}

impl DeadLetters {
    /// Every dead letter, oldest first, as JSON.
    pub fn list(&self) -> Vec<Value> {
        self.queue.messages().iter().map(summary).collect()
    }

    /// Sends the dead letter `id` back to its source queue, then removes it.
    pub fn replay(&self, id: &str) -> Result<(), ReplayError> {
        let letter = self
            .queue
            .messages()
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ReplayError::NotFound(id.to_owned()))?;
        self.source.send(letter.body)?;
        self.queue.take(id);
        Ok(())
    }
}

/// A dead letter: its id, when it was first sent, how often it was
/// received, and the objects of the S3 event it holds.
pub fn summary(message: &StoredMessage) -> Value {
    let objects: Vec<String> = serde_json::from_str::<Value>(&message.body)
        .ok()
        .and_then(|event| event["Records"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|record| {
            let bucket = record["s3"]["bucket"]["name"].as_str()?;
            let key = record["s3"]["object"]["key"].as_str()?;
            Some(format!("{bucket}/{key}"))
        })
        .collect();
    json!({
        "id": message.id,
        "sentAt": DateTime::from_timestamp_millis(message.sent_at_ms)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        "receives": message.receive_count,
        "objects": objects,
    })
}
