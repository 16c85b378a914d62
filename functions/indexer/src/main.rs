//! `indexer`: the photo bucket's S3 events, read from IndexQueue (SQS).

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use metrics_cloudwatch_embedded::lambda::service::run;
use registry_adapters::Config;
use registry_api::indexer::SqsEvent;
use registry_wiring::Setup;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let setup = Setup::lambda(Config::from_env()?, "indexer").await;
    let metrics = setup.metrics()?;
    let indexer = registry_wiring::indexer(&setup).await?;
    let indexer = &indexer;
    run(
        metrics,
        service_fn(|event: LambdaEvent<SqsEvent>| async move {
            indexer
                .handle_messages(&event.payload, &event.context.request_id)
                .await
        }),
    )
    .await
}
