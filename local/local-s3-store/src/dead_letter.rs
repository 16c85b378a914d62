//! Events that could not be delivered, kept on disk one JSON file each.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lambda_events::s3::S3Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::target::EventTarget;

/// Why an event became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeadLetterReason {
    /// Every attempt failed.
    RetriesExhausted,
    /// The event grew older than the maximum event age.
    MaxEventAgeExceeded,
    /// The store shut down before the event was delivered.
    ShutDown,
    /// A replay of a dead letter failed.
    ReplayFailed,
}

/// One undelivered event with what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The event's sequencer: unique, and sorts in creation order.
    pub id: String,
    pub reason: DeadLetterReason,
    /// The last error, as the target reported it.
    pub error: String,
    /// Invocations tried, replays included.
    pub attempts: u32,
    /// When the object was created.
    pub created_at: DateTime<Utc>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub dead_lettered_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::event::serialize_event")]
    pub event: S3Event,
}

/// Error handling dead letters.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("dead-letter id {0:?} is invalid (expected letters, digits and '-')")]
    InvalidId(String),
    #[error("no dead letter with id {0:?}")]
    NotFound(String),
    #[error("dead letter {id:?} could not be replayed: {error}")]
    ReplayFailed { id: String, error: String },
    #[error("dead letter file {path} is not a dead letter: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("dead letter could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("dead-letter folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The dead-letter folder: list, replay and delete.
#[derive(Clone)]
pub struct DeadLetters {
    dir: PathBuf,
    target: Arc<dyn EventTarget>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// Opens (and creates) the folder; replays go to `target`.
    pub async fn open(
        dir: impl Into<PathBuf>,
        target: Arc<dyn EventTarget>,
    ) -> Result<Self, DeadLetterError> {
        let dir = dir.into();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|source| DeadLetterError::Io {
                path: dir.clone(),
                source,
            })?;
        Ok(Self { dir, target })
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All dead letters, oldest event first.
    pub async fn list(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let io_error = |source| DeadLetterError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(io_error)?;
        let mut letters = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                letters.push(read_letter(&path).await?);
            }
        }
        letters.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(letters)
    }

    /// One dead letter.
    pub async fn get(&self, id: &str) -> Result<DeadLetter, DeadLetterError> {
        let path = self.path_of(id)?;
        match tokio::fs::try_exists(&path).await {
            Ok(true) => read_letter(&path).await,
            Ok(false) => Err(DeadLetterError::NotFound(id.to_owned())),
            Err(source) => Err(DeadLetterError::Io { path, source }),
        }
    }

    /// Delivers the event again, once. On success the dead letter is removed;
    /// on failure it stays, updated with the new error.
    pub async fn replay(&self, id: &str) -> Result<(), DeadLetterError> {
        let mut letter = self.get(id).await?;
        let attempted_at = Utc::now();
        letter.attempts = letter.attempts.saturating_add(1);
        letter.first_attempt_at.get_or_insert(attempted_at);
        letter.last_attempt_at = Some(attempted_at);
        match self.target.invoke(&letter.event).await {
            Ok(()) => {
                tracing::info!(dead_letter_id = %id, attempts = letter.attempts, "dead letter replayed");
                self.delete(id).await
            }
            Err(error) => {
                let error = error.to_string();
                tracing::warn!(dead_letter_id = %id, attempts = letter.attempts, %error, "dead letter replay failed");
                letter.reason = DeadLetterReason::ReplayFailed;
                letter.error.clone_from(&error);
                self.store(&letter).await?;
                Err(DeadLetterError::ReplayFailed {
                    id: id.to_owned(),
                    error,
                })
            }
        }
    }

    /// Removes a dead letter.
    pub async fn delete(&self, id: &str) -> Result<(), DeadLetterError> {
        let path = self.path_of(id)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                Err(DeadLetterError::NotFound(id.to_owned()))
            }
            Err(source) => Err(DeadLetterError::Io { path, source }),
        }
    }

    /// Writes a dead letter atomically (temporary file, then rename).
    pub(crate) async fn store(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        let path = self.path_of(&letter.id)?;
        let temporary = self.dir.join(format!(".{}.json.tmp", letter.id));
        let bytes = serde_json::to_vec_pretty(letter)?;
        tokio::fs::write(&temporary, bytes)
            .await
            .map_err(|source| DeadLetterError::Io {
                path: temporary.clone(),
                source,
            })?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|source| DeadLetterError::Io { path, source })
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, DeadLetterError> {
        let valid = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(DeadLetterError::InvalidId(id.to_owned()));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }
}

async fn read_letter(path: &Path) -> Result<DeadLetter, DeadLetterError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| DeadLetterError::Io {
            path: path.to_owned(),
            source,
        })?;
    serde_json::from_slice(&bytes).map_err(|source| DeadLetterError::Corrupt {
        path: path.to_owned(),
        source,
    })
}
