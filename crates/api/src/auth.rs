//! Who is calling. Through API Gateway: the claims its JWT authorizer
//! verified and passed on. Through the ALB: the access token its
//! `authenticate-cognito` action forwards (`x-amzn-oidc-accesstoken`),
//! verified here with the user pool's signing keys, which reach the
//! functions at deploy time (they have no route to Cognito). The ALB's
//! other headers (`x-amzn-oidc-data`, user attributes signed by the ALB)
//! are not read: the groups are in the access token.
//!
//! Access tokens carry no e-mail (the pool's usernames are its subjects),
//! so the pages also send their ID token ([`ID_TOKEN_HEADER`]); verified
//! with the same keys, for the pages' client and the same subject, it names
//! the caller as an operator knows them, and the audit trail records that.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

pub const ADMINS: &str = "admins";
pub const VIEWERS: &str = "viewers";
const GROUPS_CLAIM: &str = "cognito:groups";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: Option<String>,
    /// Cognito's `username` claim (access tokens carry it).
    pub username: Option<String>,
    /// The e-mail of the ID token sent beside the access token, once verified.
    pub email: Option<String>,
    pub groups: Vec<String>,
}

impl Caller {
    pub fn is_in(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Who a rate is counted for: the token's subject (every Cognito token
    /// has one).
    pub fn rate_key(&self) -> String {
        self.subject
            .clone()
            .or_else(|| self.username.clone())
            .unwrap_or_default()
    }

    /// What this caller's reads and changes in `request` are recorded with.
    pub fn audit(&self, request: &Request) -> registry::audit::AuditContext {
        registry::audit::AuditContext {
            actor: self.actor(),
            request_id: crate::http::request_id(request),
        }
    }

    /// The caller as the audit trail records them.
    pub fn actor(&self) -> registry::audit::Actor {
        registry::audit::Actor {
            subject: self.subject.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            groups: self.groups.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("sign in to use this API")]
    Unauthenticated,
    #[error("your groups do not allow this request")]
    Forbidden,
}

/// The header the ALB forwards the signed-in user's access token in.
pub const ALB_ACCESS_TOKEN: &str = "x-amzn-oidc-accesstoken";
/// The header the pages send their ID token in, to be named by their e-mail.
pub const ID_TOKEN_HEADER: &str = "x-id-token";
/// Tolerated clock difference when checking `exp`.
const CLOCK_SKEW_SECONDS: u64 = 5;

/// Verifies tokens of the user pool (`issuer`) signed with one of its keys:
/// the access tokens the ALB forwards, the ID tokens the pages send.
#[derive(Clone)]
pub struct PoolTokens {
    keys: HashMap<String, DecodingKey>,
    issuer: String,
}

impl std::fmt::Debug for PoolTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolTokens")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the user pool's signing keys are unusable: {0}")]
pub struct KeysError(String);

/// Why a token was refused (logged; the caller sees 401, or is named by
/// subject only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("no {ALB_ACCESS_TOKEN} header")]
    Missing,
    #[error(
        "signed with key {0:?}, which is not among the user pool's keys given at deploy time (redeploy with a new SigningKeysVersion if the pool's keys changed)"
    )]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
}

type Claims = serde_json::Map<String, Value>;

impl PoolTokens {
    /// From the pool's JSON Web Key Set (RSA keys).
    pub fn new(jwks: &str, issuer: &str) -> Result<Self, KeysError> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| KeysError(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| KeysError("a key has no kid".into()))?;
            keys.insert(
                kid,
                DecodingKey::from_jwk(jwk).map_err(|e| KeysError(e.to_string()))?,
            );
        }
        if keys.is_empty() {
            return Err(KeysError("the set has no key".into()));
        }
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
        })
    }

    /// The claims of a valid access token issued to `client_id`.
    pub fn verify_access(&self, token: &str, client_id: &str) -> Result<Claims, TokenRefused> {
        let claims = self.verify(token, "access")?;
        // Access tokens name their client in `client_id`, not `aud`.
        if claims.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(TokenRefused::Invalid("issued to another client".into()));
        }
        Ok(claims)
    }

    /// The claims of a valid ID token issued to `client_id`.
    pub fn verify_id(&self, token: &str, client_id: &str) -> Result<Claims, TokenRefused> {
        let claims = self.verify(token, "id")?;
        if claims.get("aud").and_then(Value::as_str) != Some(client_id) {
            return Err(TokenRefused::Invalid("issued to another client".into()));
        }
        Ok(claims)
    }

    /// Signed by the pool, unexpired, and of `token_use`.
    fn verify(&self, token: &str, token_use: &str) -> Result<Claims, TokenRefused> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenRefused::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header.kid.unwrap_or_default();
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| TokenRefused::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = CLOCK_SKEW_SECONDS;
        // The client is checked by the caller, by the claim its kind of token uses.
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(invalid)?
            .claims;
        if claims.get("token_use").and_then(Value::as_str) != Some(token_use) {
            return Err(TokenRefused::Invalid(format!("not an {token_use} token")));
        }
        Ok(claims)
    }
}

/// Finds out who calls, through either front door, and from which site.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    /// The user pool's keys; `None` where they were not given.
    pub pool: Option<PoolTokens>,
    /// The ALB's client; `None` where there is no ALB.
    pub alb_client_id: Option<String>,
    /// The pages' client, whose ID tokens name callers by e-mail.
    pub pages_client_id: Option<String>,
    /// The one origin besides the request's own whose pages may call the API.
    pub app_origin: Option<String>,
}

impl Authenticator {
    /// Refuses a browser's request from another site (see [`crate::origin`]).
    pub fn refuse_cross_site(&self, request: &Request) -> Result<(), crate::ApiError> {
        crate::origin::refuse_cross_site(request, self.app_origin.as_deref())
    }

    /// The caller, when a front door vouches for one, named by the e-mail
    /// of the ID token sent along when it is theirs.
    pub fn caller(&self, request: &Request) -> Option<Caller> {
        let mut caller = match request.request_context_ref()? {
            RequestContext::ApiGatewayV2(_) => caller(request)?,
            RequestContext::Alb(_) => self.alb_caller(request)?,
            _ => return None,
        };
        caller.email = self.email(request, &caller);
        Some(caller)
    }

    fn alb_caller(&self, request: &Request) -> Option<Caller> {
        let (Some(tokens), Some(client_id)) = (&self.pool, &self.alb_client_id) else {
            tracing::warn!("a request came through an ALB, but no ALB token keys are configured");
            return None;
        };
        let token = request
            .headers()
            .get(ALB_ACCESS_TOKEN)
            .and_then(|v| v.to_str().ok())
            .ok_or(TokenRefused::Missing);
        match token.and_then(|token| tokens.verify_access(token, client_id)) {
            Ok(claims) => Some(Caller {
                subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
                username: claims
                    .get("username")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                email: None,
                groups: claims
                    .get(GROUPS_CLAIM)
                    .and_then(Value::as_array)
                    .map(|groups| {
                        groups
                            .iter()
                            .filter_map(|g| g.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Err(reason) => {
                tracing::info!(%reason, "the ALB's access token was refused");
                None
            }
        }
    }

    /// The e-mail of the request's ID token, if it verifies, is the pages'
    /// and names the caller's subject; nothing otherwise (the caller is
    /// then named by subject).
    fn email(&self, request: &Request, caller: &Caller) -> Option<String> {
        let token = request.headers().get(ID_TOKEN_HEADER)?.to_str().ok()?;
        let (Some(tokens), Some(client_id)) = (&self.pool, &self.pages_client_id) else {
            return None;
        };
        let claims = match tokens.verify_id(token, client_id) {
            Ok(claims) => claims,
            Err(reason) => {
                tracing::info!(%reason, "an ID token was not used to name the caller");
                return None;
            }
        };
        if claims.get("sub").and_then(Value::as_str) != caller.subject.as_deref() {
            tracing::warn!("an ID token of another subject came with the access token");
            return None;
        }
        claims
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// Requires a caller in one of `allowed`.
    pub fn require(&self, request: &Request, allowed: &[&str]) -> Result<Caller, AuthError> {
        let caller = self.caller(request).ok_or(AuthError::Unauthenticated)?;
        if caller.groups.iter().any(|g| allowed.contains(&g.as_str())) {
            Ok(caller)
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// The caller, when the API Gateway authorizer passed claims on.
fn caller(request: &Request) -> Option<Caller> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    if claims.is_empty() {
        return None;
    }
    Some(Caller {
        subject: claims.get("sub").cloned(),
        username: claims.get("username").cloned(),
        email: None,
        groups: claims
            .get(GROUPS_CLAIM)
            .map(|g| parse_groups(g))
            .unwrap_or_default(),
    })
}

/// API Gateway flattens a list claim into a string: `[admins viewers]`,
/// and a JSON array is read too. Nothing else is taken apart: Cognito's
/// group names may hold commas, quotes and brackets (never white space), so
/// a group named `x,admins` or `"admins"` is that group, not `admins`.
pub fn parse_groups(claim: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(claim) {
        return list;
    }
    let claim = claim.trim();
    let listed = claim
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(claim);
    listed.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claims_in_every_shape() {
        assert_eq!(parse_groups("[admins viewers]"), vec!["admins", "viewers"]);
        assert_eq!(parse_groups("[admins]"), vec!["admins"]);
        assert_eq!(
            parse_groups("[\"admins\",\"viewers\"]"),
            vec!["admins", "viewers"]
        );
        assert_eq!(parse_groups("viewers"), vec!["viewers"]);
        assert!(parse_groups("[]").is_empty());
        assert!(parse_groups("").is_empty());
    }

    #[test]
    fn a_group_name_with_punctuation_is_that_group() {
        assert_eq!(parse_groups("[x,admins]"), vec!["x,admins"]);
        assert_eq!(
            parse_groups("[x,admins viewers]"),
            vec!["x,admins", "viewers"]
        );
        assert_eq!(parse_groups("[\"admins\"]"), vec!["admins"], "a JSON array");
        assert_eq!(parse_groups("[\"admins\" x]"), vec!["\"admins\"", "x"]);
        assert_eq!(parse_groups("[[admins]]"), vec!["[admins]"]);
        for claim in [
            "[x,admins]",
            "[\"admins\" x]",
            "[[admins]]",
            "admins,viewers",
        ] {
            assert!(!parse_groups(claim).contains(&ADMINS.to_owned()), "{claim}");
        }
    }
}

#[cfg(test)]
mod alb_tests {
    use std::time::Duration;

    use local_user_pool::{SignedIn, TokenAuthority};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool";
    const ALB_CLIENT: &str = "alb-client";
    const PAGES_CLIENT: &str = "pages-client";

    fn key() -> &'static [u8] {
        static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        KEY.get_or_init(|| TokenAuthority::generate_key().unwrap())
    }

    fn pool() -> TokenAuthority {
        TokenAuthority::from_pem(key())
            .unwrap()
            .for_authorizer(ISSUER, ALB_CLIENT)
    }

    fn access_token(
        pool: &TokenAuthority,
        client: &str,
        groups: &[&str],
        lifetime: Duration,
    ) -> String {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        let who = SignedIn {
            sub: "0f1e2d3c",
            username: "0f1e2d3c",
            email: Some("ada@example.org"),
            groups: &groups,
            client_id: client,
            scopes: &["openid".to_owned()],
            auth_time: 0,
            origin_jti: "o",
        };
        pool.access_token(&who, lifetime).unwrap()
    }

    /// An access token that expired an hour ago.
    fn expired_token() -> String {
        let claims = json!({"sub": "s", "iss": ISSUER, "client_id": ALB_CLIENT, "token_use": "access",
            "cognito:groups": ["admins"], "exp": chrono::Utc::now().timestamp() - 3600});
        let kid = pool().key_id().to_owned();
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(kid);
        let pem = std::str::from_utf8(key()).unwrap();
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn authenticator() -> Authenticator {
        let jwks = pool().jwks().to_string();
        Authenticator {
            pool: Some(PoolTokens::new(&jwks, ISSUER).unwrap()),
            alb_client_id: Some(ALB_CLIENT.into()),
            pages_client_id: Some(PAGES_CLIENT.into()),
            app_origin: None,
        }
    }

    /// A request as the ALB hands it to a Lambda target.
    fn alb_request(token: Option<&str>) -> Request {
        alb_request_with_id_token(token, None)
    }

    fn alb_request_with_id_token(token: Option<&str>, id_token: Option<&str>) -> Request {
        let mut headers =
            json!({"host": "registry.example.org", "x-amzn-oidc-identity": "0f1e2d3c"});
        if let Some(token) = token {
            headers[ALB_ACCESS_TOKEN] = json!(token);
        }
        if let Some(token) = id_token {
            headers[ID_TOKEN_HEADER] = json!(token);
        }
        let event = json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/faces/0123456789abcdef"}},
            "httpMethod": "GET", "path": "/api/faces", "queryStringParameters": {},
            "headers": headers, "body": "", "isBase64Encoded": false,
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn the_albs_access_token_names_the_caller_and_groups() {
        let token = access_token(&pool(), ALB_CLIENT, &["viewers"], Duration::from_secs(60));
        let caller = authenticator().caller(&alb_request(Some(&token))).unwrap();
        assert_eq!(caller.groups, vec!["viewers"]);
        assert_eq!(caller.subject.as_deref(), Some("0f1e2d3c"));
        assert_eq!(
            authenticator().require(&alb_request(Some(&token)), &[ADMINS]),
            Err(AuthError::Forbidden)
        );
    }

    #[test]
    fn unverified_tokens_are_refused() {
        let auth = authenticator();
        assert_eq!(auth.caller(&alb_request(None)), None, "no token");
        let other_client =
            access_token(&pool(), "web-client", &["admins"], Duration::from_secs(60));
        assert!(matches!(
            auth.pool
                .as_ref()
                .unwrap()
                .verify_access(&other_client, ALB_CLIENT),
            Err(TokenRefused::Invalid(_))
        ));
        let expired = expired_token();
        assert!(matches!(
            auth.pool
                .as_ref()
                .unwrap()
                .verify_access(&expired, ALB_CLIENT),
            Err(TokenRefused::Invalid(_))
        ));
        let foreign = TokenAuthority::from_pem(&TokenAuthority::generate_key().unwrap())
            .unwrap()
            .for_authorizer(ISSUER, ALB_CLIENT);
        let forged = access_token(&foreign, ALB_CLIENT, &["admins"], Duration::from_secs(60));
        assert!(matches!(
            auth.pool
                .as_ref()
                .unwrap()
                .verify_access(&forged, ALB_CLIENT),
            Err(TokenRefused::UnknownKey(_))
        ));
        assert_eq!(auth.caller(&alb_request(Some(&forged))), None);
        assert_eq!(auth.caller(&alb_request(Some("not-a-token"))), None);
        // Without keys, nothing through an ALB is trusted.
        let token = access_token(&pool(), ALB_CLIENT, &["admins"], Duration::from_secs(60));
        assert_eq!(
            Authenticator::default().caller(&alb_request(Some(&token))),
            None
        );
    }

    #[test]
    fn an_id_token_is_not_an_access_token() {
        let groups = vec!["admins".to_owned()];
        let who = SignedIn {
            sub: "s",
            username: "u",
            email: None,
            groups: &groups,
            client_id: ALB_CLIENT,
            scopes: &["openid".to_owned()],
            auth_time: 0,
            origin_jti: "o",
        };
        let id = pool().id_token(&who, Duration::from_secs(60)).unwrap();
        assert_eq!(
            authenticator().pool.unwrap().verify_access(&id, ALB_CLIENT),
            Err(TokenRefused::Invalid("not an access token".into()))
        );
    }

    fn id_token(pool: &TokenAuthority, sub: &str, client: &str) -> String {
        let groups = vec!["admins".to_owned()];
        let who = SignedIn {
            sub,
            username: sub,
            email: Some("ada@example.org"),
            groups: &groups,
            client_id: client,
            scopes: &["openid".to_owned(), "email".to_owned()],
            auth_time: 0,
            origin_jti: "o",
        };
        pool.id_token(&who, Duration::from_secs(60)).unwrap()
    }

    /// The pages' ID token names the caller by e-mail, when it is theirs.
    #[test]
    fn the_pages_id_token_names_the_caller() {
        let auth = authenticator();
        let access = access_token(&pool(), ALB_CLIENT, &["admins"], Duration::from_secs(60));
        let named = |id: Option<&str>| {
            auth.caller(&alb_request_with_id_token(Some(&access), id))
                .unwrap()
                .email
        };
        let theirs = id_token(&pool(), "0f1e2d3c", PAGES_CLIENT);
        assert_eq!(named(Some(&theirs)).as_deref(), Some("ada@example.org"));
        assert_eq!(named(None), None, "no ID token: named by subject");
        // Another subject's, another client's, a forged one, an access token: not used.
        assert_eq!(
            named(Some(&id_token(&pool(), "someone-else", PAGES_CLIENT))),
            None
        );
        assert_eq!(
            named(Some(&id_token(&pool(), "0f1e2d3c", ALB_CLIENT))),
            None
        );
        let foreign = TokenAuthority::from_pem(&TokenAuthority::generate_key().unwrap())
            .unwrap()
            .for_authorizer(ISSUER, PAGES_CLIENT);
        assert_eq!(
            named(Some(&id_token(&foreign, "0f1e2d3c", PAGES_CLIENT))),
            None
        );
        assert_eq!(named(Some(&access)), None);
        // The ID token grants nothing: without an access token, no caller.
        assert_eq!(
            auth.caller(&alb_request_with_id_token(None, Some(&theirs))),
            None
        );
    }

    #[test]
    fn bad_key_sets_are_refused_at_start() {
        assert!(PoolTokens::new("{}", ISSUER).is_err());
        assert!(PoolTokens::new(r#"{"keys": []}"#, ISSUER).is_err());
        assert!(PoolTokens::new("not json", ISSUER).is_err());
    }
}
