//! Connecting to the database from the configured source.

use std::str::FromStr;
use std::time::Duration;

use aws_config::SdkConfig;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};

use crate::config::DatabaseSource;

/// IAM tokens live 15 minutes; new connections need a fresh one well before.
const IAM_TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a valid MySQL URL")]
    BadUrl,
    #[error("could not read the database secret: {0}")]
    Secret(String),
    #[error("could not create an IAM database token: {0}")]
    IamToken(String),
    #[error("could not apply the migrations: {0}")]
    Migration(String),
}

/// A pool that connects lazily: a function starts even while the database
/// is down, and `/healthz` reports it.
pub async fn connect(
    source: &DatabaseSource,
    aws: &SdkConfig,
    max_connections: u32,
) -> Result<MySqlPool, DatabaseError> {
    let options = connect_options(source, aws).await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(60))
        .max_lifetime(IAM_TOKEN_REFRESH)
        .connect_lazy_with(options);
    if let DatabaseSource::Iam { .. } = source {
        let (source, aws, pool) = (source.clone(), aws.clone(), pool.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(IAM_TOKEN_REFRESH);
            every.tick().await;
            loop {
                every.tick().await;
                match connect_options(&source, &aws).await {
                    Ok(options) => pool.set_connect_options(options),
                    Err(error) => {
                        tracing::warn!(%error, "could not refresh the IAM database token")
                    }
                }
            }
        });
    }
    Ok(pool)
}

async fn connect_options(
    source: &DatabaseSource,
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
            let client = aws_sdk_secretsmanager::Client::new(aws);
            let secret = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    DatabaseError::Secret(
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            let text = secret
                .secret_string()
                .ok_or_else(|| DatabaseError::Secret("the secret holds no string".into()))?;
            let credentials: SecretCredentials = serde_json::from_str(text).map_err(|_| {
                DatabaseError::Secret("the secret is not JSON with username and password".into())
            })?;
            Ok(MySqlConnectOptions::new()
                .host(host)
                .port(*port)
                .database(name)
                .username(&credentials.username)
                .password(&credentials.password)
                .ssl_mode(MySqlSslMode::Required))
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
            let generator = aws_sdk_rds::auth_token::AuthTokenGenerator::new(
                aws_sdk_rds::auth_token::Config::builder()
                    .hostname(host)
                    .port(u64::from(*port))
                    .username(user)
                    .region(region)
                    .build()
                    .map_err(|e| DatabaseError::IamToken(e.to_string()))?,
            );
            let token = generator
                .auth_token(aws)
                .await
                .map_err(|e| DatabaseError::IamToken(e.to_string()))?;
            Ok(MySqlConnectOptions::new()
                .host(host)
                .port(*port)
                .database(name)
                .username(user)
                .password(token.as_str())
                .ssl_mode(MySqlSslMode::Required)
                // IAM tokens travel as a clear-text password, over TLS only.
                .enable_cleartext_plugin(true))
        }
    }
}

#[derive(serde::Deserialize)]
struct SecretCredentials {
    username: String,
    password: String,
}

/// Applies the embedded migrations (idempotent; sqlx takes a lock).
pub async fn migrate(pool: &MySqlPool) -> Result<(), DatabaseError> {
    crate::MIGRATOR
        .run(pool)
        .await
        .map_err(|e| DatabaseError::Migration(e.to_string()))
}
