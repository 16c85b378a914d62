//! What a local service is given to authenticate and authorize callers.

use std::fmt;
use std::sync::Arc;

use crate::authorize::Authorizer;
use crate::identity::{KeyRing, Principal};
use crate::policy::Policy;

/// Every principal's key pair and the policy evaluation shared by the
/// local services.
#[derive(Clone)]
pub struct Access {
    pub keys: Arc<KeyRing>,
    pub authorizer: Arc<Authorizer>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// A key pair a service cannot be started with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("an access key id is required (AWS_ACCESS_KEY_ID)")]
    NoAccessKey,
    #[error("a secret access key is required (AWS_SECRET_ACCESS_KEY)")]
    NoSecretKey,
}

impl Access {
    /// One key pair that may do anything, for a service started on its own.
    pub fn single_key(
        access_key_id: &str,
        secret_access_key: &str,
        account_id: &str,
    ) -> Result<Self, AccessError> {
        if access_key_id.trim().is_empty() {
            return Err(AccessError::NoAccessKey);
        }
        if secret_access_key.is_empty() {
            return Err(AccessError::NoSecretKey);
        }
        let policy = Policy::parse(
            "operator",
            &serde_json::json!({"Version": "2012-10-17",
                "Statement": [{"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        )
        .expect("a valid policy");
        let mut keys = KeyRing::new(b"unused: the key pair is given");
        keys.insert(
            Principal {
                name: "operator".to_owned(),
                principal_arn: format!("arn:aws:iam::{account_id}:user/operator"),
                role_arn: format!("arn:aws:iam::{account_id}:user/operator"),
                account: account_id.to_owned(),
                policies: vec![policy],
            },
            access_key_id,
            secret_access_key,
        );
        Ok(Self {
            keys: Arc::new(keys),
            authorizer: Arc::new(Authorizer::new()),
        })
    }
}
