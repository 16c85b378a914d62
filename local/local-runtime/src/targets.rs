//! A bucket's notifications delivered to a function: the event as the JSON
//! S3 sends, through the local Lambda service; what fails every attempt
//! goes to the function's on-failure queue, sent as its role.

use std::sync::Arc;

use async_trait::async_trait;
use local_iam::{Access, Call, Conditions, Identity, KeyUse, Policy};
use local_s3_store::{
    EventTarget, FailureDestination, InvocationError, KmsKey, S3Event, event_to_json,
};

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

/// An SQS on-failure destination: Lambda sends there as the function's role,
/// which needs `sqs:SendMessage` on the queue and, for an encrypted queue,
/// `kms:GenerateDataKey` on its key (which the key policy must allow).
pub struct QueueDestination {
    pub access: Access,
    pub sender: Arc<Identity>,
    pub queue_arn: String,
    /// The queue policy, which must not deny it.
    pub policy: Option<Policy>,
    pub key: Option<KmsKey>,
    pub region: String,
}

impl FailureDestination for QueueDestination {
    fn admit(&self) -> Result<(), String> {
        let conditions = Conditions::of_caller(&self.sender);
        let send = Call {
            caller: &self.sender,
            action: "sqs:SendMessage",
            resource: &self.queue_arn,
            conditions: &conditions,
        };
        self.access
            .authorizer
            .authorize(send, self.policy.as_ref(), None)
            .map_err(|e| e.to_string())?;
        if let Some(key) = &self.key {
            let data_key = KeyUse {
                caller: &self.sender,
                conditions,
                service: "sqs",
                region: &self.region,
                action: "kms:GenerateDataKey",
                key_arn: &key.arn,
                context: ("kms:EncryptionContext:aws:sqs:arn", self.queue_arn.clone()),
            };
            self.access
                .authorizer
                .authorize_key_use(data_key, &key.policy)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
