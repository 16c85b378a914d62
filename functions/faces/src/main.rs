//! `faces`: `GET /api/faces`, `GET /api/faces/{id}` and `GET /faces`.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn, tracing};
use registry_adapters::{Adapters, Config};
use registry_api::{FacesApi, Metrics, PhotoLinks};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let adapters = Adapters::connect(&config).await?;
    let photo_links = match &config.public_media_base_url {
        Some(base) => PhotoLinks::PublicBase(base.clone()),
        None => PhotoLinks::Presigned {
            ttl: config.photo_url_ttl,
        },
    };
    let api = FacesApi {
        people: adapters.people(),
        photos: adapters.photos(&config),
        photo_links,
        metrics: Metrics::new(&config.metrics_namespace, "faces"),
    };
    run(service_fn(|request| async {
        Ok::<_, Infallible>(api.handle(request).await)
    }))
    .await
}
