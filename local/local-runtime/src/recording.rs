//! Keeps a copy of every S3 event delivered, as the JSON Lambda receives:
//! ready for `cargo lambda invoke --data-file` and for replay tests.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use local_s3_store::{EventTarget, InvocationError, S3Event, event_to_json};

pub struct RecordingTarget {
    pub inner: Arc<dyn EventTarget>,
    pub dir: PathBuf,
}

#[async_trait]
impl EventTarget for RecordingTarget {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        let json = event_to_json(event)?;
        let sequencer = event
            .records
            .first()
            .and_then(|r| r.s3.object.sequencer.clone())
            .filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let path = self.dir.join(format!("s3-object-created-{sequencer}.json"));
        let written = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&path, serde_json::to_vec_pretty(&json)?).await
        }
        .await;
        if let Err(error) = written {
            tracing::warn!(path = %path.display(), %error, "could not record an S3 event");
        }
        self.inner.invoke(event).await
    }
}
