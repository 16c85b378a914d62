//! The user pool's tokens: one RS256 signing key, ID and access tokens
//! with Cognito's claims, and their verification as an API Gateway JWT
//! authorizer does it (signature, issuer, audience, expiry).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::RsaPublicKeyComponents;
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The issuer (`iss`) of local tokens, in the place of the user pool's URL.
pub const LOCAL_ISSUER: &str = "https://cognito-idp.local.invalid/face-registry-local";
/// The audience (`aud`), in the place of the user pool client id.
pub const LOCAL_AUDIENCE: &str = "face-registry-local-web";
/// The claim the handlers read the caller's groups from.
pub const GROUPS_CLAIM: &str = "cognito:groups";
/// How long a token made for a script lives, like a Cognito access token.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Tolerated clock difference when checking `exp` and `nbf`.
const CLOCK_SKEW_SECONDS: u64 = 5;
/// Cognito signs with RS256, and API Gateway's JWT authorizer accepts RSA
/// signatures only (docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html).
const RSA_BITS: usize = 2048;

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
    #[error("not a signing key: {0}")]
    InvalidKey(String),
    #[error("could not generate a signing key")]
    Generation,
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

/// Who a token is for.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn<'a> {
    pub sub: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub groups: &'a [String],
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: i64,
    /// One per sign-in; the tokens refreshed from it keep it.
    pub origin_jti: &'a str,
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Issues and verifies the pool's tokens with one RS256 key pair.
#[derive(Clone)]
pub struct TokenAuthority {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key, for ring's RSA (see [`TokenAuthority::check_signature`]).
    public_key: RsaPublicKeyComponents<Vec<u8>>,
    /// The public key's modulus and exponent, base64url.
    modulus: String,
    exponent: String,
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
    /// A new RSA signing key, as a PKCS#8 PEM document.
    pub fn generate_key() -> Result<Vec<u8>, TokenError> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), RSA_BITS)
            .map_err(|_| TokenError::Generation)?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| TokenError::Generation)?;
        Ok(pem.as_bytes().to_vec())
    }

    /// The authority of the PKCS#8 RSA key in `pem_bytes`.
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self, TokenError> {
        let text = std::str::from_utf8(pem_bytes)
            .map_err(|_| TokenError::InvalidKey("not PEM text".into()))?;
        let key = RsaPrivateKey::from_pkcs8_pem(text)
            .map_err(|e| TokenError::InvalidKey(format!("not a PKCS#8 RSA key: {e}")))?;
        let pkcs1 = key
            .to_pkcs1_der()
            .map_err(|e| TokenError::InvalidKey(e.to_string()))?;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let public_key = RsaPublicKeyComponents {
            n: key.n().to_bytes_be(),
            e: key.e().to_bytes_be(),
        };
        let modulus = b64(&public_key.n);
        let exponent = b64(&public_key.e);
        let decoding = DecodingKey::from_rsa_components(&modulus, &exponent)
            .map_err(|e| TokenError::InvalidKey(e.to_string()))?;
        let key_id = b64(&Sha256::digest(&public_key.n)[..12]);
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            decoding,
            public_key,
            modulus,
            exponent,
            key_id,
            issuer: LOCAL_ISSUER.to_owned(),
            audience: LOCAL_AUDIENCE.to_owned(),
        })
    }

    /// The public key as a JSON Web Key Set, as `/.well-known/jwks.json` serves it.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig",
            "kid": self.key_id, "n": self.modulus, "e": self.exponent,
        }]})
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
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

    /// An access token for a script acting as a member of `group`, valid
    /// for `lifetime` (`registry-local token`, `make dev-token`).
    pub fn issue(&self, group: Group, lifetime: Duration) -> Result<IssuedToken, TokenError> {
        let username = format!("local-{}", group.as_str());
        let signed_in = SignedIn {
            sub: &uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, username.as_bytes()).to_string(),
            username: &username,
            email: None,
            groups: &[group.as_str().to_owned()],
            client_id: &self.audience.clone(),
            scopes: &["openid".to_owned()],
            auth_time: chrono::Utc::now().timestamp(),
            origin_jti: &uuid::Uuid::new_v4().to_string(),
        };
        Ok(IssuedToken {
            token: self.access_token(&signed_in, lifetime)?,
            expires_in: lifetime,
        })
    }

    fn sign(&self, claims: &Value) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(TokenError::Signing)
    }

    /// An access token with Cognito's claims.
    pub fn access_token(
        &self,
        who: &SignedIn<'_>,
        lifetime: Duration,
    ) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&json!({
            "sub": who.sub,
            GROUPS_CLAIM: who.groups,
            "iss": self.issuer,
            "version": 2,
            "client_id": who.client_id,
            "origin_jti": who.origin_jti,
            "event_id": uuid::Uuid::new_v4().to_string(),
            "token_use": "access",
            "scope": who.scopes.join(" "),
            "auth_time": who.auth_time,
            "iat": now,
            "exp": now.saturating_add(seconds(lifetime)),
            "jti": uuid::Uuid::new_v4().to_string(),
            "username": who.username,
        }))
    }

    /// An ID token with Cognito's claims (`email` only with that scope).
    pub fn id_token(&self, who: &SignedIn<'_>, lifetime: Duration) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "sub": who.sub,
            GROUPS_CLAIM: who.groups,
            "iss": self.issuer,
            "cognito:username": who.username,
            "origin_jti": who.origin_jti,
            "aud": who.client_id,
            "event_id": uuid::Uuid::new_v4().to_string(),
            "token_use": "id",
            "auth_time": who.auth_time,
            "iat": now,
            "exp": now.saturating_add(seconds(lifetime)),
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let (Some(email), true) = (who.email, who.scopes.iter().any(|s| s == "email")) {
            claims["email"] = json!(email);
            claims["email_verified"] = json!(true);
        }
        self.sign(&claims)
    }

    /// The RS256 signature of `token`, checked with ring: 22 µs here
    /// (optimised), where the pure-Rust RSA of jsonwebtoken's `rust_crypto`
    /// backend took 190 µs of the 2 cores the functions share, for every
    /// request the local gateway authorizes.
    fn check_signature(&self, token: &str) -> Result<(), Rejection> {
        let invalid = || Rejection::Invalid("InvalidSignature".into());
        let (signed, signature) = token.rsplit_once('.').ok_or_else(invalid)?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| invalid())?;
        self.public_key
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &signature,
            )
            .map_err(|_| invalid())
    }

    /// Checks a token as the API Gateway JWT authorizer does and returns its
    /// claims, flattened to strings the way API Gateway passes them on.
    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, Rejection> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Rejection::Invalid(e.to_string()))?;
        if header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Err(Rejection::UnknownKey);
        }
        if header.alg != Algorithm::RS256 {
            return Err(Rejection::Invalid(format!("{:?} is not RS256", header.alg)));
        }
        self.check_signature(token)?;
        let mut validation = Validation::new(Algorithm::RS256);
        // The signature is checked above; jsonwebtoken checks the claims.
        // (Deprecated for callers that skip the check; this one does not.)
        #[allow(deprecated)]
        validation.insecure_disable_signature_validation();
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
        // `client_id` counts only when there is no `aud`.
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a == audience),
            Some(_) => false,
            None => claims.get("client_id").is_some_and(|c| c == audience),
        };
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

    fn authority() -> TokenAuthority {
        TokenAuthority::from_pem(&TokenAuthority::generate_key().unwrap()).unwrap()
    }

    #[test]
    fn the_jwks_verifies_what_the_key_signs() {
        let authority = authority();
        let token = authority
            .issue(Group::Viewers, TOKEN_LIFETIME)
            .unwrap()
            .token;
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(authority.jwks()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("the key is in the set");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    }

    #[test]
    fn issued_tokens_verify_with_flattened_groups() {
        let key = TokenAuthority::generate_key().unwrap();
        let authority = TokenAuthority::from_pem(&key).unwrap();
        let issued = authority.issue(Group::Admins, TOKEN_LIFETIME).unwrap();
        let claims = authority.verify(&issued.token).unwrap();
        assert_eq!(claims[GROUPS_CLAIM], "[admins]");
        assert_eq!(claims["iss"], LOCAL_ISSUER);
        assert_eq!(claims["token_use"], "access");
        assert!(claims["exp"].parse::<i64>().is_ok());
        // The same key verifies it again after a restart.
        let reloaded = TokenAuthority::from_pem(&key).unwrap();
        assert!(reloaded.verify(&issued.token).is_ok());
    }

    #[test]
    fn foreign_tampered_and_expired_tokens_are_refused() {
        let authority = authority();
        let other = self::authority();
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

        // HS256 under the key's id, keyed with its public modulus: the
        // algorithm-confusion forgery.
        let mut confused = Header::new(Algorithm::HS256);
        confused.kid = Some(authority.key_id.clone());
        let forged = jsonwebtoken::encode(
            &confused,
            &json!({"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": 9_999_999_999_i64}),
            &EncodingKey::from_secret(authority.modulus.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            authority.verify(&forged),
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
        let mut header = Header::new(Algorithm::RS256);
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
