//! The optional Application Load Balancer, locally: the template's HTTPS
//! listener with its rules, in priority order, in front of the functions.
//!
//! - `forward` invokes the target group's function with the event an ALB
//!   sends a Lambda target, and makes the HTTP response of its answer
//!   (docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html):
//!   bodies over 1 MB are refused with 413, answers over 1 MB, errors and
//!   answers that are not responses give 502.
//! - `authenticate-cognito` signs people in at the user pool's domain with
//!   the rule's confidential client, as the ALB does
//!   (docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html):
//!   a redirect to `/oauth2/authorize`, the code exchanged at
//!   `/oauth2/token` with the client's secret, the claims read from
//!   `/oauth2/userInfo`, a session cookie (`AWSELBAuthSessionCookie-0`),
//!   the access token refreshed when it expires. Requests it forwards carry
//!   `x-amzn-oidc-accesstoken`, `x-amzn-oidc-identity` and
//!   `x-amzn-oidc-data` (the claims, signed ES256 by the load balancer).
//! - `fixed-response` and `redirect` answer as configured.
//!
//! Locally the listener speaks plain HTTP on a loopback port, so its
//! session cookie lacks `Secure`; everything else is as the rules say.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use local_stack::LocalStack;
use local_stack::elb::{
    Action, CognitoAuthentication, Listener, Redirect, TargetGroup, Unauthenticated,
};
use local_user_pool::{UserPool, cookies};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};

use crate::lambda::LocalLambda;

/// What an ALB passes to and takes from a Lambda target: 1 MB each way.
const MAX_LAMBDA_BYTES: usize = 1024 * 1024;
/// ELB: a sign-in must finish within 15 minutes, or the callback gets 401.
const LOGIN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// ELB: the session cookie itself lives 7 days (the session may end sooner).
const COOKIE_MAX_AGE: u64 = 7 * 24 * 3600;
/// ELB: claims and access token together larger than this give 500.
const MAX_CLAIMS_BYTES: usize = 11 * 1024;
/// The path where the user pool sends people back after signing in.
const IDP_RESPONSE: &str = "/oauth2/idpresponse";
/// P-256 public keys as DER SubjectPublicKeyInfo: this prefix, then the
/// uncompressed point (RFC 5480).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

#[derive(Debug, thiserror::Error)]
pub enum AlbError {
    #[error("{what}: {reason}")]
    Resource { what: String, reason: String },
    #[error("the load balancer's signing key: {0}")]
    Key(String),
    #[error("the load balancer's HTTP client: {0}")]
    Client(String),
}

fn resource(what: &str, reason: impl Into<String>) -> AlbError {
    AlbError::Resource {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// A signed-in session, behind the session cookie.
#[derive(Debug, Clone)]
struct Session {
    client_id: String,
    access_token: String,
    refresh_token: Option<String>,
    access_expires: Instant,
    /// The user info endpoint's answer.
    claims: Map<String, Value>,
    expires: Instant,
}

/// A sign-in under way: where to go back to.
#[derive(Debug, Clone)]
struct Login {
    client_id: String,
    cookie_name: String,
    session_timeout: Duration,
    original: String,
    expires: Instant,
}

/// The load balancer's own ES256 key, which signs `x-amzn-oidc-data`.
struct DataSigner {
    key: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl DataSigner {
    fn generate() -> Result<Self, AlbError> {
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
    fn public_key_pem(&self) -> String {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.public_key().as_ref());
        pem::encode(&pem::Pem::new("PUBLIC KEY", der))
    }

    /// A JWT as the ALB makes it: base64url *with* padding in every part,
    /// which the ALB's documentation warns standard JWT libraries reject.
    fn sign(&self, header: &Value, payload: &Value) -> Result<String, AlbError> {
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

/// The load balancer's HTTPS listener, running.
pub struct LocalAlb {
    arn: String,
    listener: Listener,
    target_groups: BTreeMap<String, TargetGroup>,
    lambda: Arc<LocalLambda>,
    pool: Option<Arc<UserPool>>,
    /// The user pool's domain, locally.
    sign_in: String,
    /// This listener's own URL.
    origin: String,
    http: reqwest::Client,
    signer: DataSigner,
    sessions: Mutex<HashMap<String, Session>>,
    logins: Mutex<HashMap<String, Login>>,
}

impl LocalAlb {
    /// The stack's load balancer, if it has one, checked as ELB checks it
    /// when the listener and target groups are created.
    pub fn of_stack(
        stack: &LocalStack,
        lambda: Arc<LocalLambda>,
        pool: Option<Arc<UserPool>>,
        sign_in: &str,
        local_addr: SocketAddr,
    ) -> Result<Option<Self>, AlbError> {
        let balancer = match stack.load_balancers.as_slice() {
            [] => return Ok(None),
            [balancer] => balancer,
            [_, more @ ..] => {
                return Err(resource(
                    &format!("{} more load balancers", more.len()),
                    "the local runtime runs one load balancer per stack",
                ));
            }
        };
        // The listener with the rules; an HTTP listener beside it only
        // redirects to it, and is not served here.
        let listener = balancer
            .listeners
            .iter()
            .find(|l| l.protocol == "HTTPS")
            .or_else(|| balancer.listeners.first())
            .ok_or_else(|| resource(&balancer.logical_id, "has no listener"))?
            .clone();
        let mut target_groups = BTreeMap::new();
        for group in &stack.target_groups {
            for function in &group.functions {
                check_invoke_permission(stack, group, function)?;
            }
            target_groups.insert(group.arn.clone(), group.clone());
        }
        let actions = listener
            .default_actions
            .iter()
            .chain(listener.rules.iter().flat_map(|r| r.actions.iter()));
        for action in actions {
            match action {
                Action::Forward { target_group_arn } => {
                    let group = target_groups.get(target_group_arn).ok_or_else(|| {
                        resource(
                            &listener.logical_id,
                            format!("no target group {target_group_arn}"),
                        )
                    })?;
                    if group.functions.len() != 1 {
                        // ELB: a Lambda target group holds one function.
                        return Err(resource(
                            &group.logical_id,
                            "a Lambda target group registers exactly one function",
                        ));
                    }
                }
                Action::AuthenticateCognito(config) => {
                    check_cognito(stack, pool.as_deref(), config)?;
                }
                Action::FixedResponse { .. } | Action::Redirect(_) => {}
            }
        }
        Ok(Some(Self {
            arn: balancer.arn.clone(),
            listener,
            target_groups,
            lambda,
            pool,
            sign_in: sign_in.to_owned(),
            origin: format!("http://{local_addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| AlbError::Client(e.to_string()))?,
            signer: DataSigner::generate()?,
            sessions: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
        }))
    }

    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(handle).with_state(self)
    }

    /// The listener's URL.
    pub fn url(&self) -> &str {
        &self.origin
    }

    /// The key that verifies `x-amzn-oidc-data`, by its key id (PEM).
    pub fn public_key(&self, key_id: &str) -> Option<String> {
        (key_id == self.signer.key_id).then(|| self.signer.public_key_pem())
    }

    fn redirect_uri(&self) -> String {
        format!("{}{IDP_RESPONSE}", self.origin)
    }

    fn has_authentication(&self) -> bool {
        self.listener
            .rules
            .iter()
            .flat_map(|r| r.actions.iter())
            .chain(self.listener.default_actions.iter())
            .any(|a| matches!(a, Action::AuthenticateCognito(_)))
    }
}

/// ELB registers a function in a target group only when the function's
/// policy lets `elasticloadbalancing.amazonaws.com` invoke it (otherwise
/// `RegisterTargets` fails with AccessDenied).
fn check_invoke_permission(
    stack: &LocalStack,
    group: &TargetGroup,
    function_arn: &str,
) -> Result<(), AlbError> {
    let function = stack.function_by_arn(function_arn).ok_or_else(|| {
        resource(
            &group.logical_id,
            format!("its target {function_arn} is not a function of the stack"),
        )
    })?;
    let allowed = stack.lambda_permissions.iter().any(|p| {
        p.principal == "elasticloadbalancing.amazonaws.com"
            && p.action == "lambda:InvokeFunction"
            && (p.function == function.name || p.function == function_arn)
            && p.source_account
                .as_ref()
                .is_none_or(|a| *a == stack.account_id)
            && p.source_arn.as_ref().is_none_or(|arn| *arn == group.arn)
    });
    if allowed {
        Ok(())
    } else {
        Err(resource(
            &group.logical_id,
            format!(
                "AccessDenied: elasticloadbalancing principal does not have permission to invoke {function_arn} from target group {} (an AWS::Lambda::Permission for elasticloadbalancing.amazonaws.com is missing)",
                group.arn
            ),
        ))
    }
}

/// An `authenticate-cognito` action names the stack's pool, its domain and
/// one of its clients, which has a secret: the ALB authenticates with it.
fn check_cognito(
    stack: &LocalStack,
    pool: Option<&UserPool>,
    config: &CognitoAuthentication,
) -> Result<(), AlbError> {
    let what = "authenticate-cognito";
    let declared = stack
        .user_pools
        .iter()
        .find(|p| p.arn == config.user_pool_arn)
        .ok_or_else(|| {
            resource(
                what,
                format!("no user pool {} in the stack", config.user_pool_arn),
            )
        })?;
    if declared.domain_prefix.as_deref() != Some(config.domain.as_str()) {
        return Err(resource(
            what,
            format!(
                "{} is not the domain of user pool {}",
                config.domain, declared.id
            ),
        ));
    }
    let pool = pool.ok_or_else(|| resource(what, "the user pool is not running"))?;
    if pool.client(&config.client_id).is_none() {
        return Err(resource(
            what,
            format!(
                "no client {} in user pool {}",
                config.client_id, declared.id
            ),
        ));
    }
    if pool.client_secret(&config.client_id).is_none() {
        return Err(resource(
            what,
            format!(
                "client {} has no secret (GenerateSecret: true); the ALB needs one",
                config.client_id
            ),
        ));
    }
    Ok(())
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html")], text).into_response()
}

fn found(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

async fn handle(
    State(alb): State<Arc<LocalAlb>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = if path == IDP_RESPONSE && alb.has_authentication() {
        idp_response(&alb, request.uri().query()).await
    } else {
        run_rules(&alb, peer, request).await
    };
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "load balancer request"
    );
    response
}

async fn run_rules(alb: &Arc<LocalAlb>, peer: SocketAddr, request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_owned();
    let actions = alb
        .listener
        .rules
        .iter()
        .find(|rule| rule.matches(&method, &path))
        .map_or(&alb.listener.default_actions, |rule| &rule.actions);
    let (mut parts, body) = request.into_parts();
    for action in actions {
        match action {
            Action::AuthenticateCognito(config) => {
                match authenticate(alb, config, &parts.headers).await {
                    Authenticated::Yes(headers) => {
                        for (name, value) in headers {
                            if let Ok(value) = HeaderValue::from_str(&value) {
                                parts.headers.insert(name, value);
                            }
                        }
                    }
                    Authenticated::No => match config.on_unauthenticated {
                        Unauthenticated::Allow => {}
                        Unauthenticated::Deny => {
                            return plain(StatusCode::UNAUTHORIZED, "401 Authorization Required");
                        }
                        Unauthenticated::Authenticate => {
                            return start_login(alb, config, &parts.uri);
                        }
                    },
                    Authenticated::Failed(status) => return plain(status, "Authentication failed"),
                }
            }
            Action::Forward { target_group_arn } => {
                let Ok(body) = axum::body::to_bytes(body, MAX_LAMBDA_BYTES).await else {
                    return plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "413 Request Entity Too Large",
                    );
                };
                return forward(alb, target_group_arn, peer, &parts, &body).await;
            }
            Action::FixedResponse {
                status,
                content_type,
                body,
            } => {
                let mut response = (
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body.clone(),
                )
                    .into_response();
                if let Some(value) = content_type
                    .as_deref()
                    .and_then(|c| HeaderValue::from_str(c).ok())
                {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                return response;
            }
            Action::Redirect(redirect) => return redirect_to(alb, redirect, &parts),
        }
    }
    // The stack model ends every rule with a terminal action.
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 Internal Server Error",
    )
}

enum Authenticated {
    /// The headers the ALB adds for the target.
    Yes(Vec<(&'static str, String)>),
    No,
    Failed(StatusCode),
}

async fn authenticate(
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
fn start_login(alb: &LocalAlb, config: &CognitoAuthentication, uri: &http::Uri) -> Response {
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
async fn idp_response(alb: &LocalAlb, query: Option<&str>) -> Response {
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
    cookies::set(
        &mut response,
        &format!("{}-0", login.cookie_name),
        &id,
        COOKIE_MAX_AGE,
    );
    response
}

/// A token endpoint request, the client authenticated with its secret.
async fn token_request(
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
async fn session_of(
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

async fn refresh(
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

/// Content types an ALB passes as text; everything else (and any body with
/// a `content-encoding`) is base64.
fn is_text(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    content_type.starts_with("text/")
        || matches!(
            content_type.as_str(),
            "application/json" | "application/javascript" | "application/xml"
        )
}

/// The event an ALB sends a Lambda target. Query parameters are passed as
/// sent, not decoded; header names in lower case; without multi-value
/// headers the last value of a repeated header or parameter wins.
fn alb_event(
    alb: &LocalAlb,
    group: &TargetGroup,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    let trace = format!(
        "Root=1-{:08x}-{}",
        now_seconds(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    for (name, value) in [
        ("x-forwarded-for", peer.ip().to_string()),
        (
            "x-forwarded-proto",
            alb.listener.protocol.to_ascii_lowercase(),
        ),
        ("x-forwarded-port", alb.listener.port.to_string()),
        ("x-amzn-trace-id", trace),
    ] {
        headers.insert(name.to_owned(), vec![value]);
    }
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    let (body, base64) = if body.is_empty() {
        (String::new(), false)
    } else if is_text(&parts.headers) {
        match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (STANDARD.encode(body), true),
        }
    } else {
        (STANDARD.encode(body), true)
    };
    let mut event = json!({
        "requestContext": {"elb": {"targetGroupArn": group.arn}},
        "httpMethod": parts.method.as_str(),
        "path": parts.uri.path(),
        "body": body,
        "isBase64Encoded": base64,
    });
    if group.multi_value_headers {
        event["multiValueHeaders"] = json!(headers);
        event["multiValueQueryStringParameters"] = json!(query);
    } else {
        let last = |map: BTreeMap<String, Vec<String>>| -> BTreeMap<String, String> {
            map.into_iter()
                .filter_map(|(k, mut v)| v.pop().map(|v| (k, v)))
                .collect()
        };
        event["headers"] = json!(last(headers));
        event["queryStringParameters"] = json!(last(query));
    }
    event
}

async fn forward(
    alb: &LocalAlb,
    target_group_arn: &str,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Response {
    let bad_gateway = || plain(StatusCode::BAD_GATEWAY, "502 Bad Gateway");
    let Some(group) = alb.target_groups.get(target_group_arn) else {
        return bad_gateway();
    };
    let Some(function) = group
        .functions
        .first()
        .and_then(|arn| alb.lambda.functions().find(|f| f.spec.arn == *arn).cloned())
    else {
        return bad_gateway();
    };
    let event = alb_event(alb, group, peer, parts, body);
    let answer = match function.invoke(event).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(function = %function.spec.logical_id, %error, "the target failed");
            return bad_gateway();
        }
    };
    if answer.to_string().len() > MAX_LAMBDA_BYTES {
        tracing::warn!(function = %function.spec.logical_id, "the target's answer is larger than 1 MB");
        return bad_gateway();
    }
    match http_response(answer, group.multi_value_headers) {
        Some(response) => response,
        None => {
            tracing::warn!(function = %function.spec.logical_id, "the target's answer is not an ALB response");
            bad_gateway()
        }
    }
}

/// The HTTP response of a Lambda target's answer; `None` when it is not
/// one. The ALB reads `multiValueHeaders` when the target group enables
/// multi-value headers, `headers` otherwise.
fn http_response(answer: Value, multi_value_headers: bool) -> Option<Response> {
    let answer: AlbTargetGroupResponse = serde_json::from_value(answer).ok()?;
    let status = StatusCode::from_u16(u16::try_from(answer.status_code).ok()?).ok()?;
    let body = match answer.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => STANDARD.decode(text).ok()?,
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        Some(_) => Vec::new(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let answer_headers = if multi_value_headers {
        &answer.multi_value_headers
    } else {
        &answer.headers
    };
    for (name, value) in answer_headers {
        // Hop-by-hop headers are the load balancer's own; it sets the length.
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "upgrade" | "content-length"
        ) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    Some(response)
}

/// A `redirect` action: each `#{...}` part is the request's own.
fn redirect_to(alb: &LocalAlb, redirect: &Redirect, parts: &http::request::Parts) -> Response {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host_only = host.split(':').next().unwrap_or_default();
    let fill = |template: &str| {
        template
            .replace("#{protocol}", &alb.listener.protocol)
            .replace("#{host}", host_only)
            .replace("#{port}", &alb.listener.port.to_string())
            .replace("#{path}", parts.uri.path().trim_start_matches('/'))
            .replace("#{query}", parts.uri.query().unwrap_or_default())
    };
    let query = fill(&redirect.query);
    let location = format!(
        "{}://{}:{}{}{}",
        fill(&redirect.protocol).to_ascii_lowercase(),
        fill(&redirect.host),
        fill(&redirect.port),
        fill(&redirect.path),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let mut response = found(&location);
    if redirect.status == 301 {
        *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_are_signed_es256_with_padded_base64url() {
        let signer = DataSigner::generate().unwrap();
        let token = signer
            .sign(
                &json!({"alg": "ES256", "kid": signer.key_id}),
                &json!({"sub": "a", "email": "ada@example.org"}),
            )
            .unwrap();
        // Verified as the ALB's documentation shows: the key by its id (PEM),
        // the signature over the header and payload as sent, padding included.
        let pem = pem::parse(signer.public_key_pem()).unwrap();
        let point = &pem.contents()[P256_SPKI_PREFIX.len()..];
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            point,
        );
        let (signed, signature) = token.rsplit_once('.').unwrap();
        key.verify(signed.as_bytes(), &URL_SAFE.decode(signature).unwrap())
            .expect("a valid signature");
        let payload = signed.split('.').nth(1).unwrap();
        assert!(payload.ends_with('='), "padded: {payload}");
        let claims: Value = serde_json::from_slice(&URL_SAFE.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["email"], "ada@example.org");
        // A changed payload fails.
        let forged = format!(
            "{}.{}",
            signed.split('.').next().unwrap(),
            URL_SAFE.encode(r#"{"sub":"b"}"#)
        );
        assert!(
            key.verify(forged.as_bytes(), &URL_SAFE.decode(signature).unwrap())
                .is_err()
        );
    }

    #[test]
    fn bodies_are_text_or_base64_as_the_alb_sends_them() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            map
        };
        assert!(is_text(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(is_text(&headers(&[("content-type", "text/html")])));
        assert!(!is_text(&headers(&[("content-type", "image/jpeg")])));
        assert!(!is_text(&headers(&[
            ("content-type", "application/json"),
            ("content-encoding", "gzip")
        ])));
    }
}
