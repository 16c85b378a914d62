//! `reconcile`: run by EventBridge Scheduler (`{}`), or by an operator
//! (`{"rebuildCollection": true}`); its answer is the run's report.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use metrics_cloudwatch_embedded::lambda::service::run;
use registry_adapters::Config;
use registry_api::reconcile::ReconcileRequest;
use registry_wiring::Setup;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let setup = Setup::lambda(Config::from_env()?, "reconcile").await;
    let metrics = setup.metrics()?;
    let reconcile = registry_wiring::reconcile(&setup).await?;
    let reconcile = &reconcile;
    run(
        metrics,
        service_fn(|event: LambdaEvent<ReconcileRequest>| async move {
            reconcile
                .handle(
                    event.payload,
                    &event.context.request_id,
                    event.context.deadline,
                )
                .await
        }),
    )
    .await
}
