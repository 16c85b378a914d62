//! `migrate`: applies the database migrations and sets up the functions'
//! database users, as a CloudFormation custom resource. It starts whatever
//! its configuration says, so that it always answers CloudFormation.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use registry_adapters::Config;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let aws = registry_adapters::aws::config_loader().load().await;
    let migrate = registry_wiring::migrate(
        &registry_adapters::MIGRATOR,
        Config::from_env(),
        aws,
        reqwest::Client::new(),
    )
    .await;
    let migrate = &migrate;
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { migrate.handle(&event.payload).await },
    ))
    .await
}
