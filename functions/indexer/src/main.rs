//! `indexer`: S3 `ObjectCreated` events.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use registry_adapters::{Adapters, Config};
use registry_api::indexer::S3Event;
use registry_api::{IndexerFn, Metrics};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let adapters = Adapters::connect(&config).await?;
    let indexer = IndexerFn {
        people: adapters.people(),
        photos: adapters.photos(&config),
        faces: adapters.faces(&config),
        metrics: Metrics::new(&config.metrics_namespace, "indexer"),
    };
    let indexer = &indexer;
    run(service_fn(|event: LambdaEvent<S3Event>| async move {
        indexer
            .handle(&event.payload)
            .await
            .map(|_| ())
            .map_err(Error::from)
    }))
    .await
}
