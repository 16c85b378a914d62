//! Where the registry keeps things, and how it is watched: KMS keys and
//! their aliases, secrets, database clusters (and the master secret RDS
//! manages), collections; alarms and dashboards.

use serde_json::{Map, Value, json};

use super::reading::{Reading, truthy};
use super::{Assembly, Builder};
use crate::StackError;
use crate::intrinsics::{Resolver, scalar};
use crate::model::{
    Alarm, Collection, Dashboard, DatabaseCluster, GeneratedSecret, Key, Secret, SecretValue,
};

impl Builder<'_> {
    pub(super) fn key(&self, r: &Reading<'_>) -> Result<Key, StackError> {
        Ok(Key {
            logical_id: r.logical_id.to_owned(),
            id: r.reference(),
            arn: r.attribute("Arn"),
            policy: r
                .resolve("KeyPolicy")?
                .unwrap_or_else(|| default_key_policy(&self.settings.account_id)),
            aliases: Vec::new(),
        })
    }

    pub(super) fn secret(&self, r: &Reading<'_>) -> Result<Secret, StackError> {
        Ok(Secret {
            logical_id: r.logical_id.to_owned(),
            name: self
                .physical_name(r.logical_id, r.resource, "Name", 512)
                .map_err(|e| r.error(e))?,
            arn: r.reference(),
            kms_key: r.text("KmsKeyId")?,
            value: secret_value(r.resolver, r.properties).map_err(|e| r.error(e))?,
        })
    }
}

impl Assembly {
    /// An alias names its key; it is attached once every key is read.
    pub(super) fn key_alias(&mut self, r: &Reading<'_>) -> Result<(), StackError> {
        let target = r.text("TargetKeyId")?.unwrap_or_default();
        self.key_aliases.push((r.reference(), target));
        Ok(())
    }

    /// A cluster, and the master secret RDS keeps for it when it manages
    /// the master password.
    pub(super) fn database_cluster(&mut self, r: &Reading<'_>) -> Result<(), StackError> {
        let master_secret = r
            .flag("ManageMasterUserPassword")?
            .then(|| r.attribute("MasterUserSecret.SecretArn"));
        if let Some(arn) = &master_secret {
            let key = r
                .resolve("MasterUserSecret")?
                .and_then(|v| v.get("KmsKeyId").and_then(Value::as_str).map(str::to_owned));
            self.stack.secrets.push(Secret {
                logical_id: format!("{}.MasterUserSecret", r.logical_id),
                name: arn.rsplit(':').next().unwrap_or_default().to_owned(),
                arn: arn.clone(),
                kms_key: key,
                value: SecretValue::DatabaseMaster {
                    cluster: r.logical_id.to_owned(),
                },
            });
        }
        self.stack.database_clusters.push(DatabaseCluster {
            logical_id: r.logical_id.to_owned(),
            identifier: r.reference(),
            database: r.text("DatabaseName")?,
            master_username: r
                .text("MasterUsername")?
                .ok_or_else(|| r.invalid("MasterUsername is missing"))?,
            master_secret,
            resource_id: r.attribute("DBClusterResourceId"),
            iam_authentication: r.flag("EnableIAMDatabaseAuthentication")?,
        });
        Ok(())
    }
}

pub(super) fn collection(r: &Reading<'_>) -> Collection {
    Collection {
        logical_id: r.logical_id.to_owned(),
        id: r.reference(),
        arn: r.attribute("Arn"),
    }
}

pub(super) fn alarm(r: &Reading<'_>) -> Result<Alarm, StackError> {
    Ok(Alarm {
        logical_id: r.logical_id.to_owned(),
        name: r.reference(),
        arn: r.attribute("Arn"),
        properties: r.resolve_all()?,
    })
}

/// A dashboard; `PutDashboard` takes names of letters, digits, `-` and `_`.
pub(super) fn dashboard(r: &Reading<'_>) -> Result<Dashboard, StackError> {
    let name = r.reference();
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(r.invalid(&format!(
            "DashboardName {name:?} must be 1 to 255 letters, digits, - or _"
        )));
    }
    Ok(Dashboard {
        logical_id: r.logical_id.to_owned(),
        name,
        body: r
            .text("DashboardBody")?
            .ok_or_else(|| r.invalid("DashboardBody is required"))?,
    })
}

/// The key policy AWS gives a key created without one: the account
/// administers it through IAM.
fn default_key_policy(account: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "kms:*", "Resource": "*"}]})
}

fn secret_value(
    resolver: &Resolver<'_>,
    properties: &Map<String, Value>,
) -> Result<SecretValue, StackError> {
    if let Some(text) = properties.get("SecretString") {
        return Ok(SecretValue::Fixed(resolver.string(text, "SecretString")?));
    }
    let Some(generate) = properties.get("GenerateSecretString") else {
        return Ok(SecretValue::Generated(GeneratedSecret {
            template: None,
            key: None,
            length: 32,
            exclude_characters: String::new(),
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            exclude_numbers: false,
            include_space: false,
        }));
    };
    let generate = resolver.value(generate, "GenerateSecretString")?;
    let text = |name: &str| {
        generate
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let flag = |name: &str| generate.get(name).is_some_and(truthy);
    let length = match generate.get("PasswordLength") {
        Some(v) => scalar(v, "PasswordLength")?
            .parse()
            .ok()
            .filter(|l| (1..=4096).contains(l))
            .ok_or_else(|| StackError::Invalid("PasswordLength must be from 1 to 4096".into()))?,
        None => 32,
    };
    let template = text("SecretStringTemplate");
    let key = text("GenerateStringKey");
    if template.is_some() != key.is_some() {
        return Err(StackError::Invalid(
            "SecretStringTemplate and GenerateStringKey go together".into(),
        ));
    }
    if let Some(template) = &template
        && !serde_json::from_str::<Value>(template).is_ok_and(|v| v.is_object())
    {
        return Err(StackError::Invalid(format!(
            "SecretStringTemplate {template} is not a JSON object"
        )));
    }
    Ok(SecretValue::Generated(GeneratedSecret {
        template,
        key,
        length,
        exclude_characters: text("ExcludeCharacters").unwrap_or_default(),
        exclude_punctuation: flag("ExcludePunctuation"),
        exclude_uppercase: flag("ExcludeUppercase"),
        exclude_lowercase: flag("ExcludeLowercase"),
        exclude_numbers: flag("ExcludeNumbers"),
        include_space: flag("IncludeSpace"),
    }))
}
