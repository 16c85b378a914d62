//! The endpoints a user pool domain serves, answering as Cognito does
//! (docs.aws.amazon.com/cognito/latest/developerguide/federation-endpoints.html):
//! errors at `/oauth2/authorize` go back to the client's redirect URI
//! (`invalid_request`, `unauthorized_client`, `invalid_scope`), except a
//! redirect URI the client does not list (`/error?error=redirect_mismatch`);
//! the token endpoint answers 400 `{"error": ...}`; codes are single-use and
//! live five minutes; revocation answers 200 even for an unknown token.
//!
//! The routes and the answers they share are here; signing in, the forms
//! and the token endpoint each have a file.

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

mod authorize;
mod login_form;
mod token;

use self::authorize::*;
use self::login_form::*;
use self::token::*;

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
