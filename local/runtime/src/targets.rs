//! A bucket's notifications delivered to a function: the event as the JSON
//! S3 sends, through the local Lambda service.

use std::sync::Arc;

use async_trait::async_trait;
use s3_store::{EventTarget, InvocationError, S3Event, event_to_json};

use crate::lambda::LocalFunction;

pub struct FunctionTarget(pub Arc<LocalFunction>);

#[async_trait]
impl EventTarget for FunctionTarget {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        let payload = event_to_json(event)?;
        self.0
            .invoke(payload)
            .await
            .map(drop)
            .map_err(InvocationError::function)
    }
}
