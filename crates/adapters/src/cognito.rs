//! An app client's settings, applied with Cognito's `UpdateUserPoolClient`.
//!
//! `UpdateUserPoolClient` resets every setting it is not given to its
//! default (docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-updating.html),
//! so the settings are always given whole. They arrive with the names
//! `AWS::Cognito::UserPoolClient` and the API share (`CallbackURLs`,
//! `AllowedOAuthFlows`, ...); CloudFormation passes a custom resource's
//! properties as strings, so booleans and numbers are read from either.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, OAuthFlowType, PreventUserExistenceErrorTypes, TimeUnitsType,
    TokenValidityUnitsType,
};
use aws_types::SdkConfig;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SigningKeysError {
    #[error("reading the user pool's signing keys failed: {0}")]
    Read(String),
    #[error("the user pool's signing keys are not a JSON Web Key Set of RSA keys: {0}")]
    Invalid(String),
}

/// The user pool's signing keys (its JWKS at `url`), kept to what verifies
/// an RS256 token (`kid`, `kty`, `alg`, `n`, `e`), as compact JSON: they go
/// into the functions' environment, which Lambda limits to 4 KB.
pub async fn signing_keys(http: &reqwest::Client, url: &str) -> Result<String, SigningKeysError> {
    let body: Value = http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| SigningKeysError::Read(e.without_url().to_string()))?
        .json()
        .await
        .map_err(|e| SigningKeysError::Invalid(e.without_url().to_string()))?;
    let keys: Vec<Value> = body
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| SigningKeysError::Invalid("no keys".into()))?
        .iter()
        .filter(|key| key.get("kty").and_then(Value::as_str) == Some("RSA"))
        .map(|key| {
            let field = |name: &str| key.get(name).cloned().unwrap_or(Value::Null);
            serde_json::json!({
                "kid": field("kid"), "kty": "RSA", "alg": field("alg"), "n": field("n"), "e": field("e"),
            })
        })
        .collect();
    if keys.is_empty() {
        return Err(SigningKeysError::Invalid("no RSA key".into()));
    }
    Ok(serde_json::json!({ "keys": keys }).to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientSettingsError {
    #[error("the client setting {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    #[error("UpdateUserPoolClient failed: {0}")]
    Update(String),
}

fn invalid(name: &str, reason: impl Into<String>) -> ClientSettingsError {
    ClientSettingsError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// The settings, read leniently.
struct Settings<'a>(&'a Map<String, Value>);

impl Settings<'_> {
    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ClientSettingsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(name, "expected a list of strings"))
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(_) => Err(invalid(name, "expected a list of strings")),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, ClientSettingsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(name, "expected a string")),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ClientSettingsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(invalid(name, "expected true or false")),
        }
    }

    fn number(&self, name: &str) -> Result<Option<i32>, ClientSettingsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| invalid(name, "expected a whole number")),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| invalid(name, "expected a whole number")),
            Some(_) => Err(invalid(name, "expected a whole number")),
        }
    }

    fn units(&self) -> Result<Option<TokenValidityUnitsType>, ClientSettingsError> {
        let Some(units) = self.0.get("TokenValidityUnits") else {
            return Ok(None);
        };
        let units = units
            .as_object()
            .ok_or_else(|| invalid("TokenValidityUnits", "expected a map"))?;
        let unit = |name: &str| -> Result<Option<TimeUnitsType>, ClientSettingsError> {
            Settings(units)
                .string(name)?
                .map(|u| match u.as_str() {
                    "seconds" | "minutes" | "hours" | "days" => Ok(TimeUnitsType::from(u.as_str())),
                    _ => Err(invalid(
                        "TokenValidityUnits",
                        format!("{u:?} is not a unit of time"),
                    )),
                })
                .transpose()
        };
        Ok(Some(
            TokenValidityUnitsType::builder()
                .set_access_token(unit("AccessToken")?)
                .set_id_token(unit("IdToken")?)
                .set_refresh_token(unit("RefreshToken")?)
                .build(),
        ))
    }
}

/// The app clients of user pools.
#[derive(Debug, Clone)]
pub struct UserPoolClients {
    client: Client,
}

impl UserPoolClients {
    pub fn new(aws: &SdkConfig) -> Self {
        Self {
            client: Client::new(aws),
        }
    }

    /// Gives the client `settings`, whole.
    pub async fn apply(
        &self,
        pool_id: &str,
        client_id: &str,
        settings: &Map<String, Value>,
    ) -> Result<(), ClientSettingsError> {
        let s = Settings(settings);
        let flows = s
            .strings("AllowedOAuthFlows")?
            .map(|f| f.iter().map(|f| OAuthFlowType::from(f.as_str())).collect());
        let auth_flows = s.strings("ExplicitAuthFlows")?.map(|f| {
            f.iter()
                .map(|f| ExplicitAuthFlowsType::from(f.as_str()))
                .collect()
        });
        self.client
            .update_user_pool_client()
            .user_pool_id(pool_id)
            .client_id(client_id)
            .set_client_name(s.string("ClientName")?)
            .set_callback_urls(s.strings("CallbackURLs")?)
            .set_logout_urls(s.strings("LogoutURLs")?)
            .set_allowed_o_auth_flows(flows)
            .set_allowed_o_auth_scopes(s.strings("AllowedOAuthScopes")?)
            .set_allowed_o_auth_flows_user_pool_client(
                s.boolean("AllowedOAuthFlowsUserPoolClient")?,
            )
            .set_supported_identity_providers(s.strings("SupportedIdentityProviders")?)
            .set_explicit_auth_flows(auth_flows)
            .set_access_token_validity(s.number("AccessTokenValidity")?)
            .set_id_token_validity(s.number("IdTokenValidity")?)
            .set_refresh_token_validity(s.number("RefreshTokenValidity")?)
            .set_token_validity_units(s.units()?)
            .set_enable_token_revocation(s.boolean("EnableTokenRevocation")?)
            .set_prevent_user_existence_errors(
                s.string("PreventUserExistenceErrors")?
                    .map(|p| PreventUserExistenceErrorTypes::from(p.as_str())),
            )
            .send()
            .await
            .map_err(|e| {
                ClientSettingsError::Update(
                    aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        Ok(())
    }
}
