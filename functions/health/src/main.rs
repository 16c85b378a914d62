//! `health`: `GET /healthz`.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn, tracing};
use registry_adapters::{Adapters, Config};
use registry_api::{HealthApi, Metrics};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let adapters = Adapters::connect(&config).await?;
    let api = HealthApi {
        people: adapters.people(),
        bucket: config.bucket.clone(),
        collection: config.collection.clone(),
        metrics: Metrics::new(&config.metrics_namespace, "health"),
    };
    run(service_fn(|request| async {
        Ok::<_, Infallible>(api.handle(request).await)
    }))
    .await
}
