//! A local AWS Secrets Manager.
//!
//! It speaks the AWS JSON 1.1 protocol of Secrets Manager on a loopback
//! port (`GetSecretValue`, `DescribeSecret`), so the unmodified
//! `aws-sdk-secretsmanager` client works against it through
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`. Every request is signed (SigV4) with
//! a key of the shared key ring and authorized as AWS does: the caller needs
//! `secretsmanager:GetSecretValue` on the secret and, for a secret
//! encrypted with a customer-managed key, `kms:Decrypt` on that key, which
//! the key policy must allow too.
//!
//! The owner of the stack (the local runtime) creates secrets and puts new
//! values: the previous value stays readable as `AWSPREVIOUS`, as after a
//! rotation. Secrets persist in one file readable by its owner only.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use local_iam::json_api::{self, JsonError};
use local_iam::sigv4::Scope;
use local_iam::{Access, AuthorizeError, Call, Conditions, Identity, KeyUse, Policy};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

const TARGET_PREFIX: &str = "secretsmanager.";

/// A KMS key and its key policy.
#[derive(Debug, Clone)]
pub struct SecretKey {
    pub arn: String,
    pub policy: Policy,
}

/// A secret as the stack declares it.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    pub name: String,
    pub arn: String,
    /// The key it is encrypted with; `None`: `aws/secretsmanager`, whose
    /// use needs no permission of its own.
    pub kms_key: Option<SecretKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVersion {
    id: String,
    value: String,
    stages: Vec<String>,
    created: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    /// Secret ARN → its versions, newest last.
    secrets: BTreeMap<String, Vec<StoredVersion>>,
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a secrets file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no secret {0}")]
    NotFound(String),
    #[error("refusing to listen on {0}: the secrets manager only listens on loopback addresses")]
    NotLoopback(SocketAddr),
}

/// The secrets and who may read them.
pub struct SecretsManager {
    file: PathBuf,
    region: String,
    access: Access,
    specs: Vec<SecretSpec>,
    stored: Mutex<Stored>,
}

impl std::fmt::Debug for SecretsManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManager")
            .field("file", &self.file)
            .field(
                "secrets",
                &self.specs.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl SecretsManager {
    /// Opens the secrets kept in `file` (created, mode 600, when missing).
    pub fn open(
        file: &Path,
        region: &str,
        access: Access,
        specs: Vec<SecretSpec>,
    ) -> Result<Self, SecretsError> {
        let stored = match std::fs::read(file) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| SecretsError::Corrupt {
                    path: file.to_owned(),
                    source,
                })?
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(source) => {
                return Err(SecretsError::Io {
                    path: file.to_owned(),
                    source,
                });
            }
        };
        Ok(Self {
            file: file.to_owned(),
            region: region.to_owned(),
            access,
            specs,
            stored: Mutex::new(stored),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current value of a secret, if it has one.
    pub fn current(&self, arn: &str) -> Option<String> {
        self.lock()
            .secrets
            .get(arn)
            .and_then(|versions| {
                versions
                    .iter()
                    .rev()
                    .find(|v| v.stages.iter().any(|s| s == "AWSCURRENT"))
            })
            .map(|v| v.value.clone())
    }

    /// Makes `value` the secret's current value; the value it replaces stays
    /// readable as `AWSPREVIOUS`. Returns the new version's id.
    pub fn put_value(&self, arn: &str, value: &str) -> Result<String, SecretsError> {
        if !self.specs.iter().any(|s| s.arn == arn) {
            return Err(SecretsError::NotFound(arn.to_owned()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        {
            let mut stored = self.lock();
            let versions = stored.secrets.entry(arn.to_owned()).or_default();
            for version in versions.iter_mut() {
                version.stages.retain(|s| s != "AWSPREVIOUS");
                if let Some(current) = version.stages.iter_mut().find(|s| *s == "AWSCURRENT") {
                    "AWSPREVIOUS".clone_into(current);
                }
            }
            versions.retain(|v| !v.stages.is_empty());
            versions.push(StoredVersion {
                id: id.clone(),
                value: value.to_owned(),
                stages: vec!["AWSCURRENT".to_owned()],
                created: Utc::now(),
            });
        }
        self.save()?;
        tracing::info!(secret = %self.name_of(arn), version = %id, "secret value changed");
        Ok(id)
    }

    fn name_of<'a>(&'a self, arn: &'a str) -> &'a str {
        self.specs
            .iter()
            .find(|s| s.arn == arn)
            .map_or(arn, |s| s.name.as_str())
    }

    /// Writes the file atomically, readable by its owner only.
    fn save(&self) -> Result<(), SecretsError> {
        let io = |source| SecretsError::Io {
            path: self.file.clone(),
            source,
        };
        let bytes = serde_json::to_vec(&*self.lock()).map_err(|e| io(std::io::Error::other(e)))?;
        let folder = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).map_err(io)?;
        // Written beside it (owner-only, as tempfile makes it), then renamed.
        let mut file = tempfile::NamedTempFile::new_in(folder).map_err(io)?;
        file.write_all(&bytes)
            .and_then(|()| file.as_file().sync_all())
            .map_err(io)?;
        file.persist(&self.file).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn spec(&self, secret_id: &str) -> Option<&SecretSpec> {
        self.specs
            .iter()
            .find(|s| s.arn == secret_id || s.name == secret_id)
    }

    /// `GetSecretValue` as `caller`.
    fn get_secret_value(
        &self,
        caller: &Identity,
        request: &GetSecretValueRequest,
    ) -> Result<serde_json::Value, ApiError> {
        let spec = self.spec(&request.secret_id).ok_or_else(not_found)?;
        self.authorize(caller, "secretsmanager:GetSecretValue", spec)?;
        self.decrypt(caller, spec)?;
        let stored = self.lock();
        let versions = stored.secrets.get(&spec.arn).ok_or_else(not_found)?;
        let stage = request.version_stage.as_deref().unwrap_or("AWSCURRENT");
        let version = match &request.version_id {
            Some(id) => versions.iter().find(|v| v.id == *id),
            None => versions
                .iter()
                .rev()
                .find(|v| v.stages.iter().any(|s| s == stage)),
        }
        .ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret value for the specified version.",
            )
        })?;
        Ok(json!({
            "ARN": spec.arn,
            "Name": spec.name,
            "VersionId": version.id,
            "SecretString": version.value,
            "VersionStages": version.stages,
            "CreatedDate": version.created.timestamp_millis() as f64 / 1000.0,
        }))
    }

    /// `DescribeSecret` as `caller`.
    fn describe_secret(
        &self,
        caller: &Identity,
        request: &DescribeSecretRequest,
    ) -> Result<serde_json::Value, ApiError> {
        let spec = self.spec(&request.secret_id).ok_or_else(not_found)?;
        self.authorize(caller, "secretsmanager:DescribeSecret", spec)?;
        let stored = self.lock();
        let stages: BTreeMap<String, Vec<String>> = stored
            .secrets
            .get(&spec.arn)
            .into_iter()
            .flatten()
            .map(|v| (v.id.clone(), v.stages.clone()))
            .collect();
        Ok(json!({
            "ARN": spec.arn,
            "Name": spec.name,
            "KmsKeyId": spec.kms_key.as_ref().map(|k| k.arn.clone()),
            "VersionIdsToStages": stages,
        }))
    }

    fn authorize(
        &self,
        caller: &Identity,
        action: &str,
        spec: &SecretSpec,
    ) -> Result<(), ApiError> {
        let conditions = Conditions::of_caller(caller);
        let call = Call {
            caller,
            action,
            resource: &spec.arn,
            conditions: &conditions,
        };
        self.access
            .authorizer
            .authorize(call, None, None)
            .map_err(|error| refused(caller, &error, ""))
    }

    /// Secrets Manager decrypts with the caller's permissions on the key.
    fn decrypt(&self, caller: &Identity, spec: &SecretSpec) -> Result<(), ApiError> {
        let Some(key) = &spec.kms_key else {
            return Ok(());
        };
        let key_use = KeyUse {
            caller,
            conditions: Conditions::of_caller(caller),
            service: "secretsmanager",
            region: &self.region,
            action: "kms:Decrypt",
            key_arn: &key.arn,
            context: ("kms:EncryptionContext:SecretARN", spec.arn.clone()),
        };
        self.access
            .authorizer
            .authorize_key_use(key_use, &key.policy)
            .map_err(|error| refused(caller, &error, "Access to KMS is not allowed: "))
    }

    /// Serves the API on `listener` (a loopback address) until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), SecretsError> {
        let address = listener.local_addr().map_err(|source| SecretsError::Io {
            path: PathBuf::from("<listener>"),
            source,
        })?;
        if !address.ip().is_loopback() {
            return Err(SecretsError::NotLoopback(address));
        }
        tracing::info!(%address, secrets = self.specs.len(), "secrets manager listening");
        let router = Router::new().route("/", post(handle)).with_state(self);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| SecretsError::Io {
                path: PathBuf::from("<listener>"),
                source,
            })
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn refused(caller: &Identity, error: &AuthorizeError, prefix: &str) -> ApiError {
    tracing::warn!(principal = %caller.name, %error, "Secrets Manager request refused");
    match error {
        AuthorizeError::Denied(denied) => {
            ApiError::new("AccessDeniedException", format!("{prefix}{denied}"))
        }
        AuthorizeError::Policy(policy) => ApiError::new("InternalServiceError", policy.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSecretValueRequest {
    secret_id: String,
    version_id: Option<String>,
    version_stage: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeSecretRequest {
    secret_id: String,
}

type ApiError = JsonError;

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    json_api::parse(body, "InvalidRequestException")
}

async fn handle(
    State(manager): State<Arc<SecretsManager>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = Scope {
        service: "secretsmanager",
        region: &manager.region,
    };
    let request = json_api::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    json_api::respond(
        &manager.access.keys,
        scope,
        TARGET_PREFIX,
        request,
        |operation, caller| match operation {
            "GetSecretValue" => manager.get_secret_value(caller, &parse(&body)?),
            "DescribeSecret" => manager.describe_secret(caller, &parse(&body)?),
            other => Err(ApiError::new(
                "UnknownOperationException",
                format!("Operation {other:?} is not supported by this endpoint"),
            )),
        },
    )
    .into_response()
}
