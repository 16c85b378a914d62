//! Signing in from the command line: the pages' OAuth 2.0 authorization
//! code flow with PKCE, its code sent back to a loopback redirect (RFC 8252)
//! that the template registers for command-line tools on the user pool's
//! client (`http://localhost:8085/callback`; Cognito accepts plain HTTP for
//! `localhost` only, and matches the port exactly).

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, ExtraTokenFields, PkceCodeChallenge,
    RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, oneshot};
use url::Url;

pub const CALLBACK_PORT: u16 = 8085;
pub const REDIRECT_URI: &str = "http://localhost:8085/callback";
/// How long the browser has to come back.
const SIGN_IN_WITHIN: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the registry's sign-in settings (GET /auth/config): {0}")]
    Config(String),
    #[error("cannot listen on 127.0.0.1:{CALLBACK_PORT} for the sign-in's answer: {0}")]
    Listen(std::io::Error),
    #[error("the sign-in was refused: {0}")]
    Refused(String),
    #[error("the sign-in's answer does not belong to this sign-in (state differs)")]
    StateMismatch,
    #[error("no answer from the browser within {} minutes", SIGN_IN_WITHIN.as_secs() / 60)]
    TimedOut,
    #[error("the code could not be exchanged for tokens: {0}")]
    Exchange(String),
}

/// What `GET /auth/config` answers: where the pages sign in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInConfig {
    authorization_endpoint: String,
    token_endpoint: String,
    client_id: String,
    scope: String,
}

/// What the user pool's token endpoint adds to OAuth's answer: the ID
/// token (`openid` scope), whose e-mail the audit trail names the caller by.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

/// An OAuth client whose token answer keeps the ID token.
type OpenIdClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// What a sign-in gives: the access token the API takes, and the ID token
/// the pages send beside it (`X-Id-Token`) so that the audit trail names
/// the caller by e-mail.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub id: Option<String>,
}

/// The authorization server's answer at the redirect.
#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

type Answer = Mutex<Option<oneshot::Sender<Callback>>>;

/// Signs in at the registry whose API is at `api`: `open` is given the URL
/// the user opens in a browser; the tokens once they have signed in.
pub async fn sign_in(api: &Url, open: impl FnOnce(&Url)) -> Result<Tokens, SignInError> {
    let http = reqwest::Client::builder()
        // The token endpoint answers directly; a redirect would be an attack.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SignInError::Config(e.to_string()))?;
    let config_url = api
        .join("auth/config")
        .map_err(|e| SignInError::Config(e.to_string()))?;
    let config: SignInConfig = http
        .get(config_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| SignInError::Config(e.to_string()))?
        .json()
        .await
        .map_err(|e| SignInError::Config(e.to_string()))?;
    let invalid = |e: url::ParseError| SignInError::Config(e.to_string());
    let client = OpenIdClient::new(ClientId::new(config.client_id))
        .set_auth_uri(AuthUrl::new(config.authorization_endpoint).map_err(invalid)?)
        .set_token_uri(TokenUrl::new(config.token_endpoint).map_err(invalid)?)
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_owned()).map_err(invalid)?);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", CALLBACK_PORT))
        .await
        .map_err(SignInError::Listen)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(
            config
                .scope
                .split_whitespace()
                .map(|s| Scope::new(s.to_owned())),
        )
        .set_pkce_challenge(challenge)
        .url();

    let (answered, answer) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new()
        .route("/callback", get(callback))
        .with_state(std::sync::Arc::new(Mutex::new(Some(answered))));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    open(&authorize);
    let callback = tokio::time::timeout(SIGN_IN_WITHIN, answer).await;
    let _ = stop.send(());
    let _ = server.await;
    let callback = callback
        .map_err(|_| SignInError::TimedOut)?
        .map_err(|_| SignInError::TimedOut)?;

    if let Some(error) = callback.error {
        let detail = callback.error_description.unwrap_or_default();
        return Err(SignInError::Refused(
            format!("{error} {detail}").trim().to_owned(),
        ));
    }
    if callback.state.as_deref() != Some(state.secret().as_str()) {
        return Err(SignInError::StateMismatch);
    }
    let code = callback
        .code
        .ok_or_else(|| SignInError::Refused("no code in the answer".into()))?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .map_err(|e| SignInError::Exchange(e.to_string()))?;
    Ok(Tokens {
        access: tokens.access_token().secret().clone(),
        id: tokens.extra_fields().id_token.clone(),
    })
}

/// The browser lands here; the first answer is taken, the page says so.
async fn callback(
    State(answer): State<std::sync::Arc<Answer>>,
    Query(callback): Query<Callback>,
) -> Html<&'static str> {
    let signed_in = callback.error.is_none();
    if let Some(sender) = answer.lock().await.take() {
        let _ = sender.send(callback);
    }
    Html(if signed_in {
        "<!doctype html><title>Signed in</title><p>Signed in: you may close this tab and go back to the terminal.</p>"
    } else {
        "<!doctype html><title>Not signed in</title><p>The sign-in was refused: the terminal says why.</p>"
    })
}
