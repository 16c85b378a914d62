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

mod sign_in;
mod target;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderValue, Request, StatusCode, header};
use local_stack::LocalStack;
use local_stack::elb::{
    Action, CognitoAuthentication, Listener, Redirect, TargetGroup, Unauthenticated,
};
use local_user_pool::UserPool;

use crate::lambda::LocalLambda;
use crate::monitoring;
use local_cloudwatch::CloudWatch;

use sign_in::*;
use target::*;

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

/// The load balancer's HTTPS listener, running.
pub struct LocalAlb {
    arn: String,
    /// `app/<name>/<id>`: its metrics' `LoadBalancer` dimension.
    full_name: String,
    cloudwatch: Arc<CloudWatch>,
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
        cloudwatch: Arc<CloudWatch>,
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
            full_name: balancer
                .arn
                .split_once(":loadbalancer/")
                .map(|(_, name)| name.to_owned())
                .unwrap_or_default(),
            cloudwatch,
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
        idp_response(&alb, request.uri().query(), request.headers()).await
    } else {
        run_rules(&alb, peer, request).await
    };
    let target = response.extensions().get::<TargetAnswered>().map(|t| t.0);
    let status = response.status().as_u16();
    monitoring::alb_request(&alb.cloudwatch, &alb.full_name, status, target);
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
    use base64::engine::general_purpose::URL_SAFE;
    use http::HeaderMap;
    use serde_json::{Value, json};

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
