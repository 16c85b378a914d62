//! `upload`: `POST /api/uploads` and `GET /upload`.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn, tracing};
use registry_adapters::{Adapters, Config};
use registry_api::{Metrics, UploadApi};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let adapters = Adapters::connect(&config).await?;
    let api = UploadApi {
        people: adapters.people(),
        photos: adapters.photos(&config),
        url_ttl: config.upload_url_ttl,
        metrics: Metrics::new(&config.metrics_namespace, "upload"),
    };
    run(service_fn(|request| async {
        Ok::<_, Infallible>(api.handle(request).await)
    }))
    .await
}
