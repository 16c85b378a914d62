//! Where a running stack listens, written at its start, so that a
//! function's environment can be printed as that stack gives it
//! (`registry-local env`, for `cargo lambda watch` against `make dev`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use local_iam::Authorizer;
use local_stack::{LocalStack, StackSettings};
use serde::{Deserialize, Serialize};

use super::*;

/// What a running stack was started with: its gateway (the HTTP API's
/// endpoint), the database server as the cluster's endpoint, its services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct RunningStack {
    pub(super) api_endpoint: String,
    pub(super) database_host: String,
    pub(super) database_port: u16,
    pub(super) endpoints: Endpoints,
}

impl RunningStack {
    fn path(state: &StatePaths, stack: &str) -> PathBuf {
        state.root.join("stacks").join(stack).join("running.json")
    }

    pub(super) fn write(&self, state: &StatePaths, stack: &str) -> Result<(), StartError> {
        let path = Self::path(state, stack);
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::secrets::write_private(&path, &json)?;
        Ok(())
    }

    fn read(state: &StatePaths, stack: &str) -> Option<Self> {
        let bytes = std::fs::read(Self::path(state, stack)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A stack on the default ports, its database on `database_url`'s server.
    fn default_on(database_url: Option<&str>) -> Result<Self, EnvironmentError> {
        let (database_host, database_port) = match database_url {
            Some(url) => {
                let rds = LocalRds::new(url).map_err(EnvironmentError::Database)?;
                (rds.host, rds.port)
            }
            None => ("127.0.0.1".to_owned(), 3306),
        };
        Ok(Self {
            api_endpoint: format!("http://{DEFAULT_GATEWAY}"),
            database_host,
            database_port,
            endpoints: Endpoints {
                s3: format!("http://{DEFAULT_S3}"),
                rekognition: format!("http://{DEFAULT_ENGINE}"),
                secrets: format!("http://{DEFAULT_SECRETS}"),
                cognito: format!("http://{DEFAULT_SIGN_IN}"),
                lambda: format!("http://{DEFAULT_LAMBDA}"),
                sqs: format!("http://{DEFAULT_SQS}"),
                load_balancer: format!("http://{DEFAULT_ALB}"),
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error(transparent)]
    Stack(#[from] local_stack::StackError),
    #[error(transparent)]
    Principals(#[from] crate::principals::PrincipalError),
    #[error("the database URL: {0}")]
    Database(#[source] crate::rds::RdsError),
    #[error("the template has no function {0:?}")]
    NoFunction(String),
    #[error("{0} is known once the stack is deployed: run `make dev` once")]
    NotDeployed(String),
}

/// The variables `function` gets in the stack `settings` name, as it runs
/// from `state` (the addresses its last start wrote), or as it would run on
/// the default ports with its database on `database_url`'s server; custom
/// resources' attributes as its last deploy answered them. Lambda's own
/// variables included, the secret access key too.
pub fn function_environment_for(
    state: &StatePaths,
    template: &Path,
    settings: StackSettings,
    function: &str,
    database_url: Option<&str>,
) -> Result<BTreeMap<String, String>, EnvironmentError> {
    let environments = Environments::load(state, template, settings, database_url)?;
    let spec = environments
        .stack
        .function(function)
        .ok_or_else(|| EnvironmentError::NoFunction(function.to_owned()))?;
    environments.of(spec)
}

/// [`function_environment_for`] for every function, by logical id.
pub fn function_environments_for(
    state: &StatePaths,
    template: &Path,
    settings: StackSettings,
    database_url: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, EnvironmentError> {
    let environments = Environments::load(state, template, settings, database_url)?;
    environments
        .stack
        .functions
        .iter()
        .map(|spec| Ok((spec.logical_id.clone(), environments.of(spec)?)))
        .collect()
}

/// What the functions' environments are made of, outside a running stack.
struct Environments {
    stack: LocalStack,
    access: local_iam::Access,
    endpoints: Endpoints,
    database_ca: PathBuf,
    attributes: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl Environments {
    fn load(
        state: &StatePaths,
        template: &Path,
        mut settings: StackSettings,
        database_url: Option<&str>,
    ) -> Result<Self, EnvironmentError> {
        let running = match RunningStack::read(state, &settings.stack_name) {
            Some(running) => running,
            None => RunningStack::default_on(database_url)?,
        };
        settings.api_endpoint.clone_from(&running.api_endpoint);
        settings.database_host.clone_from(&running.database_host);
        settings.database_port = running.database_port;
        let stack = LocalStack::load(template, &settings)?;
        let access = principals::access(&state.root_secret(), &stack, Arc::new(Authorizer::new()))?;
        let attributes =
            crate::cloudformation::deployed_attributes(&state.custom_resources(&stack.name));
        Ok(Self {
            stack,
            access,
            endpoints: running.endpoints,
            database_ca: std::env::var_os("DATABASE_TLS_CA")
                .map_or_else(|| state.root.join("mariadb/tls/ca.pem"), PathBuf::from),
            attributes,
        })
    }

    fn of(
        &self,
        spec: &local_stack::Function,
    ) -> Result<BTreeMap<String, String>, EnvironmentError> {
        let identity = self
            .access
            .keys
            .named(&spec.logical_id)
            .ok_or_else(|| EnvironmentError::NoFunction(spec.logical_id.clone()))?;
        let mut environment = function_environment(
            spec,
            &self.stack,
            &self.endpoints,
            &identity,
            &self.database_ca,
        );
        for value in environment.values_mut() {
            *value = local_stack::replace_deferred(value, |resource, attribute| {
                crate::cloudformation::attribute_text(&self.attributes, resource, attribute)
                    .ok_or_else(|| EnvironmentError::NotDeployed(format!("{resource}.{attribute}")))
            })?;
        }
        Ok(environment)
    }
}
