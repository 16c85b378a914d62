//! `migrate`: applies the database migrations as a CloudFormation custom resource.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use registry_adapters::database::migrate;
use registry_adapters::{Adapters, Config};
use registry_api::migrate::handle;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let adapters = Adapters::connect(&config).await?;
    let http = reqwest::Client::new();
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let (adapters, http) = (&adapters, &http);
        async move {
            let request = serde_json::from_value(event.payload)?;
            handle(&request, || migrate(&adapters.pool), http).await?;
            Ok::<(), Error>(())
        }
    }))
    .await
}
