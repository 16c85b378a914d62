//! The functions' database users: each signs in as a user of its own with
//! only the grants it needs. The migrate function, signed in as the master
//! user, creates them and sets their grants on every run.

use aws_config::SdkConfig;
use sqlx::Executor;
use sqlx::mysql::MySqlConnection;

use crate::config::{AppRole, AppUser, AppUserAuth};
use crate::database::{DatabaseError, read_secret};

/// The tables each function touches, and how.
fn grants(role: AppRole) -> &'static [(&'static str, &'static str)] {
    match role {
        // Creates people, marks them pending again, renames them, resolves
        // possible duplicates (remembering pairs of different people), and
        // erases them: the erasure recorded first, the rows locked FOR
        // UPDATE, then the person's row, faces, retired faces and pairs
        // removed and the receipt kept (a DELETE with a WHERE needs SELECT
        // too). Remembers enrolments' idempotency keys for a day, and a
        // photo's move to the key of corrected names until it is done. Each
        // change is appended to the audit trail, which nobody may change.
        AppRole::Upload => &[
            ("person", "SELECT, INSERT, UPDATE, DELETE"),
            ("person_face", "SELECT, DELETE"),
            ("retired_face", "SELECT, DELETE"),
            ("erasure", "SELECT, INSERT, UPDATE"),
            ("distinct_pair", "SELECT, INSERT, DELETE"),
            ("upload_request", "SELECT, INSERT, DELETE"),
            ("key_move", "SELECT, INSERT, DELETE"),
            ("audit_event", "INSERT"),
        ],
        // Reads people, their faces and the audit trail, and records
        // searches, reads and exports in it. Counts each caller's searches
        // (their rate limit), forgetting the past minutes.
        AppRole::Faces => &[
            ("person", "SELECT"),
            ("person_face", "SELECT"),
            ("audit_event", "SELECT, INSERT"),
            ("call_count", "SELECT, INSERT, UPDATE, DELETE"),
        ],
        // Signs in and reads; a user needs some grant on the database to use it.
        AppRole::Health => &[("person", "SELECT")],
        // Records outcomes (rows locked FOR UPDATE), retires faces, keeps
        // every face recorded, and appends each outcome to the audit trail.
        // It reads erasures so as never to record an erased person again,
        // and the pairs resolved as different people (the duplicate guard).
        AppRole::Indexer => &[
            ("person", "SELECT, INSERT, UPDATE"),
            ("retired_face", "SELECT, INSERT, DELETE"),
            ("person_face", "INSERT"),
            ("erasure", "SELECT"),
            ("distinct_pair", "SELECT"),
            ("audit_event", "INSERT"),
        ],
        // Compares the table with the collection and the bucket: reads who
        // records which face and key, sweeps retired faces, records people
        // whose photo never came or is gone as rejected (retiring their
        // face), and finishes erasures and photos' moves to a corrected
        // name's key (as the upload function does). It remembers what it
        // found between runs, and where its scans stand.
        AppRole::Reconcile => &[
            ("person", "SELECT, UPDATE, DELETE"),
            ("person_face", "SELECT, DELETE"),
            ("retired_face", "SELECT, INSERT, DELETE"),
            ("erasure", "SELECT, UPDATE"),
            ("distinct_pair", "SELECT, DELETE"),
            ("drift_sighting", "SELECT, INSERT, UPDATE, DELETE"),
            ("reconcile_checkpoint", "SELECT, INSERT, UPDATE"),
            ("key_move", "SELECT, DELETE"),
            ("audit_event", "INSERT"),
        ],
    }
}

/// The server the statements are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// MySQL 8 and Aurora MySQL 3 (IAM authentication through the RDS plugin).
    Mysql,
    /// MariaDB, which has no `AWSAuthenticationPlugin`.
    Mariadb,
}

/// Creates or updates each user, with exactly its role's grants on the
/// pool's database. Passwords come from each user's secret.
pub async fn ensure_users(
    connection: &mut MySqlConnection,
    aws: &SdkConfig,
    users: &[AppUser],
) -> Result<(), DatabaseError> {
    let failed = |what: &str, error: sqlx::Error| DatabaseError::Users(format!("{what}: {error}"));
    let (version, database): (String, Option<String>) =
        sqlx::query_as("SELECT VERSION(), DATABASE()")
            .fetch_one(&mut *connection)
            .await
            .map_err(|e| failed("reading the server version", e))?;
    let engine = if version.contains("MariaDB") {
        Engine::Mariadb
    } else {
        Engine::Mysql
    };
    let database = database
        .filter(|name| plain_identifier(name))
        .ok_or_else(|| {
            DatabaseError::Users("the connection names no database with a plain name".into())
        })?;
    for user in users {
        let identified = match &user.auth {
            AppUserAuth::Iam => iam_identification(engine, &user.user)?.to_owned(),
            AppUserAuth::Secret(arn) => {
                let credentials = read_secret(aws, arn).await?;
                if credentials.username != user.user {
                    return Err(DatabaseError::Users(format!(
                        "user {}: its secret names the user {}",
                        user.user, credentials.username
                    )));
                }
                format!(
                    "IDENTIFIED BY {}",
                    quoted_password(&user.user, &credentials.password)?
                )
            }
        };
        let statements = user_statements(&database, user, &identified);
        for statement in &statements {
            // Statements with a password are never logged or reported. (Sent
            // as text; `raw_sql` would do the same, but its future is not
            // provably `Send` where the local runtime awaits it.)
            connection.execute(statement.as_str()).await.map_err(|e| {
                DatabaseError::Users(format!("user {}: {}", user.user, redacted(&e)))
            })?;
        }
        tracing::info!(user = %user.user, role = ?user.role, "database user ready");
    }
    Ok(())
}

/// How an IAM-authenticated user is identified: through the RDS plugin,
/// which only MySQL-compatible RDS engines have.
fn iam_identification(engine: Engine, user: &str) -> Result<&'static str, DatabaseError> {
    match engine {
        Engine::Mysql => Ok("IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"),
        Engine::Mariadb => Err(DatabaseError::Users(format!(
            "user {user}: IAM database authentication needs Aurora MySQL or RDS MySQL, not MariaDB"
        ))),
    }
}

/// The user, signing in over TLS only, with exactly its role's grants.
fn user_statements(database: &str, user: &AppUser, identified: &str) -> Vec<String> {
    // User names were checked to be [a-z0-9_]: they need no escaping.
    let account = format!("'{}'@'%'", user.user);
    let mut statements = vec![
        format!("CREATE USER IF NOT EXISTS {account} {identified} REQUIRE SSL"),
        format!("ALTER USER {account} {identified} REQUIRE SSL"),
        format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}"),
    ];
    for (table, privileges) in grants(user.role) {
        statements.push(format!(
            "GRANT {privileges} ON `{database}`.`{table}` TO {account}"
        ));
    }
    statements
}

fn plain_identifier(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A password as a SQL string literal. Quotes and backslashes are refused
/// rather than escaped: their meaning depends on the server's SQL mode.
fn quoted_password(user: &str, password: &str) -> Result<String, DatabaseError> {
    if password.is_empty()
        || password
            .chars()
            .any(|c| c == '\'' || c == '\\' || c.is_control())
    {
        return Err(DatabaseError::Users(format!(
            "user {user}: the secret's password is empty or holds a quote, backslash or control \
             character (generate it with ExcludeCharacters or ExcludePunctuation)"
        )));
    }
    Ok(format!("'{password}'"))
}

/// The server's error without the statement (which may hold a password).
fn redacted(error: &sqlx::Error) -> String {
    match error.as_database_error() {
        Some(database) => format!(
            "{} ({})",
            database.message(),
            database.code().as_deref().unwrap_or("no code")
        ),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_is_granted_only_its_tables() {
        assert_eq!(
            grants(AppRole::Faces),
            [
                ("person", "SELECT"),
                ("person_face", "SELECT"),
                ("audit_event", "SELECT, INSERT"),
                ("call_count", "SELECT, INSERT, UPDATE, DELETE"),
            ]
        );
        // Only erasures (the upload function's, and reconcile finishing
        // them) delete people.
        for role in [AppRole::Faces, AppRole::Health, AppRole::Indexer] {
            assert!(
                grants(role)
                    .iter()
                    .all(|(table, privileges)| *table != "person" || !privileges.contains("DELETE")),
                "{role:?}"
            );
        }
        // The audit trail is append-only for every role, and what remembers
        // an erasure is never deleted.
        for role in [
            AppRole::Upload,
            AppRole::Faces,
            AppRole::Health,
            AppRole::Indexer,
            AppRole::Reconcile,
        ] {
            for (table, privileges) in grants(role) {
                if *table == "erasure" {
                    assert!(!privileges.contains("DELETE"), "{role:?}");
                }
                if *table == "audit_event" {
                    assert!(
                        !privileges.contains("UPDATE") && !privileges.contains("DELETE"),
                        "{role:?}"
                    );
                }
            }
        }
        assert!(
            grants(AppRole::Indexer)
                .iter()
                .any(|(table, _)| *table == "retired_face")
        );
    }

    #[test]
    fn iam_users_are_identified_by_the_rds_plugin_on_mysql_only() {
        let user = AppUser {
            role: AppRole::Faces,
            user: "registry_faces".into(),
            auth: AppUserAuth::Iam,
        };
        let identified = iam_identification(Engine::Mysql, &user.user).unwrap();
        assert_eq!(
            user_statements("registry", &user, identified),
            [
                "CREATE USER IF NOT EXISTS 'registry_faces'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
                "ALTER USER 'registry_faces'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
                "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'registry_faces'@'%'",
                "GRANT SELECT ON `registry`.`person` TO 'registry_faces'@'%'",
                "GRANT SELECT ON `registry`.`person_face` TO 'registry_faces'@'%'",
                "GRANT SELECT, INSERT ON `registry`.`audit_event` TO 'registry_faces'@'%'",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `registry`.`call_count` TO 'registry_faces'@'%'",
            ]
        );
        let refused = iam_identification(Engine::Mariadb, &user.user)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("not MariaDB"), "{refused}");
    }

    #[test]
    fn passwords_that_would_need_escaping_are_refused() {
        assert_eq!(quoted_password("u", "Abc123").unwrap(), "'Abc123'");
        for bad in ["", "a'b", "a\\b", "a\nb"] {
            let error = quoted_password("u", bad).unwrap_err().to_string();
            assert!(
                !error.contains(bad) || bad.is_empty(),
                "the password must not be echoed"
            );
        }
    }
}
