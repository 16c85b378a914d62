//! `health`: `GET /healthz`.

use std::convert::Infallible;

use lambda_http::{Error, service_fn, tracing};
use metrics_cloudwatch_embedded::lambda::service::run_http;
use registry_adapters::Config;
use registry_wiring::Setup;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let setup = Setup::lambda(Config::from_env()?, "health").await;
    let metrics = setup.metrics()?;
    let api = registry_wiring::health(&setup).await?;
    run_http(
        metrics,
        service_fn(|request| async { Ok::<_, Infallible>(api.handle(request).await) }),
    )
    .await
}
