//! A bucket's notifications sent to an SQS queue, as S3 sends them: the
//! event's JSON as the message body, sent by the service principal
//! `s3.amazonaws.com` with the bucket and its account as the request's
//! source (`aws:SourceArn`, `aws:SourceAccount`), which the queue policy
//! must allow and, for an encrypted queue, the key policy too (S3 user
//! guide, "Granting permissions to publish event notification messages to
//! a destination"). S3 checks this when the notification is set, so a
//! stack whose policies refuse it does not deploy.

use std::sync::Arc;

use async_trait::async_trait;
use local_iam::{Access, AuthorizeError, Call, Conditions, Identity};
use local_s3_store::{EventTarget, InvocationError, S3Event, event_to_json};

use crate::sqs::Queue;

/// The name (and ARN) the S3 service calls as.
pub const S3_SERVICE: &str = "s3.amazonaws.com";

pub struct QueueTarget {
    pub queue: Arc<Queue>,
    pub access: Access,
    /// The S3 service principal.
    pub s3: Arc<Identity>,
    pub bucket_arn: String,
}

impl QueueTarget {
    /// Whether S3 may send the bucket's events to the queue.
    pub fn check(&self) -> Result<(), AuthorizeError> {
        let conditions = Conditions::new()
            .string("aws:SourceArn", self.bucket_arn.clone())
            .string("aws:SourceAccount", self.s3.account.clone())
            .boolean("aws:SecureTransport", true);
        self.queue
            .authorize(&self.access, &self.s3, "sqs:SendMessage", &conditions)?;
        if let Some(key) = &self.queue.spec.key {
            let call = Call {
                caller: &self.s3,
                action: "kms:GenerateDataKey",
                resource: &key.arn,
                conditions: &conditions,
            };
            self.access.authorizer.authorize_key(call, &key.policy)?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventTarget for QueueTarget {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        self.check().map_err(InvocationError::function)?;
        let body = serde_json::to_string(&event_to_json(event)?)?;
        self.queue
            .send(body)
            .map(drop)
            .map_err(InvocationError::function)
    }
}
