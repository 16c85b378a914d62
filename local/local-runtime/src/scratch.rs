//! Throwaway databases on a MySQL server, for tests and isolated runs.

use sqlx::Connection;
use sqlx::mysql::MySqlConnection;

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("DATABASE_URL is not a valid mysql:// URL")]
    BadUrl,
    #[error("database name prefix {0:?} must be lower-case letters, digits and '_'")]
    BadPrefix(String),
    #[error("could not reach the database server: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("could not create database {name}: {source}")]
    Create {
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("could not drop database {name}: {source}")]
    Drop {
        name: String,
        #[source]
        source: sqlx::Error,
    },
}

/// A database created with a unique name on the server of a URL.
#[derive(Clone)]
pub struct ScratchDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl std::fmt::Debug for ScratchDatabase {
    // The URLs hold the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ScratchDatabase {
    /// Creates `<prefix>_<random>` on the server `server_url` points at.
    pub async fn create(server_url: &str, prefix: &str) -> Result<Self, ScratchError> {
        let valid_prefix = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_prefix {
            return Err(ScratchError::BadPrefix(prefix.to_owned()));
        }
        let mut url = url::Url::parse(server_url).map_err(|_| ScratchError::BadUrl)?;
        if !matches!(url.scheme(), "mysql" | "mariadb") {
            return Err(ScratchError::BadUrl);
        }
        let suffix: u64 = rand::random();
        let name = format!("{prefix}_{suffix:016x}");
        url.set_path(&format!("/{name}"));
        let mut connection = MySqlConnection::connect(server_url)
            .await
            .map_err(ScratchError::Connect)?;
        // The name is made of [a-z0-9_] only, so it needs no escaping.
        sqlx::raw_sql(&format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .execute(&mut connection)
        .await
        .map_err(|source| ScratchError::Create {
            name: name.clone(),
            source,
        })?;
        let _ = connection.close().await;
        tracing::info!(database = %name, "scratch database created");
        Ok(Self {
            server_url: server_url.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the new database (it holds the password: never print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn drop_database(self) -> Result<(), ScratchError> {
        let mut connection = MySqlConnection::connect(&self.server_url)
            .await
            .map_err(ScratchError::Connect)?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
            .execute(&mut connection)
            .await
            .map_err(|source| ScratchError::Drop {
                name: self.name.clone(),
                source,
            })?;
        let _ = connection.close().await;
        tracing::info!(database = %self.name, "scratch database dropped");
        Ok(())
    }
}
