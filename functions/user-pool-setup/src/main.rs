//! `user-pool-setup`: gives the operators' app client its settings once the
//! API exists (its callback URLs name the API's origin), as a
//! CloudFormation custom resource.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = registry_adapters::config::UserPoolSetupConfig::from_env()?;
    let aws = registry_adapters::aws::config_loader().load().await;
    let function = registry_wiring::user_pool_setup(&aws, reqwest::Client::new(), config);
    let function = &function;
    run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { function.handle(&event.payload).await },
    ))
    .await
}
