//! Local sign-in: a signing key generated on first use, tokens shaped like
//! the Cognito ID tokens the deployed API accepts, and their verification as
//! an API Gateway JWT authorizer does it (signature, issuer, audience, expiry).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::secrets::{SecretFileError, read_or_create};

/// The issuer (`iss`) of local tokens, in the place of the user pool's URL.
pub const LOCAL_ISSUER: &str = "https://cognito-idp.local.invalid/face-registry-local";
/// The audience (`aud`), in the place of the user pool client id.
pub const LOCAL_AUDIENCE: &str = "face-registry-local-web";
/// The claim the handlers read the caller's groups from.
pub const GROUPS_CLAIM: &str = "cognito:groups";
/// How long a local token lives, like a Cognito ID token.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Tolerated clock difference when checking `exp` and `nbf`.
const CLOCK_SKEW_SECONDS: u64 = 5;
const PEM_TAG: &str = "PRIVATE KEY";

/// The groups of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Admins,
    Viewers,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Admins => "admins",
            Group::Viewers => "viewers",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown group {0:?}: expected admins or viewers")]
pub struct UnknownGroup(pub String);

impl FromStr for Group {
    type Err = UnknownGroup;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admins" => Ok(Group::Admins),
            "viewers" => Ok(Group::Viewers),
            other => Err(UnknownGroup(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    KeyFile(#[from] SecretFileError),
    #[error("could not sign a token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// Why a token was refused; the caller only ever sees "Unauthorized".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no bearer token")]
    Missing,
    #[error("the token was not signed by the local key")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token is not for this audience")]
    WrongAudience,
}

/// A token issued for a group.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: Duration,
}

/// Issues and verifies local tokens with one ES256 key pair.
pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: String,
    /// The issuer and audience the API's JWT authorizer expects.
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenAuthority {
    /// Loads the PKCS#8 key at `path`, generating it on first use (mode 600).
    pub fn load_or_create(path: &Path) -> Result<Self, TokenError> {
        let pem_bytes = read_or_create(path, || {
            let document = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| SecretFileError::Generation("signing key"))?;
            let block = pem::Pem::new(PEM_TAG, document.as_ref().to_vec());
            Ok(pem::encode(&block).into_bytes())
        })?;
        let invalid = |reason: String| SecretFileError::Invalid {
            path: path.to_owned(),
            what: "signing key",
            reason,
        };
        let parsed = pem::parse(&pem_bytes).map_err(|e| invalid(e.to_string()))?;
        if parsed.tag() != PEM_TAG {
            return Err(invalid(format!("expected a {PEM_TAG} block")).into());
        }
        let pkcs8 = parsed.contents();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| invalid(format!("not a P-256 key: {e}")))?;
        let public = pair.public_key().as_ref();
        let key_id = Sha256::digest(public)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            encoding: EncodingKey::from_ec_der(pkcs8),
            decoding: DecodingKey::from_ec_der(public),
            key_id,
            issuer: LOCAL_ISSUER.to_owned(),
            audience: LOCAL_AUDIENCE.to_owned(),
        })
    }

    /// Issues and accepts tokens for an authorizer of the template: its
    /// `issuer` (the user pool) and `audience` (the app client).
    #[must_use]
    pub fn for_authorizer(mut self, issuer: &str, audience: &str) -> Self {
        issuer.clone_into(&mut self.issuer);
        audience.clone_into(&mut self.audience);
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A token for a member of `group`, valid for `lifetime`.
    pub fn issue(&self, group: Group, lifetime: Duration) -> Result<IssuedToken, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime_seconds = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims = json!({
            "sub": uuid::Uuid::new_v4().to_string(),
            "iss": self.issuer,
            "aud": self.audience,
            "token_use": "id",
            "cognito:username": format!("local-{}", group.as_str()),
            GROUPS_CLAIM: [group.as_str()],
            "auth_time": now,
            "iat": now,
            "exp": now.saturating_add(lifetime_seconds),
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(TokenError::Signing)?;
        Ok(IssuedToken {
            token,
            expires_in: lifetime,
        })
    }

    /// Checks a token as the API Gateway JWT authorizer does and returns its
    /// claims, flattened to strings the way API Gateway passes them on.
    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, Rejection> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Rejection::Invalid(e.to_string()))?;
        if header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Err(Rejection::UnknownKey);
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = CLOCK_SKEW_SECONDS;
        validation.validate_nbf = true;
        // API Gateway accepts the audience in `aud` (ID tokens) or in
        // `client_id` (access tokens); checked below.
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|e| Rejection::Invalid(e.to_string()))?;
        let claims = data.claims;
        let audience = self.audience.as_str();
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a == audience),
            _ => false,
        } || claims.get("client_id").is_some_and(|c| c == audience);
        if !audience_ok {
            return Err(Rejection::WrongAudience);
        }
        Ok(flatten_claims(&claims))
    }
}

/// API Gateway passes claims as strings: numbers and booleans printed, and
/// lists as `[a b]`.
pub fn flatten_claims(claims: &Map<String, Value>) -> HashMap<String, String> {
    claims
        .iter()
        .map(|(name, value)| (name.clone(), flatten(value)))
        .collect()
}

fn flatten(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => value.to_string(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flatten).collect();
            format!("[{}]", items.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(dir: &tempfile::TempDir) -> TokenAuthority {
        TokenAuthority::load_or_create(&dir.path().join("key.pem")).unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_flattened_groups() {
        let dir = tempfile::tempdir().unwrap();
        let authority = authority(&dir);
        let issued = authority.issue(Group::Admins, TOKEN_LIFETIME).unwrap();
        let claims = authority.verify(&issued.token).unwrap();
        assert_eq!(claims[GROUPS_CLAIM], "[admins]");
        assert_eq!(claims["iss"], LOCAL_ISSUER);
        assert!(claims["exp"].parse::<i64>().is_ok());
        // The key survives a restart.
        let reloaded = TokenAuthority::load_or_create(&dir.path().join("key.pem")).unwrap();
        assert!(reloaded.verify(&issued.token).is_ok());
    }

    #[test]
    fn foreign_tampered_and_expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let authority = authority(&dir);
        let other_dir = tempfile::tempdir().unwrap();
        let other = TokenAuthority::load_or_create(&other_dir.path().join("key.pem")).unwrap();
        let foreign = other.issue(Group::Admins, TOKEN_LIFETIME).unwrap().token;
        assert_eq!(authority.verify(&foreign), Err(Rejection::UnknownKey));

        let token = authority
            .issue(Group::Viewers, TOKEN_LIFETIME)
            .unwrap()
            .token;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"iss":"https://cognito-idp.local.invalid/face-registry-local","aud":"face-registry-local-web","exp":9999999999,"cognito:groups":["admins"]}"#,
        );
        assert!(matches!(
            authority.verify(&parts.join(".")),
            Err(Rejection::Invalid(_))
        ));

        let expired = sign(
            &authority,
            json!({"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": 1_000}),
        );
        assert!(matches!(
            authority.verify(&expired),
            Err(Rejection::Invalid(_))
        ));
        let wrong_issuer = sign(
            &authority,
            json!({"iss": "https://elsewhere", "aud": LOCAL_AUDIENCE, "exp": 9_999_999_999_i64}),
        );
        assert!(matches!(
            authority.verify(&wrong_issuer),
            Err(Rejection::Invalid(_))
        ));
        let wrong_audience = sign(
            &authority,
            json!({"iss": LOCAL_ISSUER, "aud": "other", "exp": 9_999_999_999_i64}),
        );
        assert_eq!(
            authority.verify(&wrong_audience),
            Err(Rejection::WrongAudience)
        );
        let access_token = sign(
            &authority,
            json!({"iss": LOCAL_ISSUER, "client_id": LOCAL_AUDIENCE, "exp": 9_999_999_999_i64}),
        );
        assert!(authority.verify(&access_token).is_ok());
        assert!(matches!(
            authority.verify("not a token"),
            Err(Rejection::Invalid(_))
        ));
    }

    fn sign(authority: &TokenAuthority, claims: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(authority.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &authority.encoding).unwrap()
    }

    #[test]
    fn claims_flatten_like_api_gateway() {
        let claims = json!({"g": ["admins", "viewers"], "n": 5, "b": true, "s": "x"});
        let flat = flatten_claims(claims.as_object().unwrap());
        assert_eq!(flat["g"], "[admins viewers]");
        assert_eq!(flat["n"], "5");
        assert_eq!(flat["b"], "true");
        assert_eq!(flat["s"], "x");
    }

    #[test]
    fn groups_parse() {
        assert_eq!("admins".parse::<Group>(), Ok(Group::Admins));
        assert!(
            "root"
                .parse::<Group>()
                .unwrap_err()
                .to_string()
                .contains("admins or viewers")
        );
    }
}
