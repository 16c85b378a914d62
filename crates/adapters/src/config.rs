//! Typed configuration, read from the environment once at cold start.

use std::time::Duration;

/// Where the database is and how to sign in to it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseSource {
    /// `DATABASE_URL` (local development and tests).
    Url(String),
    /// An RDS-managed secret in Secrets Manager holding `username` and `password`.
    Secret {
        arn: String,
        host: String,
        port: u16,
        name: String,
    },
    /// IAM database authentication: a short-lived token for `user`.
    Iam {
        host: String,
        port: u16,
        name: String,
        user: String,
    },
}

impl std::fmt::Debug for DatabaseSource {
    // The URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("Url(<redacted>)"),
            DatabaseSource::Secret {
                arn,
                host,
                port,
                name,
            } => f
                .debug_struct("Secret")
                .field("arn", arn)
                .field("host", host)
                .field("port", port)
                .field("name", name)
                .finish(),
            DatabaseSource::Iam {
                host,
                port,
                name,
                user,
            } => f
                .debug_struct("Iam")
                .field("host", host)
                .field("port", port)
                .field("name", name)
                .field("user", user)
                .finish(),
        }
    }
}

/// The certificate authorities a database connection over TLS trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseCa {
    /// Those of RDS and Aurora, built in.
    Rds,
    /// A PEM file (`DB_TLS_CA_FILE`), e.g. a local server's own.
    File(std::path::PathBuf),
}

/// What a function's database user may do: the grants the migrate function
/// gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppRole {
    Upload,
    Faces,
    Health,
    Indexer,
    Reconcile,
}

/// How a function's database user signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppUserAuth {
    /// IAM database authentication (Aurora MySQL only).
    Iam,
    /// A password kept in this secret (`username`, `password`).
    Secret(String),
}

/// A function's database user, as the migrate function creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    pub role: AppRole,
    pub user: String,
    pub auth: AppUserAuth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bucket: String,
    pub collection: String,
    pub database: DatabaseSource,
    pub database_ca: DatabaseCa,
    /// The functions' database users (`DB_APP_USERS`, the migrate function's).
    pub app_users: Vec<AppUser>,
    pub upload_url_ttl: Duration,
    pub photo_url_ttl: Duration,
    /// How long reconcile leaves something out of place before it acts:
    /// longer than the indexer's timeout.
    pub reconcile_grace: Duration,
    /// How long the indexer's dead letters are kept (and can be replayed).
    pub dead_letter_retention: Duration,
    /// Base URL of a protected CDN in front of the bucket, when public previews are enabled.
    pub public_media_base_url: Option<String>,
    pub metrics_namespace: String,
    /// Path-style S3 addressing, for S3-compatible stores.
    pub s3_force_path_style: bool,
    /// Where the pages sign in (the faces function's).
    pub sign_in: Option<SignIn>,
    /// What verifies the user pool's tokens: the access tokens an ALB
    /// forwards, the ID tokens the pages send.
    pub pool_tokens: Option<PoolTokenSettings>,
    /// The one origin besides the request's own whose pages may call the
    /// API (`APP_ORIGIN`, the template's `AppOrigin`).
    pub app_origin: Option<String>,
}

/// The user pool's signing keys (a JWKS, delivered at deploy time), its
/// issuer, the pages' app client and the ALB's, when there is an ALB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTokenSettings {
    pub jwks: String,
    pub issuer: String,
    pub pages_client_id: String,
    pub alb_client_id: Option<String>,
}

/// The user pool domain and app client the pages sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// `https://<prefix>.auth.<region>.amazoncognito.com`, no trailing slash.
    pub url: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// SigV4 presigned URLs last at most 7 days.
const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;
/// A grace period of more than a day would leave drift unrepaired for days.
const MAX_RECONCILE_GRACE_SECONDS: u64 = 24 * 3600;
/// SQS keeps a message 14 days at most (`MessageRetentionPeriod`).
const MAX_DEAD_LETTER_RETENTION_SECONDS: u64 = 14 * 24 * 3600;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, which returns a variable's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Variables(lookup);
        // Read in this order: the first problem is the one reported.
        Ok(Config {
            database: vars.database()?,
            database_ca: match vars.get("DB_TLS_CA_FILE") {
                Some(path) => DatabaseCa::File(path.into()),
                None => DatabaseCa::Rds,
            },
            app_users: match vars.get("DB_APP_USERS") {
                Some(json) => parse_app_users(&json)?,
                None => Vec::new(),
            },
            public_media_base_url: vars.public_media_base_url()?,
            sign_in: vars.sign_in()?,
            pool_tokens: vars.pool_tokens()?,
            app_origin: vars
                .get("APP_ORIGIN")
                .map(|origin| vars.https_url("APP_ORIGIN", &origin))
                .transpose()?,
            bucket: vars.require("PHOTO_BUCKET")?,
            collection: vars.require("FACE_COLLECTION")?,
            upload_url_ttl: vars.seconds("UPLOAD_URL_TTL_SECONDS", 300, MAX_PRESIGN_SECONDS)?,
            photo_url_ttl: vars.seconds("PHOTO_URL_TTL_SECONDS", 300, MAX_PRESIGN_SECONDS)?,
            reconcile_grace: vars.seconds(
                "RECONCILE_GRACE_SECONDS",
                900,
                MAX_RECONCILE_GRACE_SECONDS,
            )?,
            dead_letter_retention: vars.seconds(
                "DEAD_LETTER_RETENTION_SECONDS",
                MAX_DEAD_LETTER_RETENTION_SECONDS,
                MAX_DEAD_LETTER_RETENTION_SECONDS,
            )?,
            metrics_namespace: vars
                .get("METRICS_NAMESPACE")
                .unwrap_or_else(|| "FaceRegistry".into()),
            s3_force_path_style: vars.flag("S3_FORCE_PATH_STYLE")?,
        })
    }
}

/// What the `user-pool-setup` function may set up: the stack's user pool
/// and operators' app client, and that pool's signing keys; whatever else
/// an invoker names is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPoolSetupConfig {
    pub user_pool_id: String,
    pub client_id: String,
    pub jwks_url: String,
    /// The hosts the pages may be served from, for the client's `https`
    /// sign-in URLs (`SIGN_IN_HOSTS`, comma-separated; `*.` stands for one
    /// label, as an API's id in `*.execute-api.<region>.amazonaws.com`).
    pub sign_in_hosts: Vec<String>,
}

impl UserPoolSetupConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Variables(lookup);
        Ok(Self {
            user_pool_id: vars.require("USER_POOL_ID")?,
            client_id: vars.require("USER_POOL_CLIENT_ID")?,
            jwks_url: vars.require("USER_POOL_JWKS_URL")?,
            sign_in_hosts: vars
                .require("SIGN_IN_HOSTS")?
                .split(',')
                .map(|host| host.trim().to_ascii_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
        })
    }
}

/// The variables, read through a lookup: trimmed, an empty one unset.
struct Variables<F>(F);

impl<F: Fn(&str) -> Option<String>> Variables<F> {
    fn get(&self, name: &'static str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(_) => Err(ConfigError::Invalid {
                name,
                reason: "expected true or false".into(),
            }),
        }
    }

    fn seconds(&self, name: &'static str, default: u64, max: u64) -> Result<Duration, ConfigError> {
        let Some(v) = self.get(name) else {
            return Ok(Duration::from_secs(default));
        };
        match v.parse::<u64>() {
            Ok(s) if (1..=max).contains(&s) => Ok(Duration::from_secs(s)),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("expected a number of seconds from 1 to {max}"),
            }),
        }
    }

    fn port(&self, name: &'static str) -> Result<u16, ConfigError> {
        match self.get(name) {
            None => Ok(3306),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name,
                reason: "expected a port number".into(),
            }),
        }
    }

    /// An https URL (http on the loopback), without its trailing `/`.
    fn https_url(&self, name: &'static str, url: &str) -> Result<String, ConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        })?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost"));
        if parsed.scheme() != "https" && !loopback {
            return Err(ConfigError::Invalid {
                name,
                reason: "expected an https URL".into(),
            });
        }
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// A URL, or the cluster's endpoint with a password from a secret or
    /// an IAM token.
    fn database(&self) -> Result<DatabaseSource, ConfigError> {
        if let Some(url) = self.get("DATABASE_URL") {
            if !url.starts_with("mysql://") && !url.starts_with("mariadb://") {
                return Err(ConfigError::Invalid {
                    name: "DATABASE_URL",
                    reason: "expected a mysql:// URL".into(),
                });
            }
            Ok(DatabaseSource::Url(url))
        } else if self.flag("DB_IAM_AUTH")? {
            Ok(DatabaseSource::Iam {
                host: self.require("DB_HOST")?,
                port: self.port("DB_PORT")?,
                name: self.require("DB_NAME")?,
                user: self.require("DB_USER")?,
            })
        } else if let Some(arn) = self.get("DB_SECRET_ARN") {
            Ok(DatabaseSource::Secret {
                arn,
                host: self.require("DB_HOST")?,
                port: self.port("DB_PORT")?,
                name: self.require("DB_NAME")?,
            })
        } else {
            Err(ConfigError::Missing(
                "DATABASE_URL, DB_SECRET_ARN or DB_IAM_AUTH=true",
            ))
        }
    }

    fn public_media_base_url(&self) -> Result<Option<String>, ConfigError> {
        if !self.flag("ENABLE_PUBLIC_PHOTO_PREVIEW")? {
            return Ok(None);
        }
        let base = self.require("PUBLIC_MEDIA_BASE_URL")?;
        self.https_url("PUBLIC_MEDIA_BASE_URL", &base).map(Some)
    }

    fn sign_in(&self) -> Result<Option<SignIn>, ConfigError> {
        match (self.get("SIGN_IN_URL"), self.get("SIGN_IN_CLIENT_ID")) {
            (None, None) => Ok(None),
            (Some(url), Some(client_id)) => Ok(Some(SignIn {
                url: self.https_url("SIGN_IN_URL", &url)?,
                client_id,
            })),
            (Some(_), None) => Err(ConfigError::Missing("SIGN_IN_CLIENT_ID")),
            (None, Some(_)) => Err(ConfigError::Missing("SIGN_IN_URL")),
        }
    }

    fn pool_tokens(&self) -> Result<Option<PoolTokenSettings>, ConfigError> {
        let alb_client_id = self.get("ALB_TOKEN_CLIENT_ID");
        match (
            self.get("USER_POOL_KEYS"),
            self.get("USER_POOL_ISSUER"),
            self.get("USER_POOL_CLIENT_ID"),
        ) {
            (None, None, None) if alb_client_id.is_none() => Ok(None),
            (Some(jwks), Some(issuer), Some(pages_client_id)) => Ok(Some(PoolTokenSettings {
                jwks,
                issuer,
                pages_client_id,
                alb_client_id,
            })),
            _ => Err(ConfigError::Missing(
                "all of USER_POOL_KEYS, USER_POOL_ISSUER and USER_POOL_CLIENT_ID (or none, and no ALB_TOKEN_CLIENT_ID)",
            )),
        }
    }
}

/// `[{"role": "upload", "user": "registry_upload", "secret": "arn:..."},
/// {"role": "faces", "user": "registry_faces", "auth": "iam"}, ...]`
fn parse_app_users(json: &str) -> Result<Vec<AppUser>, ConfigError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        role: AppRole,
        user: String,
        secret: Option<String>,
        auth: Option<String>,
    }
    let invalid = |reason: String| ConfigError::Invalid {
        name: "DB_APP_USERS",
        reason,
    };
    let entries: Vec<Entry> = serde_json::from_str(json).map_err(|e| {
        invalid(format!(
            "expected a JSON list of {{\"role\", \"user\", \"secret\" or \"auth\": \"iam\"}}: {e}"
        ))
    })?;
    let mut users: Vec<AppUser> = Vec::with_capacity(entries.len());
    for entry in entries {
        let valid_name = (1..=32).contains(&entry.user.len())
            && entry
                .user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(invalid(format!(
                "user {:?} must be 1 to 32 lower-case letters, digits or '_'",
                entry.user
            )));
        }
        let auth = match (entry.secret, entry.auth.as_deref()) {
            (Some(arn), None) if !arn.is_empty() => AppUserAuth::Secret(arn),
            (None, Some("iam")) => AppUserAuth::Iam,
            _ => {
                return Err(invalid(format!(
                    "user {} needs either a \"secret\" or \"auth\": \"iam\"",
                    entry.user
                )));
            }
        };
        if users
            .iter()
            .any(|u| u.user == entry.user || u.role == entry.role)
        {
            return Err(invalid(format!(
                "user {} or its role appears twice",
                entry.user
            )));
        }
        users.push(AppUser {
            role: entry.role,
            user: entry.user,
            auth,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 3] = [
        ("PHOTO_BUCKET", "photos"),
        ("FACE_COLLECTION", "faces"),
        ("DATABASE_URL", "mysql://u:secret@127.0.0.1:3306/registry"),
    ];

    #[test]
    fn reads_a_local_configuration() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.bucket, "photos");
        assert_eq!(c.upload_url_ttl, Duration::from_secs(300));
        assert_eq!(c.public_media_base_url, None);
        assert!(
            !format!("{c:?}").contains("secret"),
            "the database password must not be printed"
        );
    }

    #[test]
    fn reads_the_aws_configurations() {
        let c = config(&[
            ("PHOTO_BUCKET", "photos"),
            ("FACE_COLLECTION", "faces"),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:x",
            ),
            ("DB_HOST", "db.internal"),
            ("DB_NAME", "registry"),
        ])
        .unwrap();
        assert!(matches!(
            c.database,
            DatabaseSource::Secret { port: 3306, .. }
        ));
        let c = config(&[
            ("PHOTO_BUCKET", "photos"),
            ("FACE_COLLECTION", "faces"),
            ("DB_IAM_AUTH", "true"),
            ("DB_HOST", "db.internal"),
            ("DB_PORT", "3307"),
            ("DB_NAME", "registry"),
            ("DB_USER", "app"),
        ])
        .unwrap();
        assert!(matches!(c.database, DatabaseSource::Iam { port: 3307, .. }));
    }

    #[test]
    fn reads_the_functions_database_users() {
        let mut vars = BASE.to_vec();
        vars.push((
            "DB_APP_USERS",
            r#"[{"role": "upload", "user": "registry_upload", "secret": "arn:aws:secretsmanager:r:1:secret:u"},
                {"role": "health", "user": "registry_health", "auth": "iam"}]"#,
        ));
        vars.push(("DB_TLS_CA_FILE", "/etc/ca.pem"));
        let c = config(&vars).unwrap();
        assert_eq!(c.app_users.len(), 2);
        assert_eq!(c.app_users[0].role, AppRole::Upload);
        assert_eq!(c.app_users[1].auth, AppUserAuth::Iam);
        assert_eq!(c.database_ca, DatabaseCa::File("/etc/ca.pem".into()));
        assert_eq!(config(&BASE).unwrap().database_ca, DatabaseCa::Rds);

        for bad in [
            r#"[{"role": "upload", "user": "Bad-Name", "auth": "iam"}]"#,
            r#"[{"role": "upload", "user": "u"}]"#,
            r#"[{"role": "admin", "user": "u", "auth": "iam"}]"#,
            r#"[{"role": "upload", "user": "u", "auth": "iam"}, {"role": "upload", "user": "v", "auth": "iam"}]"#,
            "not json",
        ] {
            let mut vars = BASE.to_vec();
            vars.push(("DB_APP_USERS", bad));
            let error = config(&vars).unwrap_err().to_string();
            assert!(
                error.starts_with("DB_APP_USERS is invalid"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        assert_eq!(
            config(&BASE[1..]).unwrap_err().to_string(),
            "PHOTO_BUCKET is not set"
        );
        assert_eq!(
            config(&BASE[..2]).unwrap_err().to_string(),
            "DATABASE_URL, DB_SECRET_ARN or DB_IAM_AUTH=true is not set"
        );
        let mut vars = BASE.to_vec();
        vars.push(("UPLOAD_URL_TTL_SECONDS", "0"));
        assert!(
            config(&vars)
                .unwrap_err()
                .to_string()
                .starts_with("UPLOAD_URL_TTL_SECONDS is invalid")
        );
        let mut vars = BASE.to_vec();
        vars.push(("ENABLE_PUBLIC_PHOTO_PREVIEW", "true"));
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "PUBLIC_MEDIA_BASE_URL is not set"
        );
        vars.push(("PUBLIC_MEDIA_BASE_URL", "http://cdn.example.com"));
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "PUBLIC_MEDIA_BASE_URL is invalid: expected an https URL"
        );
        let mut vars = BASE.to_vec();
        vars.push(("S3_FORCE_PATH_STYLE", "yes"));
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "S3_FORCE_PATH_STYLE is invalid: expected true or false"
        );
        let mut vars = BASE.to_vec();
        vars[2] = ("DATABASE_URL", "postgres://x");
        assert_eq!(
            config(&vars).unwrap_err().to_string(),
            "DATABASE_URL is invalid: expected a mysql:// URL"
        );
    }
}
