//! The database cluster and the stack's secrets, as creating the stack
//! makes them, and their rotation.

use std::sync::Arc;

use local_secrets_manager::{SecretKey, SecretSpec, SecretsManager};
use local_stack::{LocalStack, SecretValue};
use rand::Rng;
use serde_json::json;

use crate::rds::{LocalRds, new_password};

use super::*;

/// Rotation of the stack's database secrets, as a rotation function makes it.
pub struct Rotation {
    pub(super) stack: Arc<LocalStack>,
    pub(super) rds: LocalRds,
    pub(super) secrets: Arc<SecretsManager>,
}

impl Rotation {
    /// A new password for the secret's user, then the secret's new current
    /// value (the old one stays readable as `AWSPREVIOUS`).
    pub async fn rotate(&self, secret: &str) -> Result<(), StartError> {
        let unknown = |reason: &str| StartError::Resource {
            what: secret.to_owned(),
            reason: reason.to_owned(),
        };
        let arn = self
            .stack
            .secrets
            .iter()
            .find(|s| s.arn == secret || s.name == secret || s.logical_id == secret)
            .map(|s| s.arn.clone())
            .ok_or_else(|| unknown("is not a secret of the stack"))?;
        let current = self
            .secrets
            .current(&arn)
            .ok_or_else(|| unknown("has no value"))?;
        let mut value: serde_json::Value = serde_json::from_str(&current)
            .map_err(|_| unknown("is not a database secret (JSON)"))?;
        let user = value["username"]
            .as_str()
            .ok_or_else(|| unknown("is not a database secret (no username)"))?
            .to_owned();
        let password = new_password();
        self.rds.set_password(&user, &password).await?;
        value["password"] = json!(password);
        self.secrets.put_value(&arn, &value.to_string())?;
        tracing::info!(%user, "database secret rotated");
        Ok(())
    }
}

pub(super) fn secret_specs(stack: &LocalStack) -> Result<Vec<SecretSpec>, StartError> {
    stack
        .secrets
        .iter()
        .map(|secret| {
            Ok(SecretSpec {
                name: secret.name.clone(),
                arn: secret.arn.clone(),
                kms_key: secret
                    .kms_key
                    .as_deref()
                    .map(|arn| {
                        key_of(stack, arn).map(|k| SecretKey {
                            arn: k.arn,
                            policy: k.policy,
                        })
                    })
                    .transpose()?,
            })
        })
        .collect()
}

/// The databases and master users of the stack's clusters, and the first
/// value of every secret, as creating the stack makes them. Whether a
/// cluster's database is new.
pub(super) async fn create_database_and_secrets(
    stack: &LocalStack,
    rds: &LocalRds,
    secrets: &SecretsManager,
) -> Result<bool, StartError> {
    let mut new_cluster = false;
    for secret in &stack.secrets {
        if secrets
            .current(&secret.arn)
            .is_some_and(|current| still_fits(stack, &secret.value, &current))
        {
            continue;
        }
        let value = match &secret.value {
            SecretValue::Fixed(value) => value.clone(),
            SecretValue::Generated(rules) => generated_secret(rules),
            SecretValue::DatabaseMaster { cluster } => {
                let cluster = stack
                    .database_clusters
                    .iter()
                    .find(|c| c.logical_id == *cluster)
                    .ok_or_else(|| StartError::Resource {
                        what: secret.logical_id.clone(),
                        reason: "its cluster is not in the stack".into(),
                    })?;
                json!({"username": cluster.master_username, "password": new_password()}).to_string()
            }
        };
        secrets.put_value(&secret.arn, &value)?;
    }
    for cluster in &stack.database_clusters {
        let secret = cluster
            .master_secret
            .as_deref()
            .ok_or_else(|| StartError::Resource {
                what: cluster.logical_id.clone(),
                reason: "locally, a cluster needs ManageMasterUserPassword".into(),
            })?;
        let value: serde_json::Value = secrets
            .current(secret)
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        let database = cluster
            .database
            .as_deref()
            .ok_or_else(|| StartError::Resource {
                what: cluster.logical_id.clone(),
                reason: "locally, a cluster needs a DatabaseName".into(),
            })?;
        new_cluster |= rds
            .create_cluster(
                database,
                &cluster.master_username,
                value["password"].as_str().unwrap_or_default(),
            )
            .await?;
    }
    Ok(new_cluster)
}

/// Whether a secret's stored value still belongs to what the template
/// says (the same user), or the secret is new (another user prefix).
pub(super) fn still_fits(stack: &LocalStack, value: &SecretValue, current: &str) -> bool {
    let current: serde_json::Value = serde_json::from_str(current).unwrap_or_default();
    match value {
        SecretValue::Fixed(fixed) => {
            current == serde_json::from_str::<serde_json::Value>(fixed).unwrap_or_default()
        }
        SecretValue::Generated(rules) => match (&rules.template, &rules.key) {
            (Some(template), Some(key)) => {
                let mut expected: serde_json::Value =
                    serde_json::from_str(template).unwrap_or_default();
                expected[key] = current[key].clone();
                expected == current
            }
            _ => true,
        },
        SecretValue::DatabaseMaster { cluster } => stack
            .database_clusters
            .iter()
            .find(|c| c.logical_id == *cluster)
            .is_some_and(|c| current["username"] == c.master_username.as_str()),
    }
}

/// A value as Secrets Manager's `GenerateSecretString` makes it.
pub(super) fn generated_secret(rules: &local_stack::GeneratedSecret) -> String {
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let mut alphabet: Vec<char> = Vec::new();
    if !rules.exclude_lowercase {
        alphabet.extend('a'..='z');
    }
    if !rules.exclude_uppercase {
        alphabet.extend('A'..='Z');
    }
    if !rules.exclude_numbers {
        alphabet.extend('0'..='9');
    }
    if !rules.exclude_punctuation {
        alphabet.extend(PUNCTUATION.chars());
    }
    if rules.include_space {
        alphabet.push(' ');
    }
    alphabet.retain(|c| !rules.exclude_characters.contains(*c));
    let mut rng = rand::thread_rng();
    let password: String = (0..rules.length)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len().max(1))])
        .collect();
    match (&rules.template, &rules.key) {
        (Some(template), Some(key)) => {
            let mut value: serde_json::Value =
                serde_json::from_str(template).unwrap_or_else(|_| json!({}));
            value[key] = json!(password);
            value.to_string()
        }
        _ => password,
    }
}
