//! `indexer`: S3 `ObjectCreated` events.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use metrics_cloudwatch_embedded::lambda::service::run;
use registry_adapters::Config;
use registry_api::indexer::S3Event;
use registry_wiring::Setup;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let setup = Setup::lambda(Config::from_env()?, "indexer").await;
    let metrics = setup.metrics()?;
    let indexer = registry_wiring::indexer(&setup).await?;
    let indexer = &indexer;
    run(
        metrics,
        service_fn(|event: LambdaEvent<S3Event>| async move {
            indexer
                .handle(&event.payload, &event.context.request_id)
                .await
                .map(|_| ())
        }),
    )
    .await
}
