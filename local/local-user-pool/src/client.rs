//! An app client's settings, as `AWS::Cognito::UserPoolClient` declares
//! them and as `UpdateUserPoolClient` takes them: the two use the same names.

use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientSettings {
    #[serde(default)]
    pub client_name: String,
    #[serde(rename = "CallbackURLs", default)]
    pub callback_urls: Vec<String>,
    #[serde(rename = "LogoutURLs", default)]
    pub logout_urls: Vec<String>,
    #[serde(
        rename = "DefaultRedirectURI",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_redirect_uri: Option<String>,
    #[serde(rename = "AllowedOAuthFlows", default)]
    pub allowed_oauth_flows: Vec<String>,
    #[serde(rename = "AllowedOAuthScopes", default)]
    pub allowed_oauth_scopes: Vec<String>,
    #[serde(
        rename = "AllowedOAuthFlowsUserPoolClient",
        default,
        deserialize_with = "lenient_bool"
    )]
    pub allowed_oauth_flows_user_pool_client: bool,
    #[serde(default)]
    pub supported_identity_providers: Vec<String>,
    #[serde(default)]
    pub explicit_auth_flows: Vec<String>,
    /// Only at creation (the template); a client with a secret is confidential.
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing)]
    pub generate_secret: bool,
    #[serde(default, deserialize_with = "lenient_number")]
    pub access_token_validity: Option<u64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub id_token_validity: Option<u64>,
    #[serde(default, deserialize_with = "lenient_number")]
    pub refresh_token_validity: Option<u64>,
    #[serde(default)]
    pub token_validity_units: TokenValidityUnits,
    #[serde(default = "enabled", deserialize_with = "lenient_bool")]
    pub enable_token_revocation: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevent_user_existence_errors: Option<String>,
}

fn enabled() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenValidityUnits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

fn unit(name: Option<&str>, default: u64) -> u64 {
    match name {
        Some("seconds") => 1,
        Some("minutes") => 60,
        Some("hours") => 3600,
        Some("days") => 86_400,
        _ => default,
    }
}

impl ClientSettings {
    /// Access tokens live an hour unless the client says otherwise.
    pub fn access_token_lifetime(&self) -> Duration {
        let units = self.token_validity_units.access_token.as_deref();
        Duration::from_secs(self.access_token_validity.unwrap_or(1) * unit(units, 3600))
    }

    pub fn id_token_lifetime(&self) -> Duration {
        let units = self.token_validity_units.id_token.as_deref();
        Duration::from_secs(self.id_token_validity.unwrap_or(1) * unit(units, 3600))
    }

    /// Refresh tokens live 30 days unless the client says otherwise.
    pub fn refresh_token_lifetime(&self) -> Duration {
        let units = self.token_validity_units.refresh_token.as_deref();
        Duration::from_secs(self.refresh_token_validity.unwrap_or(30) * unit(units, 86_400))
    }

    /// Whether the code flow is enabled for this client.
    pub fn allows_code_flow(&self) -> bool {
        self.allowed_oauth_flows_user_pool_client
            && self.allowed_oauth_flows.iter().any(|f| f == "code")
            && self
                .supported_identity_providers
                .iter()
                .any(|p| p == "COGNITO")
    }
}

/// The template's booleans may arrive as strings after a `!Ref`.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) if s == "true" => Ok(true),
        serde_json::Value::String(s) if s == "false" => Ok(false),
        other => Err(de::Error::custom(format!(
            "expected a boolean, not {other}"
        ))),
    }
}

fn lenient_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("expected a whole number, not {n}"))),
        serde_json::Value::String(s) => s
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected a whole number, not {s:?}"))),
        other => Err(de::Error::custom(format!("expected a number, not {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_properties_read_as_settings() {
        let settings: ClientSettings = serde_json::from_value(serde_json::json!({
            "UserPoolId": "us-east-1_x",
            "ClientName": "api",
            "AllowedOAuthFlowsUserPoolClient": "true",
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": ["openid", "email"],
            "SupportedIdentityProviders": ["COGNITO"],
            "CallbackURLs": ["http://localhost:8085/callback"],
            "AccessTokenValidity": 60,
            "RefreshTokenValidity": "12",
            "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "hours"},
        }))
        .unwrap();
        assert!(settings.allows_code_flow());
        assert_eq!(settings.access_token_lifetime(), Duration::from_secs(3600));
        assert_eq!(settings.id_token_lifetime(), Duration::from_secs(60));
        assert_eq!(
            settings.refresh_token_lifetime(),
            Duration::from_secs(12 * 3600)
        );
        assert!(settings.enable_token_revocation);
        let bare = ClientSettings::default();
        assert!(!bare.allows_code_flow());
        assert_eq!(
            bare.refresh_token_lifetime(),
            Duration::from_secs(30 * 86_400)
        );
    }
}

/// The clients' settings as `UpdateUserPoolClient` left them, kept in a
/// file so that they outlive the process as they outlive a deploy on AWS:
/// a deploy that does not change a client leaves its settings alone. A
/// client whose template settings changed is updated by CloudFormation
/// with those settings, resetting what `UpdateUserPoolClient` set.
#[derive(Debug)]
pub(crate) struct StoredClients {
    path: std::path::PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredClient {
    /// The template's settings when it was stored.
    deployed: serde_json::Value,
    current: ClientSettings,
}

impl StoredClients {
    pub(crate) fn new(path: std::path::PathBuf) -> Self {
        Self { path }
    }

    fn read(&self) -> std::collections::BTreeMap<String, StoredClient> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The clients as they are: the template's (`deployed`), with what was
    /// set since wherever the template's client is unchanged.
    pub(crate) fn load(
        &self,
        deployed: &std::collections::BTreeMap<String, ClientSettings>,
    ) -> std::collections::BTreeMap<String, ClientSettings> {
        let stored = self.read();
        deployed
            .iter()
            .map(|(id, template)| {
                let current = match stored.get(id) {
                    Some(kept) if kept.deployed == serde_json::json!(template) => ClientSettings {
                        generate_secret: template.generate_secret,
                        ..kept.current.clone()
                    },
                    _ => template.clone(),
                };
                (id.clone(), current)
            })
            .collect()
    }

    /// Keeps the clients as they are now.
    pub(crate) fn save(
        &self,
        deployed: &std::collections::BTreeMap<String, ClientSettings>,
        current: &std::collections::BTreeMap<String, ClientSettings>,
    ) -> std::io::Result<()> {
        let stored: std::collections::BTreeMap<&String, StoredClient> = current
            .iter()
            .filter_map(|(id, settings)| {
                let template = deployed.get(id)?;
                Some((
                    id,
                    StoredClient {
                        deployed: serde_json::json!(template),
                        current: settings.clone(),
                    },
                ))
            })
            .collect();
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&self.path, serde_json::to_vec_pretty(&stored)?)
    }
}
