//! One database per test, created on the server `DATABASE_URL` names, so
//! that tests run in parallel without seeing each other's rows.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

const DATABASE_URL: &str = "DATABASE_URL";

#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(
        "DATABASE_URL is not set; the database tests need a MySQL or MariaDB server: \
         run `scripts/database.sh up` and `set -a; . .local/database.env; set +a`, or `make test`"
    )]
    NoDatabaseUrl,
    #[error("DATABASE_URL is not a valid mysql:// URL")]
    BadDatabaseUrl,
    #[error("could not create the test database {name}: {source}")]
    Create { name: String, source: sqlx::Error },
    #[error("could not apply the migrations to {name}: {source}")]
    Migrate {
        name: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("could not drop the test database {name}: {source}")]
    Drop { name: String, source: sqlx::Error },
}

/// A database of its own on the test server, dropped when this value is
/// dropped (or explicitly with [`TestDatabase::drop_database`]).
pub struct TestDatabase {
    name: String,
    server: MySqlConnectOptions,
    pool: MySqlPool,
    dropped: bool,
}

impl TestDatabase {
    /// A fresh database named `registry_test_<random>` with the migrations applied.
    pub async fn create() -> Result<Self, TestkitError> {
        Self::create_with("registry_test", true, 10).await
    }

    /// A fresh database without any table, for testing the migrations themselves.
    pub async fn create_empty() -> Result<Self, TestkitError> {
        Self::create_with("registry_test", false, 10).await
    }

    /// A fresh database named `<prefix>_<random>`, migrated when `migrate`
    /// is set, with a pool of at most `max_connections`.
    pub async fn create_with(
        prefix: &str,
        migrate: bool,
        max_connections: u32,
    ) -> Result<Self, TestkitError> {
        let server = server_options()?;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let create_error = |source| TestkitError::Create {
            name: name.clone(),
            source,
        };
        let mut admin = server.connect().await.map_err(create_error)?;
        admin
            .execute(
                format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
                .as_str(),
            )
            .await
            .map_err(create_error)?;
        // Closing is a courtesy to the server; the database exists either way.
        let _ = admin.close().await;

        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(server.clone().database(&name));
        let database = Self {
            name,
            server,
            pool,
            dropped: false,
        };
        if migrate {
            registry_adapters::MIGRATOR
                .run(&database.pool)
                .await
                .map_err(|source| TestkitError::Migrate {
                    name: database.name.clone(),
                    source,
                })?;
        }
        Ok(database)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// A `mysql://` URL of this database, with the server's credentials
    /// (never print it).
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(std::env::var(DATABASE_URL).unwrap_or_default().trim())
            .unwrap_or_else(|_| url::Url::parse("mysql://127.0.0.1/").expect("a URL"));
        url.set_path(&format!("/{}", self.name));
        url.to_string()
    }

    /// Connection options for this database (with the server's credentials).
    pub fn connect_options(&self) -> MySqlConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// Closes the pool and drops the database.
    pub async fn drop_database(mut self) -> Result<(), TestkitError> {
        self.pool.close().await;
        self.dropped = true;
        drop_database(&self.server, &self.name).await
    }
}

impl Drop for TestDatabase {
    /// Best effort, also when a test panics: the drop runs on a thread of
    /// its own because the test's runtime may be the one shutting down.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(drop_database(&server, &name))
                .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: {error}"),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

async fn drop_database(server: &MySqlConnectOptions, name: &str) -> Result<(), TestkitError> {
    let drop_error = |source| TestkitError::Drop {
        name: name.to_owned(),
        source,
    };
    let mut admin = server.connect().await.map_err(drop_error)?;
    // A connection a failed test left inside a transaction must not block the drop for long.
    admin
        .execute("SET SESSION lock_wait_timeout = 10")
        .await
        .map_err(drop_error)?;
    admin
        .execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
        .await
        .map_err(drop_error)?;
    let _ = admin.close().await;
    Ok(())
}

/// The server of `DATABASE_URL`, without its database.
fn server_options() -> Result<MySqlConnectOptions, TestkitError> {
    let raw = std::env::var(DATABASE_URL)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or(TestkitError::NoDatabaseUrl)?;
    let mut url = url::Url::parse(raw.trim()).map_err(|_| TestkitError::BadDatabaseUrl)?;
    if !matches!(url.scheme(), "mysql" | "mariadb") {
        return Err(TestkitError::BadDatabaseUrl);
    }
    url.set_path("");
    let options =
        MySqlConnectOptions::from_str(url.as_str()).map_err(|_| TestkitError::BadDatabaseUrl)?;
    // Statement logging would drown the tests' output.
    Ok(options.disable_statement_logging())
}

/// A `mysql://` URL on 127.0.0.1 where nothing listens (a port that was
/// just bound and released), with a password that must never be shown.
pub fn closed_port_url(password: &str) -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    drop(listener);
    Ok(format!(
        "mysql://registry:{password}@127.0.0.1:{port}/registry"
    ))
}
