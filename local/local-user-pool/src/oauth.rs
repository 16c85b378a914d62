//! The endpoints a user pool domain serves, answering as Cognito does
//! (docs.aws.amazon.com/cognito/latest/developerguide/federation-endpoints.html):
//! errors at `/oauth2/authorize` go back to the client's redirect URI
//! (`invalid_request`, `unauthorized_client`, `invalid_scope`), except a
//! redirect URI the client does not list (`/error?error=redirect_mismatch`);
//! the token endpoint answers 400 `{"error": ...}`; codes are single-use and
//! live five minutes; revocation answers 200 even for an unknown token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    CODE_LIFETIME, ClientSettings, CodeGrant, PasswordChallenge, RefreshGrant, SESSION_LIFETIME,
    Session, SignedIn, User, UserPool, UserStatus, cookies, random_token,
};

const SESSION_COOKIE: &str = "cognito";
const CSRF_COOKIE: &str = "XSRF-TOKEN";
/// The message of a failed sign-in, whatever failed: it does not tell
/// whether the user exists (`PreventUserExistenceErrors`).
pub(crate) const WRONG_CREDENTIALS: &str = "Incorrect username or password.";

pub(crate) fn router() -> Router<Arc<UserPool>> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        .route("/login", get(login_page).post(login))
        .route("/oauth2/token", post(token))
        .route("/oauth2/revoke", post(revoke))
        .route("/oauth2/userInfo", get(user_info))
        .route("/logout", get(logout))
        .route("/error", get(error_page))
        .route("/{pool}/.well-known/jwks.json", get(jwks))
        .route(
            "/{pool}/.well-known/openid-configuration",
            get(openid_configuration),
        )
}

/// A request to sign in, checked against the client it names.
#[derive(Debug, Clone)]
struct Authorization {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    code_challenge: Option<String>,
}

/// Why a request to sign in is refused.
#[derive(Debug)]
enum Refusal {
    /// Shown on the domain: there is no client to send it to.
    Page(&'static str),
    /// A redirect URI the client does not list.
    RedirectMismatch(String),
    /// Sent back to the client's redirect URI.
    ToClient {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
    },
}

impl Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(message) => error_response(StatusCode::BAD_REQUEST, message),
            Refusal::RedirectMismatch(client_id) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("error", "redirect_mismatch")
                    .append_pair("client_id", &client_id)
                    .finish();
                redirect(&format!("/error?{query}"))
            }
            Refusal::ToClient {
                redirect_uri,
                state,
                error,
            } => {
                let mut pairs = vec![("error", error.to_owned())];
                if let Some(state) = state {
                    pairs.push(("state", state));
                }
                redirect(&with_query(&redirect_uri, &pairs))
            }
        }
    }
}

fn with_query(uri: &str, pairs: &[(&str, String)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    }
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Query parameters, each given at most once.
fn query_params(query: Option<&str>) -> Result<HashMap<String, String>, &'static str> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if params
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return Err("A parameter is given more than once.");
        }
    }
    Ok(params)
}

impl UserPool {
    fn check_authorization(&self, query: Option<&str>) -> Result<Authorization, Refusal> {
        let params = query_params(query).map_err(Refusal::Page)?;
        let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        let client_id = get("client_id").ok_or(Refusal::Page("client_id is missing."))?;
        let client = self
            .client(&client_id)
            .ok_or(Refusal::Page("The client does not exist."))?;
        let redirect_uri = get("redirect_uri")
            .filter(|uri| client.callback_urls.contains(uri))
            .ok_or_else(|| Refusal::RedirectMismatch(client_id.clone()))?;
        let state = get("state");
        let to_client = |error| Refusal::ToClient {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
        };
        match get("response_type").as_deref() {
            Some("code") if client.allows_code_flow() => {}
            Some("code" | "token") => return Err(to_client("unauthorized_client")),
            _ => return Err(to_client("invalid_request")),
        }
        let code_challenge = get("code_challenge");
        match (get("code_challenge_method").as_deref(), &code_challenge) {
            (None, None) | (Some("S256"), Some(_)) => {}
            _ => return Err(to_client("invalid_request")),
        }
        // Scopes the client may not have are left out; none left is an error.
        let scopes: Vec<String> = match get("scope") {
            None => client.allowed_oauth_scopes.clone(),
            Some(requested) => requested
                .split_whitespace()
                .filter(|s| client.allowed_oauth_scopes.iter().any(|a| a == s))
                .map(str::to_owned)
                .collect(),
        };
        if scopes.is_empty() {
            return Err(to_client("invalid_scope"));
        }
        Ok(Authorization {
            client_id,
            redirect_uri,
            state,
            scopes,
            code_challenge,
        })
    }

    /// The user signed in at the domain (by the session cookie), if any.
    fn session(&self, headers: &HeaderMap) -> Option<(User, i64)> {
        let id = cookies::read(headers, SESSION_COOKIE)?;
        let session = self.grants().sessions.get(&id).cloned()?;
        let user = self.users.get(&session.username)?;
        Some((user, session.auth_time))
    }

    /// Signs `user` in at the domain and sends them back to the client with a code.
    fn complete(&self, user: &User, auth_time: i64, authorization: Authorization) -> Response {
        let session_id = random_token();
        let code = uuid::Uuid::new_v4().to_string();
        {
            let mut grants = self.grants();
            grants.sessions.insert(
                session_id.clone(),
                Session {
                    username: user.username.clone(),
                    auth_time,
                    expires: Instant::now() + SESSION_LIFETIME,
                },
            );
            grants.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: authorization.client_id.clone(),
                    redirect_uri: authorization.redirect_uri.clone(),
                    username: user.username.clone(),
                    scopes: authorization.scopes.clone(),
                    code_challenge: authorization.code_challenge.clone(),
                    auth_time,
                    expires: Instant::now() + self.code_lifetime,
                },
            );
        }
        tracing::info!(user = %user.sub, client = %authorization.client_id, "signed in");
        let mut pairs = vec![("code", code)];
        if let Some(state) = authorization.state {
            pairs.push(("state", state));
        }
        let mut response = redirect(&with_query(&authorization.redirect_uri, &pairs));
        cookies::set(
            &mut response,
            SESSION_COOKIE,
            &session_id,
            SESSION_LIFETIME.as_secs(),
        );
        response
    }
}

/// `GET /oauth2/authorize`: straight back to the client with a code when
/// the browser is signed in at the domain, else to the sign-in form.
async fn authorize(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let authorization = match pool.check_authorization(query.as_deref()) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some((user, auth_time)) = pool.session(&headers) {
        return pool.complete(&user, auth_time, authorization);
    }
    redirect(&format!("/login?{}", query.unwrap_or_default()))
}

/// `GET /login`: the sign-in form.
async fn login_page(State(pool): State<Arc<UserPool>>, RawQuery(query): RawQuery) -> Response {
    match pool.check_authorization(query.as_deref()) {
        Ok(_) => form(StatusCode::OK, &Form::SignIn, None, None),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /login`: the form's answer.
async fn login(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = match pool.check_authorization(query.as_deref()) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let csrf = cookies::read(&headers, CSRF_COOKIE)
        .filter(|expected| !expected.is_empty() && expected == field("_csrf"));
    if csrf.is_none() {
        return form(
            StatusCode::FORBIDDEN,
            &Form::SignIn,
            Some("The form expired: sign in again."),
            None,
        );
    }
    // The same form is shown again: it keeps its CSRF token.
    let form = |status, kind: &Form, error: Option<&str>| form(status, kind, error, csrf.clone());
    let now = chrono::Utc::now().timestamp();
    if !field("challenge").is_empty() {
        let challenge = field("challenge").to_owned();
        let pending = pool.grants().challenges.get(&challenge).cloned();
        let Some(pending) = pending else {
            return form(
                StatusCode::BAD_REQUEST,
                &Form::SignIn,
                Some("The form expired: sign in again."),
            );
        };
        let again = Form::NewPassword(challenge.clone());
        if field("new_password") != field("confirm_password") {
            return form(StatusCode::OK, &again, Some("The passwords do not match."));
        }
        return match pool
            .users
            .set_password(&pending.username, field("new_password"))
        {
            Ok(user) => {
                pool.grants().challenges.remove(&challenge);
                tracing::info!(user = %user.sub, "temporary password replaced");
                pool.complete(&user, now, authorization)
            }
            Err(error) => form(StatusCode::OK, &again, Some(&error.to_string())),
        };
    }
    let Some(user) = pool
        .users
        .authenticate(field("username"), field("password"))
    else {
        tracing::info!(client = %authorization.client_id, "sign-in refused: wrong credentials");
        return form(StatusCode::OK, &Form::SignIn, Some(WRONG_CREDENTIALS));
    };
    match user.status {
        UserStatus::Confirmed => pool.complete(&user, now, authorization),
        UserStatus::ForceChangePassword => {
            let challenge = random_token();
            pool.grants().challenges.insert(
                challenge.clone(),
                PasswordChallenge {
                    username: user.username.clone(),
                    expires: Instant::now() + CODE_LIFETIME,
                },
            );
            form(StatusCode::OK, &Form::NewPassword(challenge), None)
        }
    }
}

enum Form {
    SignIn,
    /// The first sign-in with a temporary password: choose a new one.
    NewPassword(String),
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2430;margin:0}\
main{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0003}\
h1{font-size:1.2rem}label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #6b7585;border-radius:4px}\
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#1f5fc9;color:#fff;font-weight:600;cursor:pointer}\
.error{color:#a11;margin-top:.8rem}";

/// The sign-in form. Nothing of the request is written into the page: it
/// posts back to its own URL, which carries the sign-in request.
fn form(status: StatusCode, kind: &Form, error: Option<&str>, csrf: Option<String>) -> Response {
    let csrf = csrf.unwrap_or_else(random_token);
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let fields = match kind {
        Form::SignIn => r#"<h1>Sign in</h1>
<label for="username">E-mail</label><input id="username" name="username" type="email" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>"#
            .to_owned(),
        Form::NewPassword(challenge) => format!(
            r#"<h1>Change your password</h1><p>Please enter a new password.</p>
<input type="hidden" name="challenge" value="{}">
<label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" required autofocus>
<label for="confirm_password">Enter the new password again</label><input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>"#,
            escape(challenge)
        ),
    };
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Face Registry</title><style>{STYLE}</style></head>
<body><main><form method="post">
<input type="hidden" name="_csrf" value="{csrf}">
{fields}{error}
</form></main></body></html>"#
    );
    let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'; base-uri 'none'"
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    cookies::set(&mut response, CSRF_COOKIE, &csrf, CODE_LIFETIME.as_secs());
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · Face Registry</title></head>
<body><h1>An error was encountered with the requested page.</h1><p>{}</p></body></html>"#,
        escape(message)
    );
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    response
}

/// `GET /error`, where Cognito sends a request it cannot send back.
async fn error_page(RawQuery(query): RawQuery) -> Response {
    let params = query_params(query.as_deref()).unwrap_or_default();
    let message = match params.get("error").map(String::as_str) {
        Some("redirect_mismatch") => {
            "redirect_mismatch: the redirect URI is not one of the client's callback URLs."
        }
        _ => "The request is not valid.",
    };
    error_response(StatusCode::BAD_REQUEST, message)
}

/// A token endpoint error: 400 (401 for a client that is not one) and
/// `{"error": ...}`; Cognito answers CORS to every origin.
fn oauth_error(status: StatusCode, error: &str) -> Response {
    token_response(status, &json!({ "error": error }))
}

fn token_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// A form body's fields, each given at most once; `None` for anything else
/// (an `invalid_request`).
fn form_fields(headers: &HeaderMap, body: &[u8]) -> Option<HashMap<String, String>> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return None;
    }
    let mut fields = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if fields
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return None;
        }
    }
    Some(fields)
}

/// The client a token or revocation request comes from, authenticated as
/// Cognito authenticates it: a confidential client by its secret, in HTTP
/// Basic (`client_secret_basic`) or in the body (`client_secret_post`); a
/// public client by its id alone, and never with a secret
/// (docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html).
fn authenticated_client(
    pool: &UserPool,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Option<(String, ClientSettings)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':')
                .map(|(id, secret)| (id.to_owned(), Some(secret.to_owned())))
        });
    let (client_id, secret) = match basic {
        Some(credentials) => credentials,
        None => (
            fields.get("client_id").filter(|id| !id.is_empty())?.clone(),
            fields
                .get("client_secret")
                .filter(|s| !s.is_empty())
                .cloned(),
        ),
    };
    let client = pool.client(&client_id)?;
    let authenticated = match (pool.client_secret(&client_id), secret) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        (Some(_), None) | (None, Some(_)) => false,
        (None, None) => true,
    };
    authenticated.then_some((client_id, client))
}

/// PKCE S256: BASE64URL(SHA256(code_verifier)) is the challenge (RFC 7636).
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
            == challenge
}

/// `POST /oauth2/token`: a code (with its PKCE verifier) or a refresh token
/// for tokens.
async fn token(State(pool): State<Arc<UserPool>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
    let Some((client_id, client)) = authenticated_client(&pool, &headers, &fields) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    };
    if !client.allows_code_flow() {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    }
    let (username, scopes, auth_time, origin_jti, refresh_token) = match field("grant_type")
        .as_deref()
    {
        Some("authorization_code") => {
            let (Some(code), Some(redirect_uri)) = (field("code"), field("redirect_uri")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            // Taken out at the first attempt: a code is never used twice.
            let grant = pool.grants().codes.remove(&code);
            let Some(grant) = grant.filter(|g| g.expires > Instant::now()) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if grant.client_id != client_id || grant.redirect_uri != redirect_uri {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if let Some(challenge) = &grant.code_challenge {
                let Some(verifier) = field("code_verifier") else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
                };
                if !verifier_matches(&verifier, challenge) {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
            let refresh_token = random_token();
            let origin_jti = uuid::Uuid::new_v4().to_string();
            pool.grants().refresh_tokens.insert(
                refresh_token.clone(),
                RefreshGrant {
                    client_id: client_id.clone(),
                    username: grant.username.clone(),
                    scopes: grant.scopes.clone(),
                    auth_time: grant.auth_time,
                    origin_jti: origin_jti.clone(),
                    expires: Instant::now() + client.refresh_token_lifetime(),
                },
            );
            (
                grant.username,
                grant.scopes,
                grant.auth_time,
                origin_jti,
                Some(refresh_token),
            )
        }
        Some("refresh_token") => {
            let Some(token) = field("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let grant = pool.grants().refresh_tokens.get(&token).cloned();
            let Some(grant) = grant.filter(|g| g.client_id == client_id) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            (
                grant.username,
                grant.scopes,
                grant.auth_time,
                grant.origin_jti,
                None,
            )
        }
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let Some(user) = pool.users.get(&username) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let signed_in = SignedIn {
        sub: &user.sub,
        username: &user.username,
        email: Some(&user.email),
        groups: &user.groups,
        client_id: &client_id,
        scopes: &scopes,
        auth_time,
        origin_jti: &origin_jti,
    };
    let tokens = pool.tokens_for(&client_id);
    let lifetime = client.access_token_lifetime();
    let issued = tokens
        .access_token(&signed_in, lifetime)
        .and_then(|access| {
            // An ID token only with the openid scope.
            let id = if scopes.iter().any(|s| s == "openid") {
                Some(tokens.id_token(&signed_in, client.id_token_lifetime())?)
            } else {
                None
            };
            Ok((access, id))
        });
    let (access_token, id_token) = match issued {
        Ok(issued) => issued,
        Err(error) => {
            tracing::error!(%error, "could not sign tokens");
            return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        }
    };
    let mut body = json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    if let Some(id_token) = id_token {
        body["id_token"] = json!(id_token);
    }
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    token_response(StatusCode::OK, &body)
}

/// `POST /oauth2/revoke`: ends a refresh token (and so the sign-in it came from).
async fn revoke(State(pool): State<Arc<UserPool>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some(token) = fields.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some((client_id, client)) = authenticated_client(&pool, &headers, &fields) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !client.enable_token_revocation {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Access and ID tokens are JWTs; only refresh tokens are revoked.
    if token.split('.').count() == 3 {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_token_type");
    }
    let mut grants = pool.grants();
    if grants
        .refresh_tokens
        .get(token)
        .is_some_and(|g| g.client_id == client_id)
    {
        grants.refresh_tokens.remove(token);
        tracing::info!(client = %client_id, "refresh token revoked");
    }
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /oauth2/userInfo`: the attributes of the user an access token was
/// issued to, within its scopes (`openid` required; `email` adds the
/// e-mail). Errors as Cognito's, in `WWW-Authenticate`
/// (docs.aws.amazon.com/cognito/latest/developerguide/userinfo-endpoint.html).
async fn user_info(State(pool): State<Arc<UserPool>>, headers: HeaderMap) -> Response {
    let refuse = |status: StatusCode, challenge: &'static str| {
        let mut response = status.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    };
    const BAD_REQUEST: &str =
        r#"error="invalid_request", error_description="Bad OAuth2 request at UserInfo Endpoint""#;
    const INVALID_TOKEN: &str = r#"error="invalid_token", error_description="Access token is expired, disabled, or deleted, or the user has globally signed out.""#;
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse(StatusCode::BAD_REQUEST, BAD_REQUEST);
    };
    let claims = pool.verified_access_token(token.trim());
    let Some(claims) = claims.filter(|c| {
        c.get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
    }) else {
        return refuse(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    };
    let Some(user) = claims.get("username").and_then(|u| pool.users.get(u)) else {
        return refuse(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    };
    let mut body = json!({ "sub": user.sub, "username": user.username });
    if claims["scope"].split(' ').any(|s| s == "email") {
        // Users are created by an administrator, their e-mail verified;
        // Cognito's answer carries the flag as a string.
        body["email"] = json!(user.email);
        body["email_verified"] = json!("true");
    }
    token_response(StatusCode::OK, &body)
}

/// `GET /logout`: ends the session at the domain and goes to a sign-out URL
/// of the client (`logout_uri`), or back to the sign-in form (`redirect_uri`).
async fn logout(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(params) => params,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, message),
    };
    let Some(client) = params.get("client_id").and_then(|id| pool.client(id)) else {
        return error_response(StatusCode::BAD_REQUEST, "The client does not exist.");
    };
    let next = if let Some(logout_uri) = params.get("logout_uri") {
        if !client.logout_urls.contains(logout_uri) {
            return error_response(
                StatusCode::BAD_REQUEST,
                "The logout_uri is not one of the client's sign-out URLs.",
            );
        }
        logout_uri.clone()
    } else if params.contains_key("redirect_uri") {
        if let Err(refusal) = pool.check_authorization(query.as_deref()) {
            return refusal.into_response();
        }
        format!("/login?{}", query.unwrap_or_default())
    } else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "logout_uri or redirect_uri is missing.",
        );
    };
    if let Some(id) = cookies::read(&headers, SESSION_COOKIE) {
        pool.grants().sessions.remove(&id);
    }
    let mut response = redirect(&next);
    cookies::set(&mut response, SESSION_COOKIE, "", 0);
    response
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn public_json(value: &Value) -> Response {
    let mut response = (StatusCode::OK, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /<pool>/.well-known/jwks.json`: the keys that verify the pool's tokens.
async fn jwks(State(pool): State<Arc<UserPool>>, Path(id): Path<String>) -> Response {
    if id != pool.spec.id {
        return StatusCode::NOT_FOUND.into_response();
    }
    public_json(&pool.tokens.jwks())
}

/// `GET /<pool>/.well-known/openid-configuration`.
async fn openid_configuration(
    State(pool): State<Arc<UserPool>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if id != pool.spec.id {
        return StatusCode::NOT_FOUND.into_response();
    }
    let base = base_url(&headers);
    public_json(&json!({
        "issuer": pool.spec.issuer,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "end_session_endpoint": format!("{base}/logout"),
        "jwks_uri": format!("{base}/{id}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
    }))
}
