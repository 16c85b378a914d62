//! One SQS standard queue: its messages kept on disk (one JSON file each,
//! so that nothing sent is lost when the runtime stops), handed out for a
//! visibility timeout, deleted by their latest receipt handle, dropped
//! after the retention period (counted from the first send, also in the
//! dead-letter queue, as SQS does for standard queues), and moved to the
//! dead-letter queue of the redrive policy when received more than
//! `maxReceiveCount` times.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use local_iam::json_api::JsonError;
use local_iam::{Access, AuthorizeError, Call, Conditions, Identity, KeyUse, Policy};
use local_s3_store::KmsKey;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// A message as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredMessage {
    pub id: String,
    pub body: String,
    /// When it was first sent (ms since the epoch): retention counts from it.
    pub sent_at_ms: i64,
    pub receive_count: u32,
    pub first_received_at_ms: Option<i64>,
    /// The queue it was moved from, in a dead-letter queue.
    pub source_arn: Option<String>,
}

/// A message handed out by [`Queue::receive`].
#[derive(Debug, Clone)]
pub struct Received {
    pub message: StoredMessage,
    pub receipt: String,
}

struct Entry {
    message: StoredMessage,
    receipt: Option<String>,
    hidden_until: Option<Instant>,
}

/// The queue's settings, from the template.
pub struct QueueSpec {
    pub name: String,
    pub arn: String,
    pub url: String,
    pub policy: Option<Policy>,
    pub key: Option<KmsKey>,
    pub visibility_timeout: Duration,
    pub retention: Duration,
}

pub struct Queue {
    pub spec: QueueSpec,
    /// The dead-letter queue and the receives after which a message goes there.
    redrive: Option<(Arc<Queue>, u32)>,
    dir: PathBuf,
    entries: Mutex<Vec<Entry>>,
    arrived: Notify,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.spec.name)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// The queue whose messages are kept in `dir` (created if need be).
    pub fn open(
        spec: QueueSpec,
        redrive: Option<(Arc<Queue>, u32)>,
        dir: &Path,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut entries = Vec::new();
        for file in std::fs::read_dir(dir)? {
            let path = file?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let message: StoredMessage = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            entries.push(Entry {
                message,
                receipt: None,
                hidden_until: None,
            });
        }
        entries.sort_by_key(|e| e.message.sent_at_ms);
        Ok(Self {
            spec,
            redrive,
            dir: dir.to_owned(),
            entries: Mutex::new(entries),
            arrived: Notify::new(),
        })
    }

    pub fn dead_letter_queue(&self) -> Option<&Arc<Queue>> {
        self.redrive.as_ref().map(|(queue, _)| queue)
    }

    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes the message's file whole or not at all.
    fn write(&self, message: &StoredMessage) -> std::io::Result<()> {
        let path = self.path(&message.id);
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, serde_json::to_vec(message)?)?;
        std::fs::rename(partial, path)
    }

    fn remove_file(&self, id: &str) {
        if let Err(error) = std::fs::remove_file(self.path(id))
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(queue = %self.spec.name, %error, "a deleted message's file stays");
        }
    }

    /// Sends `body`; its message id.
    pub fn send(&self, body: String) -> std::io::Result<String> {
        let message = StoredMessage {
            id: uuid::Uuid::new_v4().to_string(),
            body,
            sent_at_ms: Utc::now().timestamp_millis(),
            receive_count: 0,
            first_received_at_ms: None,
            source_arn: None,
        };
        let id = message.id.clone();
        self.accept(message)?;
        Ok(id)
    }

    /// Keeps a message as it is (a move from another queue).
    fn accept(&self, message: StoredMessage) -> std::io::Result<()> {
        self.write(&message)?;
        self.entries().push(Entry {
            message,
            receipt: None,
            hidden_until: None,
        });
        self.arrived.notify_waiters();
        Ok(())
    }

    /// Waits until a message is sent, or `at_most`.
    pub async fn wait_for_messages(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.arrived.notified()).await;
    }

    /// Up to `limit` visible messages, each hidden for `visibility`; those
    /// past their retention are dropped, and those received too often are
    /// moved to the dead-letter queue instead.
    pub fn receive(&self, limit: usize, visibility: Duration) -> std::io::Result<Vec<Received>> {
        let now = Instant::now();
        let now_ms = Utc::now().timestamp_millis();
        let retention_ms = i64::try_from(self.spec.retention.as_millis()).unwrap_or(i64::MAX);
        let mut entries = self.entries();
        let mut received = Vec::new();
        let mut index = 0;
        while index < entries.len() && received.len() < limit {
            let entry = &mut entries[index];
            if now_ms - entry.message.sent_at_ms >= retention_ms {
                let gone = entries.remove(index);
                self.remove_file(&gone.message.id);
                continue;
            }
            if entry.hidden_until.is_some_and(|until| until > now) {
                index += 1;
                continue;
            }
            if let Some((dead_letters, max)) = &self.redrive
                && entry.message.receive_count >= *max
            {
                let mut moved = entries.remove(index).message;
                moved.source_arn = Some(self.spec.arn.clone());
                dead_letters.accept(moved.clone())?;
                self.remove_file(&moved.id);
                tracing::warn!(queue = %self.spec.name, message_id = %moved.id, receives = moved.receive_count, "message moved to the dead-letter queue");
                continue;
            }
            entry.message.receive_count += 1;
            entry.message.first_received_at_ms.get_or_insert(now_ms);
            let receipt = format!("{}.{:016x}", entry.message.id, rand::random::<u64>());
            entry.receipt = Some(receipt.clone());
            entry.hidden_until = Some(now + visibility);
            self.write(&entry.message)?;
            received.push(Received {
                message: entry.message.clone(),
                receipt,
            });
            index += 1;
        }
        Ok(received)
    }

    /// The message `receipt` names (the receipt may be an old one).
    fn message_of(receipt: &str) -> Result<&str, JsonError> {
        receipt
            .rsplit_once('.')
            .map(|(id, _)| id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                JsonError::new(
                    "ReceiptHandleIsInvalid",
                    format!(
                        "The input receipt handle \"{receipt}\" is not a valid receipt handle."
                    ),
                )
            })
    }

    /// Deletes the message `receipt` was handed out with. A receipt other
    /// than the latest succeeds without deleting, as SQS documents for
    /// DeleteMessage.
    pub fn delete(&self, receipt: &str) -> Result<(), JsonError> {
        let id = Self::message_of(receipt)?;
        let mut entries = self.entries();
        if let Some(index) = entries
            .iter()
            .position(|e| e.message.id == id && e.receipt.as_deref() == Some(receipt))
        {
            entries.remove(index);
            self.remove_file(id);
        }
        Ok(())
    }

    pub fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<(), JsonError> {
        let id = Self::message_of(receipt)?;
        let now = Instant::now();
        let mut entries = self.entries();
        match entries.iter_mut().find(|e| e.message.id == id) {
            Some(entry)
                if entry.receipt.as_deref() == Some(receipt)
                    && entry.hidden_until.is_some_and(|until| until > now) =>
            {
                entry.hidden_until = Some(now + visibility);
                Ok(())
            }
            _ => Err(JsonError::new(
                "MessageNotInflight",
                "The message referred to isn't in flight.",
            )),
        }
    }

    /// (visible, in flight) now.
    pub fn counts(&self) -> (usize, usize) {
        let now = Instant::now();
        let entries = self.entries();
        let hidden = entries
            .iter()
            .filter(|e| e.hidden_until.is_some_and(|until| until > now))
            .count();
        (entries.len() - hidden, hidden)
    }

    /// Every message, without receiving it (the local tools' view).
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.entries().iter().map(|e| e.message.clone()).collect()
    }

    /// Removes the message `id` whatever its state; `None` if there is none.
    pub fn take(&self, id: &str) -> Option<StoredMessage> {
        let mut entries = self.entries();
        let index = entries.iter().position(|e| e.message.id == id)?;
        let entry = entries.remove(index);
        self.remove_file(id);
        Some(entry.message)
    }

    /// Whether `caller` may do `action` on the queue: its policies and the
    /// queue policy.
    pub fn authorize(
        &self,
        access: &Access,
        caller: &Identity,
        action: &str,
        conditions: &Conditions,
    ) -> Result<(), AuthorizeError> {
        let call = Call {
            caller,
            action,
            resource: &self.spec.arn,
            conditions,
        };
        access
            .authorizer
            .authorize(call, self.spec.policy.as_ref(), None)
    }

    /// SQS uses the queue's key as `caller` to hand out (`kms:Decrypt`) or
    /// take in (`kms:GenerateDataKey`) a message (SQS developer guide, "Key
    /// management").
    pub fn authorize_key(
        &self,
        access: &Access,
        caller: &Identity,
        action: &str,
        region: &str,
    ) -> Result<(), AuthorizeError> {
        let Some(key) = &self.spec.key else {
            return Ok(());
        };
        let key_use = KeyUse {
            caller,
            conditions: Conditions::of_caller(caller),
            service: "sqs",
            region,
            action,
            key_arn: &key.arn,
            context: ("kms:EncryptionContext:aws:sqs:arn", self.spec.arn.clone()),
        };
        access.authorizer.authorize_key_use(key_use, &key.policy)
    }
}
