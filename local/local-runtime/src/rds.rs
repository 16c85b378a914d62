//! The stack's database cluster on the local MySQL server, as RDS makes
//! it: its database, and its master user with the password the master
//! secret holds; later, password changes as a rotation makes them.

use std::str::FromStr;

use rand::Rng;
use rand::distributions::Alphanumeric;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

#[derive(Debug, thiserror::Error)]
pub enum RdsError {
    #[error("DATABASE_URL is not a valid mysql:// URL")]
    BadUrl,
    #[error("could not reach the database server: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("{what}: {message}")]
    Statement { what: String, message: String },
    #[error("{0:?} is not a plain name (letters, digits and '_')")]
    Name(String),
}

/// A password as RDS generates them: letters and digits.
pub fn new_password() -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

fn plain(name: &str) -> Result<&str, RdsError> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(name)
    } else {
        Err(RdsError::Name(name.to_owned()))
    }
}

fn password_literal(password: &str) -> Result<String, RdsError> {
    if password.is_empty() || !password.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(RdsError::Name("<password>".to_owned()));
    }
    Ok(format!("'{password}'"))
}

/// The server's administrator, as the local stand-in for the RDS service.
#[derive(Clone)]
pub struct LocalRds {
    admin: MySqlConnectOptions,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Debug for LocalRds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRds")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl LocalRds {
    /// `url` names a user that may create databases and users with grants.
    pub fn new(url: &str) -> Result<Self, RdsError> {
        let parsed = url::Url::parse(url).map_err(|_| RdsError::BadUrl)?;
        let host = parsed.host_str().ok_or(RdsError::BadUrl)?.to_owned();
        let port = parsed.port().unwrap_or(3306);
        let admin = MySqlConnectOptions::from_str(url).map_err(|_| RdsError::BadUrl)?;
        Ok(Self { admin, host, port })
    }

    async fn run(&self, statements: &[(String, String)]) -> Result<(), RdsError> {
        let mut connection = self.admin.connect().await.map_err(RdsError::Connect)?;
        for (what, statement) in statements {
            // As text (`raw_sql` would do the same, but its future is not
            // provably `Send` where the gateway awaits it).
            connection
                .execute(statement.as_str())
                .await
                .map_err(|error| RdsError::Statement {
                    what: what.clone(),
                    message: error
                        .as_database_error()
                        .map_or_else(|| error.to_string(), |e| e.message().to_owned()),
                })?;
        }
        let _ = connection.close().await;
        Ok(())
    }

    /// The cluster's database and its master user (`password`), who may
    /// create the functions' users. Whether the database is new.
    pub async fn create_cluster(
        &self,
        database: &str,
        master: &str,
        password: &str,
    ) -> Result<bool, RdsError> {
        let (database, master, password) = (
            plain(database)?,
            plain(master)?,
            password_literal(password)?,
        );
        let mut connection = self.admin.connect().await.map_err(RdsError::Connect)?;
        let existed: Option<String> = sqlx::query_scalar(
            "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name = ?",
        )
        .bind(database)
        .fetch_optional(&mut connection)
        .await
        .map_err(RdsError::Connect)?;
        let _ = connection.close().await;
        let account = format!("'{master}'@'%'");
        self.run(&[
            (
                format!("creating database {database}"),
                format!("CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
            ),
            (
                format!("creating master user {master}"),
                format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password} REQUIRE SSL"),
            ),
            (
                format!("setting the password of {master}"),
                format!("ALTER USER {account} IDENTIFIED BY {password} REQUIRE SSL"),
            ),
            (
                format!("granting {database} to {master}"),
                format!("GRANT ALL PRIVILEGES ON `{database}`.* TO {account} WITH GRANT OPTION"),
            ),
            (
                format!("letting {master} create users"),
                format!("GRANT CREATE USER ON *.* TO {account}"),
            ),
        ])
        .await?;
        tracing::info!(%database, %master, "database cluster ready");
        Ok(existed.is_none())
    }

    /// The connections open to `database` now: the cluster's
    /// `DatabaseConnections`.
    pub async fn connections(&self, database: &str) -> Result<u64, RdsError> {
        let mut connection = self.admin.connect().await.map_err(RdsError::Connect)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.processlist WHERE db = ?")
                .bind(database)
                .fetch_one(&mut connection)
                .await
                .map_err(RdsError::Connect)?;
        let _ = connection.close().await;
        // This query's own connection names no database.
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// The server's process id, read from its pid file, when the server
    /// runs on this machine.
    pub async fn server_pid(&self) -> Option<u32> {
        let mut connection = self.admin.connect().await.ok()?;
        let file: Option<String> = sqlx::query_scalar("SELECT CAST(@@pid_file AS CHAR)")
            .fetch_one(&mut connection)
            .await
            .ok()?;
        let _ = connection.close().await;
        std::fs::read_to_string(file?).ok()?.trim().parse().ok()
    }

    /// A new password for `user`, as a rotation sets it.
    pub async fn set_password(&self, user: &str, password: &str) -> Result<(), RdsError> {
        let (user, password) = (plain(user)?, password_literal(password)?);
        self.run(&[(
            format!("setting the password of {user}"),
            format!("ALTER USER '{user}'@'%' IDENTIFIED BY {password}"),
        )])
        .await
    }

    /// Drops every user whose name starts with `prefix_` (a scratch stack's).
    pub async fn drop_users(&self, prefix: &str) -> Result<(), RdsError> {
        let prefix = plain(prefix)?;
        let mut connection = self.admin.connect().await.map_err(RdsError::Connect)?;
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(user AS CHAR) FROM mysql.user WHERE host = '%' AND user LIKE CONCAT(?, '\\_%')",
        )
        .bind(prefix)
        .fetch_all(&mut connection)
        .await
        .map_err(RdsError::Connect)?;
        let _ = connection.close().await;
        let statements: Vec<(String, String)> = users
            .iter()
            .filter_map(|user| plain(user).ok())
            .map(|user| {
                (
                    format!("dropping {user}"),
                    format!("DROP USER IF EXISTS '{user}'@'%'"),
                )
            })
            .collect();
        self.run(&statements).await
    }
}
