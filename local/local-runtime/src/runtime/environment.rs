//! What each function sees: the local endpoints, its template environment
//! and credentials, the routes of its network.

use std::collections::BTreeMap;
use std::path::Path;

use local_iam::Identity;
use local_stack::{Function, LocalStack};

use crate::network::{Route as NetworkRoute, Routes};
use crate::urls::LocalUrls;

/// The local services' endpoints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Endpoints {
    pub(super) s3: String,
    pub(super) rekognition: String,
    pub(super) secrets: String,
    /// The user pool: its API and its domain.
    pub(super) cognito: String,
    pub(super) lambda: String,
    pub(super) sqs: String,
    /// The load balancer's listener (empty without one).
    pub(super) load_balancer: String,
}

impl Endpoints {
    pub(super) fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("AWS_ENDPOINT_URL_S3".to_owned(), self.s3.clone()),
            (
                "AWS_ENDPOINT_URL_REKOGNITION".to_owned(),
                self.rekognition.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                self.secrets.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER".to_owned(),
                self.cognito.clone(),
            ),
            ("AWS_ENDPOINT_URL_LAMBDA".to_owned(), self.lambda.clone()),
            ("AWS_ENDPOINT_URL_SQS".to_owned(), self.sqs.clone()),
        ])
    }

    pub(super) fn local_urls(&self, stack: &LocalStack) -> LocalUrls {
        LocalUrls::of_stack(stack, &self.cognito, &self.load_balancer)
    }

    pub(super) fn authority(url: &str) -> String {
        url.trim_start_matches("http://").to_owned()
    }
}

/// The variables a function sees: the template's, plus what differs
/// locally (the local endpoints, the local server's CA, path-style S3) and
/// what Lambda sets itself (region, name, memory, credentials, its logging
/// configuration: Lambda's "defined runtime environment variables").
pub(super) fn function_environment(
    function: &Function,
    stack: &LocalStack,
    endpoints: &Endpoints,
    identity: &Identity,
    database_ca: &Path,
) -> BTreeMap<String, String> {
    let mut environment = function.environment.clone();
    let local_urls = endpoints.local_urls(stack);
    for value in environment.values_mut() {
        if let Some(local) = local_urls.local(value) {
            *value = local;
        }
    }
    environment.extend(endpoints.variables());
    for (name, value) in [
        ("S3_FORCE_PATH_STYLE", "true".to_owned()),
        ("DB_TLS_CA_FILE", database_ca.display().to_string()),
        ("AWS_REGION", stack.region.clone()),
        ("AWS_DEFAULT_REGION", stack.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            function.logging.log_group.clone(),
        ),
        // The Rust runtime's subscriber writes JSON when this says JSON.
        ("AWS_LAMBDA_LOG_FORMAT", function.logging.format.clone()),
        ("AWS_ACCESS_KEY_ID", identity.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            identity.secret_access_key().to_owned(),
        ),
    ] {
        environment.insert(name.to_owned(), value);
    }
    // With JSON logs: the level Lambda keeps application logs at.
    if let Some(level) = &function.logging.application_level {
        environment.insert("AWS_LAMBDA_LOG_LEVEL".to_owned(), level.clone());
    }
    environment
}

/// Which endpoint each of a function's service calls passes.
pub(super) fn routes(stack: &LocalStack, function: &Function, endpoints: &Endpoints) -> Routes {
    let mut routes = BTreeMap::new();
    for (service, url) in [
        ("s3", &endpoints.s3),
        ("rekognition", &endpoints.rekognition),
        ("secretsmanager", &endpoints.secrets),
        ("cognito-idp", &endpoints.cognito),
        ("lambda", &endpoints.lambda),
        ("sqs", &endpoints.sqs),
    ] {
        let route = if function.subnets.is_empty() {
            NetworkRoute::Direct
        } else if let Some(endpoint) = stack.gateway_endpoint_for(function, service) {
            NetworkRoute::GatewayEndpoint(endpoint.id.clone())
        } else if stack.reaches(function, service) {
            NetworkRoute::Direct
        } else {
            NetworkRoute::NoRoute {
                service: service.to_owned(),
            }
        };
        routes.insert(Endpoints::authority(url), route);
    }
    Routes(routes)
}

/// The client of a function's own HTTP requests (the migrate function's
/// answer to CloudFormation's bucket), routed as its SDK calls are.
pub(super) fn function_http_client(routes: &Routes, s3: &str) -> reqwest::Client {
    let mut headers = http::HeaderMap::new();
    if let Some(endpoint) = routes.endpoint_for(&Endpoints::authority(s3))
        && let Ok(value) = http::HeaderValue::from_str(endpoint)
    {
        headers.insert(crate::network::NETWORK_HEADER, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap_or_default()
}

/// Where `sam local invoke`'s container finds the local database's CA: the
/// function's build folder is mounted at /var/task, and `make sam-env-vars`
/// copies the CA into each one.
pub const SAM_CONTAINER_DATABASE_CA: &str = "/var/task/local-database-ca.pem";

/// The `--env-vars` file that gives `sam local invoke`'s containers what
/// the local invoke gives each function (`environments`, by logical id).
///
/// SAM applies a file only to the variables the template declares, with
/// `SamLocalInvoke=true` (samcli/local/lambdafn/env_vars.py); it sets
/// Lambda's own itself, the credentials and region from the shell's
/// session. So each entry holds the function's variables but Lambda's.
pub fn sam_env_vars_file(
    environments: &BTreeMap<String, BTreeMap<String, String>>,
) -> serde_json::Value {
    let entries = environments.iter().map(|(logical_id, environment)| {
        let variables: serde_json::Map<String, serde_json::Value> = environment
            .iter()
            .filter(|(name, _)| !set_by_lambda(name))
            .map(|(name, value)| {
                let value = if name == "DB_TLS_CA_FILE" {
                    SAM_CONTAINER_DATABASE_CA
                } else {
                    value
                };
                (name.clone(), value.into())
            })
            .collect();
        (logical_id.clone(), variables.into())
    });
    serde_json::Value::Object(entries.collect())
}

/// Lambda's own variables: no function may declare them.
fn set_by_lambda(name: &str) -> bool {
    local_stack::RESERVED_VARIABLES.contains(&name) || name.starts_with("AWS_LAMBDA_")
}
