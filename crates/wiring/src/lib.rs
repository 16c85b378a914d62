//! Each function's handler, built from its typed configuration. The Lambda
//! mains and the local runtime both call these, so that a function is wired
//! the same way in both: only what the [`Setup`] holds differs (the AWS
//! configuration its clients use).

use aws_config::SdkConfig;
use aws_lambda_events::cloudformation::CloudFormationCustomResourceResponse;
use registry::reconcile::ReconcileSettings;
use registry_adapters::cognito::{UserPoolClients, signing_keys};
use registry_adapters::config::UserPoolSetupConfig;
use registry_adapters::database::{self, DatabaseError};
use registry_adapters::{
    AppUser, Config, ConfigError, MysqlPersonStore, RekognitionFaceIndex, S3PhotoStore, users,
};
use registry_api::auth::{Authenticator, KeysError, PoolTokens};
use registry_api::custom_resource::{Attributes, CustomResourceError};
use registry_api::metrics::{Collector, MetricsError};
use registry_api::{
    FacesApi, HealthApi, IndexerFn, PhotoLinks, ReconcileFn, SignInSettings, UploadApi,
};
use serde_json::Value;

mod adapters;

pub use adapters::{Adapters, POOL_SIZE};

pub type Upload = UploadApi<MysqlPersonStore, S3PhotoStore, RekognitionFaceIndex>;
pub type Faces = FacesApi<MysqlPersonStore, S3PhotoStore, RekognitionFaceIndex>;
pub type Health = HealthApi<MysqlPersonStore>;
pub type Indexer = IndexerFn<MysqlPersonStore, S3PhotoStore, RekognitionFaceIndex>;
pub type Reconcile = ReconcileFn<MysqlPersonStore, S3PhotoStore, RekognitionFaceIndex>;

/// What a function instance is built from.
pub struct Setup {
    pub config: Config,
    /// The AWS configuration every client of the function uses.
    pub aws: SdkConfig,
    /// The `FunctionName` dimension of its metrics.
    pub function_name: String,
    pub pool_size: u32,
}

impl Setup {
    /// A Lambda instance: the standard AWS configuration chain (region,
    /// credentials, `AWS_ENDPOINT_URL_<SERVICE>`).
    pub async fn lambda(config: Config, function_name: &str) -> Self {
        Self {
            config,
            aws: registry_adapters::aws::config_loader().load().await,
            function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| function_name.to_owned()),
            pool_size: POOL_SIZE,
        }
    }

    /// The collector of the instance's metrics, which the mains' `run`
    /// flushes after each invocation. Once per process.
    pub fn metrics(&self) -> Result<&'static Collector, MetricsError> {
        registry_api::metrics::collector(&self.config.metrics_namespace, &self.function_name)
    }

    async fn adapters(&self) -> Result<Adapters, DatabaseError> {
        Adapters::connect(&self.config, self.aws.clone(), self.pool_size).await
    }
}

/// Why a function could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Keys(#[from] KeysError),
}

impl Setup {
    /// Who calls: API Gateway's authorizer, or the ALB's forwarded token.
    fn authenticator(&self) -> Result<Authenticator, KeysError> {
        let settings = self.config.pool_tokens.as_ref();
        Ok(Authenticator {
            pool: settings
                .map(|pool| PoolTokens::new(&pool.jwks, &pool.issuer))
                .transpose()?,
            alb_client_id: settings.and_then(|pool| pool.alb_client_id.clone()),
            pages_client_id: settings.map(|pool| pool.pages_client_id.clone()),
            app_origin: self.config.app_origin.clone(),
        })
    }
}

pub async fn upload(setup: &Setup) -> Result<Upload, WiringError> {
    let auth = setup.authenticator()?;
    let adapters = setup.adapters().await?;
    Ok(UploadApi {
        people: adapters.people(),
        photos: adapters.photos(&setup.config),
        faces: adapters.faces(&setup.config),
        url_ttl: setup.config.upload_url_ttl,
        auth,
    })
}

pub async fn faces(setup: &Setup) -> Result<Faces, WiringError> {
    let auth = setup.authenticator()?;
    let adapters = setup.adapters().await?;
    let photo_links = match &setup.config.public_media_base_url {
        Some(base) => PhotoLinks::PublicBase(base.clone()),
        None => PhotoLinks::Presigned {
            ttl: setup.config.photo_url_ttl,
        },
    };
    Ok(FacesApi {
        people: adapters.people(),
        photos: adapters.photos(&setup.config),
        face_search: adapters.faces(&setup.config),
        photo_links,
        sign_in: setup.config.sign_in.as_ref().map(|s| SignInSettings {
            url: s.url.clone(),
            client_id: s.client_id.clone(),
        }),
        auth,
    })
}

pub async fn health(setup: &Setup) -> Result<Health, DatabaseError> {
    let adapters = setup.adapters().await?;
    Ok(HealthApi {
        people: adapters.people(),
        bucket: setup.config.bucket.clone(),
        collection: setup.config.collection.clone(),
    })
}

pub async fn indexer(setup: &Setup) -> Result<Indexer, DatabaseError> {
    let adapters = setup.adapters().await?;
    Ok(IndexerFn {
        people: adapters.people(),
        photos: adapters.photos(&setup.config),
        faces: adapters.faces(&setup.config),
    })
}

pub async fn reconcile(setup: &Setup) -> Result<Reconcile, DatabaseError> {
    let adapters = setup.adapters().await?;
    let duration =
        |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    Ok(ReconcileFn {
        people: adapters.people(),
        photos: adapters.photos(&setup.config),
        faces: adapters.faces(&setup.config),
        settings: ReconcileSettings {
            grace: duration(setup.config.reconcile_grace),
            upload_url_ttl: duration(setup.config.upload_url_ttl),
            page_size: RECONCILE_PAGE_SIZE,
            late_events_for: duration(setup.config.dead_letter_retention),
        },
    })
}

/// Faces per ListFaces call and photos per listing page: S3 lists at most
/// 1,000 keys a page, ListFaces up to 4,096 faces.
const RECONCILE_PAGE_SIZE: u32 = 1000;

/// The migrate function. It is built whatever goes wrong (a configuration
/// that does not load, a secret that cannot be read), so that it can still
/// answer CloudFormation with the reason.
pub struct Migrate {
    ready: Result<Migrator, String>,
    /// The migrations this build embeds ([`registry_adapters::MIGRATOR`]).
    migrations: &'static registry_adapters::Migrator,
    http: reqwest::Client,
}

struct Migrator {
    adapters: Adapters,
    app_users: Vec<AppUser>,
}

/// `http` is the client that answers on CloudFormation's presigned URL;
/// `migrations` are the build's.
pub async fn migrate(
    migrations: &'static registry_adapters::Migrator,
    config: Result<Config, ConfigError>,
    aws: SdkConfig,
    http: reqwest::Client,
) -> Migrate {
    let ready = match config {
        Err(error) => Err(format!(
            "the migrate function's configuration is invalid: {error}"
        )),
        Ok(config) => Adapters::connect(&config, aws, 1)
            .await
            .map(|adapters| Migrator {
                adapters,
                app_users: config.app_users.clone(),
            })
            .map_err(|error| error.to_string()),
    };
    if let Err(reason) = &ready {
        tracing::error!(%reason, "the migrate function is not ready; every request will be answered FAILED");
    }
    Migrate {
        ready,
        migrations,
        http,
    }
}

impl Migrate {
    /// Answers one custom resource request (see [`registry_api::custom_resource::respond`]).
    pub async fn handle(
        &self,
        event: &Value,
    ) -> Result<CloudFormationCustomResourceResponse, CustomResourceError> {
        let setup = self.ready.as_ref().map(|_| ()).map_err(String::as_str);
        registry_api::custom_resource::respond(
            event,
            "database-migrations",
            setup,
            || self.apply(),
            &self.http,
        )
        .await
    }

    async fn apply(&self) -> Result<Attributes, String> {
        let migrator = self.ready.as_ref().map_err(Clone::clone)?;
        let database = &migrator.adapters.database;
        let mut connection = database
            .run(|pool| pool.acquire())
            .await
            .map_err(|e| DatabaseError::Migration(e.to_string()).to_string())?;
        database::migrate(&mut connection, self.migrations)
            .await
            .map_err(|e| e.to_string())?;
        users::ensure_users(&mut connection, &migrator.adapters.aws, &migrator.app_users)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Attributes::new())
    }
}

/// The user-pool-setup function, two custom resources of the user pool:
/// `Custom::UserPoolClientSettings` applies the settings it names
/// (`UserPoolId`, `ClientId`, `Settings`) to an app client;
/// `Custom::UserPoolKeys` reads the pool's signing keys (`JwksUrl`) and
/// answers them as its `Jwks` attribute, for functions that cannot reach
/// the pool themselves.
pub struct UserPoolSetupFn {
    clients: UserPoolClients,
    http: reqwest::Client,
    /// The only pool, client and keys it sets up.
    config: UserPoolSetupConfig,
}

/// `http` reads the keys and answers on CloudFormation's presigned URL.
pub fn user_pool_setup(
    aws: &SdkConfig,
    http: reqwest::Client,
    config: UserPoolSetupConfig,
) -> UserPoolSetupFn {
    UserPoolSetupFn {
        clients: UserPoolClients::new(aws),
        http,
        config,
    }
}

/// Refuses settings the operators' client must never have, whoever asks:
/// a flow other than the authorization code (the implicit one puts tokens
/// in URLs), or a sign-in or sign-out URL that is neither the pages' (`/faces`
/// over `https` on one of `hosts`) nor on a loopback host over `http` (a
/// command-line tool's `/callback` and `/signed-out`, RFC 8252, and the
/// local runtime's pages).
fn refuse_foreign_settings(
    settings: &serde_json::Map<String, Value>,
    hosts: &[String],
) -> Result<(), String> {
    let strings = |name: &str| -> Vec<&str> {
        settings
            .get(name)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    if strings("AllowedOAuthFlows") != ["code"] {
        return Err("AllowedOAuthFlows must be [code] and nothing else".into());
    }
    let on_hosts = |host: &str| {
        hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => host == allowed,
            })
    };
    for name in ["CallbackURLs", "LogoutURLs"] {
        for url in strings(name) {
            let parsed = url::Url::parse(url).map_err(|e| format!("{name}: {url:?}: {e}"))?;
            let host = parsed.host_str().unwrap_or_default();
            let pages = parsed.scheme() == "https" && parsed.path() == "/faces" && on_hosts(host);
            let loopback = parsed.scheme() == "http"
                && matches!(host, "localhost" | "127.0.0.1" | "[::1]")
                && matches!(parsed.path(), "/faces" | "/callback" | "/signed-out");
            if !(pages || loopback) || parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(format!(
                    "{name}: {url} is neither the pages' https://<{}>/faces nor a loopback http://localhost:<port>/callback, /signed-out or /faces",
                    hosts.join("|")
                ));
            }
        }
    }
    Ok(())
}

impl UserPoolSetupFn {
    /// Answers one custom resource request; Delete leaves the client as it
    /// is (it goes with the stack).
    pub async fn handle(
        &self,
        event: &Value,
    ) -> Result<CloudFormationCustomResourceResponse, CustomResourceError> {
        let properties = event.get("ResourceProperties");
        let text = |name: &str| {
            properties
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
        };
        let kind = event
            .get("ResourceType")
            .and_then(Value::as_str)
            .unwrap_or("-");
        let physical_id = match kind {
            "Custom::UserPoolKeys" => text("JwksUrl").unwrap_or("-").to_owned(),
            _ => format!(
                "{}/{}",
                text("UserPoolId").unwrap_or("-"),
                text("ClientId").unwrap_or("-")
            ),
        };
        let apply = || async move {
            match kind {
                "Custom::UserPoolClientSettings" => {
                    let (Some(pool), Some(client)) = (text("UserPoolId"), text("ClientId")) else {
                        return Err("the resource needs UserPoolId and ClientId".to_owned());
                    };
                    if (pool, client)
                        != (
                            self.config.user_pool_id.as_str(),
                            self.config.client_id.as_str(),
                        )
                    {
                        return Err(format!(
                            "{pool}/{client} is not this stack's user pool and operators' client"
                        ));
                    }
                    let settings = properties
                        .and_then(|p| p.get("Settings"))
                        .and_then(Value::as_object)
                        .ok_or("the resource needs Settings (the client's settings, whole)")?;
                    refuse_foreign_settings(settings, &self.config.sign_in_hosts)?;
                    self.clients
                        .apply(pool, client, settings)
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::info!(client, "user pool client settings applied");
                    Ok(Attributes::new())
                }
                "Custom::UserPoolKeys" => {
                    let url = text("JwksUrl").ok_or("the resource needs JwksUrl")?;
                    if url != self.config.jwks_url {
                        return Err(format!("{url} is not this stack's user pool's keys"));
                    }
                    let jwks = signing_keys(&self.http, url)
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::info!("user pool signing keys read");
                    Ok(Attributes::from([("Jwks".to_owned(), jwks)]))
                }
                other => Err(format!("{other} is not a resource this function sets up")),
            }
        };
        registry_api::custom_resource::respond(event, &physical_id, Ok(()), apply, &self.http).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(flows: Value, callbacks: Value) -> serde_json::Map<String, Value> {
        json!({"AllowedOAuthFlows": flows, "CallbackURLs": callbacks, "LogoutURLs": []})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn the_operators_client_gets_only_the_stacks_sign_in_urls_and_the_code_flow() {
        let hosts = [
            "*.execute-api.eu-west-1.amazonaws.com".to_owned(),
            "registry.example.org".to_owned(),
        ];
        let allowed = settings(
            json!(["code"]),
            json!([
                "http://localhost:8085/callback",
                "https://registry.example.org/faces",
                "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/faces",
                "http://127.0.0.1:3000/faces",
            ]),
        );
        assert_eq!(refuse_foreign_settings(&allowed, &hosts), Ok(()));
        for (flows, callback) in [
            (
                json!(["code", "implicit"]),
                "https://registry.example.org/faces",
            ),
            (json!(["code"]), "https://evil.example.net/faces"),
            (
                json!(["code"]),
                "https://a.b.execute-api.eu-west-1.amazonaws.com/faces",
            ),
            (json!(["code"]), "https://registry.example.org/elsewhere"),
            (json!(["code"]), "http://registry.example.org/faces"),
            (
                json!(["code"]),
                "http://localhost:8085/callback?next=https://evil.example.net",
            ),
        ] {
            let refused = settings(flows, json!([callback]));
            assert!(
                refuse_foreign_settings(&refused, &hosts).is_err(),
                "{callback}"
            );
        }
    }
}
