//! `authenticate-cognito`: the sign-in at the user pool's domain with the
//! rule's confidential client, the session cookie and its refresh, and the
//! `x-amzn-oidc-*` headers (the claims signed ES256 by the load balancer).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use http::{HeaderMap, StatusCode};
use local_stack::elb::CognitoAuthentication;
use local_user_pool::cookies;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};

use super::*;

/// A signed-in session, behind the session cookie.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) client_id: String,
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    pub(super) access_expires: Instant,
    /// The user info endpoint's answer.
    pub(super) claims: Map<String, Value>,
    pub(super) expires: Instant,
}

/// A sign-in under way: where to go back to.
#[derive(Debug, Clone)]
pub(super) struct Login {
    pub(super) client_id: String,
    pub(super) cookie_name: String,
    pub(super) session_timeout: Duration,
    pub(super) original: String,
    pub(super) expires: Instant,
}

/// The load balancer's own ES256 key, which signs `x-amzn-oidc-data`.
pub(super) struct DataSigner {
    pub(super) key: EcdsaKeyPair,
    pub(super) key_id: String,
    pub(super) rng: SystemRandom,
}

impl DataSigner {
    pub(super) fn generate() -> Result<Self, AlbError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| AlbError::Key(e.to_string()))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| AlbError::Key(e.to_string()))?;
        Ok(Self {
            key,
            key_id: uuid::Uuid::new_v4().to_string(),
            rng,
        })
    }

    /// The public key as `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`
    /// serves it: PEM.
    pub(super) fn public_key_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        pem::encode(&pem::Pem::new("PUBLIC KEY", der))
    }

    /// A JWT as the ALB makes it: base64url *with* padding in every part,
    /// which the ALB's documentation warns standard JWT libraries reject.
    pub(super) fn sign(&self, header: &Value, payload: &Value) -> Result<String, AlbError> {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE.encode(header.to_string()),
            URL_SAFE.encode(payload.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| AlbError::Key(e.to_string()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE.encode(signature.as_ref())
        ))
    }
}

pub(super) enum Authenticated {
    /// The headers the ALB adds for the target.
    Yes(Vec<(&'static str, String)>),
    No,
    Failed(StatusCode),
}

pub(super) async fn authenticate(
    alb: &LocalAlb,
    config: &CognitoAuthentication,
    headers: &HeaderMap,
) -> Authenticated {
    let name = format!("{}-0", config.session_cookie_name);
    let Some(id) = cookies::read(headers, &name) else {
        return Authenticated::No;
    };
    let session = {
        let mut sessions = alb
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.get(&id).cloned()
    };
    let Some(mut session) = session.filter(|s| s.client_id == config.client_id) else {
        return Authenticated::No;
    };
    if session.access_expires <= Instant::now() {
        // ELB refreshes the access token while the session lasts; a failed
        // refresh (the user signed out) sends the user to sign in again.
        match refresh(alb, config, &session).await {
            Some(refreshed) => {
                session = refreshed;
                alb.sessions
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(id, session.clone());
            }
            None => {
                alb.sessions
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&id);
                return Authenticated::No;
            }
        }
    }
    let header = json!({
        "typ": "JWT",
        "kid": alb.signer.key_id,
        "alg": "ES256",
        "iss": alb.pool.as_ref().map(|p| p.issuer().to_owned()),
        "client": config.client_id,
        "signer": alb.arn,
        "exp": now_seconds() + 120,
    });
    let data = match alb
        .signer
        .sign(&header, &Value::Object(session.claims.clone()))
    {
        Ok(data) => data,
        Err(error) => {
            tracing::error!(%error, "could not sign the user claims");
            return Authenticated::Failed(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let sub = session
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Authenticated::Yes(vec![
        ("x-amzn-oidc-accesstoken", session.access_token.clone()),
        ("x-amzn-oidc-identity", sub.to_owned()),
        ("x-amzn-oidc-data", data),
    ])
}

/// The redirect to the user pool's sign-in, remembering where to come back.
pub(super) fn start_login(
    alb: &LocalAlb,
    config: &CognitoAuthentication,
    uri: &http::Uri,
) -> Response {
    let state = random_id();
    alb.logins
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            state.clone(),
            Login {
                client_id: config.client_id.clone(),
                cookie_name: config.session_cookie_name.clone(),
                session_timeout: config.session_timeout,
                original: uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), ToString::to_string),
                expires: Instant::now() + LOGIN_LIFETIME,
            },
        );
    let mut url = match url::Url::parse(&format!("{}/oauth2/authorize", alb.sign_in)) {
        Ok(url) => url,
        Err(_) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error",
            );
        }
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", &alb.redirect_uri())
            .append_pair("scope", &config.scope)
            .append_pair("state", &state);
        for (name, value) in &config.extra_params {
            query.append_pair(name, value);
        }
    }
    found(url.as_str())
}

/// `/oauth2/idpresponse`: the code exchanged for tokens, the claims read,
/// the session opened, and back to where the person was going.
pub(super) async fn idp_response(
    alb: &LocalAlb,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let params: HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let login = params.get("state").and_then(|state| {
        alb.logins
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(state)
    });
    let Some(login) = login.filter(|l| l.expires > Instant::now()) else {
        return plain(StatusCode::UNAUTHORIZED, "401 Authorization Required");
    };
    // ELB answers 561 when the identity provider returns an error.
    if params.contains_key("error") {
        return plain(
            StatusCode::from_u16(561).unwrap_or(StatusCode::UNAUTHORIZED),
            "561 Unauthorized",
        );
    }
    let Some(code) = params.get("code") else {
        return plain(StatusCode::UNAUTHORIZED, "401 Authorization Required");
    };
    let tokens = token_request(
        alb,
        &login.client_id,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &alb.redirect_uri()),
        ],
    )
    .await;
    let tokens = match tokens {
        Ok(tokens) => tokens,
        Err(status) => return plain(status, "Authentication failed"),
    };
    // ELB: the scope must return an ID token.
    if tokens.get("id_token").and_then(Value::as_str).is_none() {
        return plain(StatusCode::UNAUTHORIZED, "401 Authorization Required");
    }
    let Some(session) =
        session_of(alb, &login.client_id, &tokens, None, login.session_timeout).await
    else {
        return plain(StatusCode::UNAUTHORIZED, "401 Authorization Required");
    };
    if session.access_token.len() + Value::Object(session.claims.clone()).to_string().len()
        > MAX_CLAIMS_BYTES
    {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        );
    }
    let id = random_id();
    alb.sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.clone(), session);
    let mut response = found(&login.original);
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let cookie = cookies::Cookie::build((format!("{}-0", login.cookie_name), id))
        .path("/")
        .http_only(true)
        .secure(true)
        .max_age(cookies::seconds(COOKIE_MAX_AGE));
    let cookie = match session_same_site(user_agent) {
        Some(same_site) => cookie.same_site(same_site),
        None => cookie,
    };
    cookies::append(&mut response, &cookie.build());
    response
}

/// The `SameSite` attribute ELB gives its session cookie: "ALB will parse
/// the user-agent header to determine if a client is using a version of
/// Chromium 80 or greater and set 'SameSite=None' attribute if they are"
/// (AWS's announcement of February 2020); other clients get none, and
/// browsers then apply their own default. So behind an ALB, Chromium sends
/// the session with cross-site requests: the functions refuse them.
fn session_same_site(user_agent: &str) -> Option<cookies::SameSite> {
    let chromium_major = user_agent
        .split(' ')
        .find_map(|product| product.strip_prefix("Chrome/"))
        .and_then(|version| version.split('.').next())
        .and_then(|major| major.parse::<u32>().ok());
    chromium_major
        .filter(|major| *major >= 80)
        .map(|_| cookies::SameSite::None)
}

/// A token endpoint request, the client authenticated with its secret.
pub(super) async fn token_request(
    alb: &LocalAlb,
    client_id: &str,
    fields: &[(&str, &str)],
) -> Result<Map<String, Value>, StatusCode> {
    let secret = alb
        .pool
        .as_ref()
        .and_then(|p| p.client_secret(client_id))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let answer = alb
        .http
        .post(format!("{}/oauth2/token", alb.sign_in))
        .basic_auth(client_id, Some(secret))
        .form(fields)
        .send()
        .await
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    if !answer.status().is_success() {
        return Err(StatusCode::from_u16(561).unwrap_or(StatusCode::UNAUTHORIZED));
    }
    answer.json().await.map_err(|_| StatusCode::UNAUTHORIZED)
}

/// A session from a token endpoint answer, with the user info it gives.
pub(super) async fn session_of(
    alb: &LocalAlb,
    client_id: &str,
    tokens: &Map<String, Value>,
    previous_refresh: Option<&str>,
    timeout: Duration,
) -> Option<Session> {
    let access_token = tokens.get("access_token")?.as_str()?.to_owned();
    let lifetime = tokens
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let answer = alb
        .http
        .get(format!("{}/oauth2/userInfo", alb.sign_in))
        .bearer_auth(&access_token)
        .send()
        .await
        .ok()
        .filter(|a| a.status().is_success())?;
    let claims: Map<String, Value> = answer.json().await.ok()?;
    Some(Session {
        client_id: client_id.to_owned(),
        access_token,
        refresh_token: tokens
            .get("refresh_token")
            .and_then(Value::as_str)
            .or(previous_refresh)
            .map(str::to_owned),
        access_expires: Instant::now() + Duration::from_secs(lifetime),
        claims,
        expires: Instant::now() + timeout,
    })
}

pub(super) async fn refresh(
    alb: &LocalAlb,
    config: &CognitoAuthentication,
    session: &Session,
) -> Option<Session> {
    let refresh_token = session.refresh_token.as_deref()?;
    let tokens = token_request(
        alb,
        &config.client_id,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
    .ok()?;
    let mut refreshed = session_of(
        alb,
        &config.client_id,
        &tokens,
        Some(refresh_token),
        Duration::ZERO,
    )
    .await?;
    // The session keeps its own end.
    refreshed.expires = session.expires;
    Some(refreshed)
}

#[cfg(test)]
mod same_site_tests {
    use super::*;

    #[test]
    fn chromium_80_and_later_get_same_site_none_and_others_nothing() {
        let chrome = |major: u32| {
            format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.4044.92 Safari/537.36"
            )
        };
        assert_eq!(
            session_same_site(&chrome(80)),
            Some(cookies::SameSite::None)
        );
        assert_eq!(
            session_same_site(&chrome(131)),
            Some(cookies::SameSite::None)
        );
        assert_eq!(session_same_site(&chrome(79)), None);
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(session_same_site(firefox), None);
        assert_eq!(session_same_site(""), None);
    }
}
