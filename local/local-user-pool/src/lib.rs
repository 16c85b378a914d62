//! A local Cognito user pool: its users, its app clients, the endpoints its
//! domain serves (`/oauth2/authorize`, `/login`, `/oauth2/token`,
//! `/oauth2/revoke`, `/oauth2/userInfo`, `/logout`), its JWKS and OpenID configuration, and the
//! part of the user pools API that a stack's custom resources call
//! (`DescribeUserPoolClient`, `UpdateUserPoolClient`, authorized by IAM).
//!
//! Tokens carry Cognito's claims and are signed RS256 with a key of the
//! pool's own; the local gateway verifies them as API Gateway's JWT
//! authorizer does. The pages and command-line tools sign in with the
//! authorization code flow and PKCE, as they do against Cognito.

mod admin;
pub mod api;
pub mod client;
pub mod cookies;
mod oauth;
pub mod tokens;
pub mod users;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use local_iam::Access;
use tokio::net::TcpListener;

pub use client::ClientSettings;
use client::StoredClients;
pub use tokens::{Group, IssuedToken, Rejection, SignedIn, TokenAuthority, TokenError};
pub use users::{PasswordPolicy, User, UserError, UserStatus, Users};

/// How long an authorization code may be exchanged: five minutes, as in
/// Cognito (docs.aws.amazon.com/cognito/latest/developerguide/authorization-endpoint.html).
pub const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// How long a sign-in session at the domain lasts (Cognito: one hour).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// The pool as the stack declares it.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub id: String,
    pub arn: String,
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    pub region: String,
    pub groups: Vec<String>,
    pub password_policy: PasswordPolicy,
    /// Client id → its settings as the template creates the client.
    pub clients: BTreeMap<String, ClientSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("{0}")]
    Users(#[from] UserError),
    #[error("the pool's signing key: {0}")]
    Key(#[from] TokenError),
    #[error("the sign-in endpoints cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("refusing to listen on {0}: the user pool only listens on loopback addresses")]
    NotLoopback(SocketAddr),
}

/// A code issued at sign-in, waiting for the client to exchange it.
#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    username: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    expires: Instant,
}

/// A refresh token and what it may be exchanged for.
#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    username: String,
    scopes: Vec<String>,
    auth_time: i64,
    origin_jti: String,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct Session {
    username: String,
    auth_time: i64,
    expires: Instant,
}

/// A user who signed in with a temporary password and must choose a new one.
#[derive(Debug, Clone)]
struct PasswordChallenge {
    username: String,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Grants {
    codes: HashMap<String, CodeGrant>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    sessions: HashMap<String, Session>,
    challenges: HashMap<String, PasswordChallenge>,
}

impl Grants {
    fn forget_expired(&mut self) {
        let now = Instant::now();
        self.codes.retain(|_, g| g.expires > now);
        self.refresh_tokens.retain(|_, g| g.expires > now);
        self.sessions.retain(|_, s| s.expires > now);
        self.challenges.retain(|_, c| c.expires > now);
    }
}

/// The user pool, serving its domain and its API.
pub struct UserPool {
    spec: PoolSpec,
    clients: RwLock<BTreeMap<String, ClientSettings>>,
    stored_clients: StoredClients,
    /// The secrets of confidential clients (`GenerateSecret`), made when
    /// the pool opens: only this process's clients (the local ALB) use them.
    client_secrets: BTreeMap<String, String>,
    users: Users,
    /// The pool's signing key (its JWKS); see `tokens_for`.
    tokens: TokenAuthority,
    grants: Mutex<Grants>,
    access: Access,
    code_lifetime: Duration,
}

impl std::fmt::Debug for UserPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPool")
            .field("id", &self.spec.id)
            .finish_non_exhaustive()
    }
}

/// A random token: 256 bits, base64url.
fn random_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl UserPool {
    /// The pool of `spec`, its users kept in `users_file`, its tokens signed
    /// with the key in `signing_key` (PKCS#8 PEM), and its API authorized
    /// by `access`.
    pub fn open(
        spec: PoolSpec,
        users_file: &Path,
        signing_key: &[u8],
        access: Access,
    ) -> Result<Self, PoolError> {
        let users = Users::open(
            users_file,
            spec.groups.clone(),
            spec.password_policy.clone(),
        )?;
        // Its issuer and audience are set per client, in `tokens_for`.
        let tokens = TokenAuthority::from_pem(signing_key)?;
        let client_secrets = spec
            .clients
            .iter()
            .filter(|(_, client)| client.generate_secret)
            .map(|(id, _)| (id.clone(), random_token()))
            .collect();
        // Beside the users: the clients as the last deploy left them.
        let stored_clients = StoredClients::new(users_file.with_file_name("clients.json"));
        Ok(Self {
            clients: RwLock::new(stored_clients.load(&spec.clients)),
            stored_clients,
            client_secrets,
            spec,
            users,
            tokens,
            grants: Mutex::new(Grants::default()),
            access,
            code_lifetime: CODE_LIFETIME,
        })
    }

    /// Codes expire sooner (tests of an expired code).
    #[must_use]
    pub fn with_code_lifetime(mut self, lifetime: Duration) -> Self {
        self.code_lifetime = lifetime;
        self
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn issuer(&self) -> &str {
        &self.spec.issuer
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    /// The pool's tokens, accepted for `audience` (an app client id).
    pub fn tokens_for(&self, audience: &str) -> TokenAuthority {
        self.tokens
            .clone()
            .for_authorizer(&self.spec.issuer, audience)
    }

    /// A client's settings as they are now (after any update).
    pub fn client(&self, client_id: &str) -> Option<ClientSettings> {
        self.clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(client_id)
            .cloned()
    }

    /// The claims of an access token this pool issued to one of its
    /// clients, still valid; `None` for anything else.
    pub fn verified_access_token(&self, token: &str) -> Option<HashMap<String, String>> {
        let clients: Vec<String> = self
            .clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        clients
            .iter()
            .find_map(|client| self.tokens_for(client).verify(token).ok())
            .filter(|claims| claims.get("token_use").is_some_and(|u| u == "access"))
    }

    /// A confidential client's secret, as `DescribeUserPoolClient` gives it.
    pub fn client_secret(&self, client_id: &str) -> Option<&str> {
        self.client_secrets.get(client_id).map(String::as_str)
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        let mut grants = self
            .grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.forget_expired();
        grants
    }

    /// Serves the domain's endpoints and the API on `listener` until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), PoolError> {
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            return Err(PoolError::NotLoopback(address));
        }
        tracing::info!(%address, pool = %self.spec.id, "user pool listening");
        let router = oauth::router().merge(api::router()).with_state(self);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}
