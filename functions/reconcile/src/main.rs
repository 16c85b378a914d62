//! `reconcile`: run by EventBridge Scheduler; its answer is the run's report.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use registry_adapters::Config;
use registry_wiring::Setup;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let setup = Setup::lambda(Config::from_env()?, "reconcile").await;
    let reconcile = registry_wiring::reconcile(&setup).await?;
    let reconcile = &reconcile;
    run(service_fn(|event: LambdaEvent<Value>| async move {
        reconcile
            .handle(&event.context.request_id, event.context.deadline)
            .await
    }))
    .await
}
