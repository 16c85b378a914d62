//! The `migrate` function: a CloudFormation custom resource that applies
//! the database migrations when the stack is created or updated.

use std::future::Future;

use aws_lambda_events::cloudformation::{
    CloudFormationCustomResourceRequest as Request,
    CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};

const PHYSICAL_ID: &str = "database-migrations";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the request is not a Create, Update or Delete")]
    UnknownRequest,
    #[error("could not send the result to CloudFormation: {0}")]
    Respond(String),
}

/// Runs `apply` for Create and Update (Delete keeps the data), then reports
/// the outcome to the request's presigned response URL. A failed migration
/// fails the stack operation with its message, which holds no secret.
pub async fn handle<F, Fut, E>(
    request: &Request,
    apply: F,
    http: &reqwest::Client,
) -> Result<Response, MigrateError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let (outcome, url, stack_id, request_id, logical_id) = match request {
        Request::Create(r) => (
            apply().await.map_err(|e| e.to_string()),
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
        ),
        Request::Update(r) => (
            apply().await.map_err(|e| e.to_string()),
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
        ),
        Request::Delete(r) => (
            Ok(()),
            &r.response_url,
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
        ),
        _ => return Err(MigrateError::UnknownRequest),
    };
    if let Err(reason) = &outcome {
        tracing::error!(%reason, "migrations failed");
    }
    let mut response = Response::default();
    response.status = if outcome.is_ok() {
        Status::Success
    } else {
        Status::Failed
    };
    response.reason = outcome.err();
    response.physical_resource_id = PHYSICAL_ID.to_owned();
    response.stack_id = stack_id.clone();
    response.request_id = request_id.clone();
    response.logical_resource_id = logical_id.clone();
    let body = serde_json::to_vec(&response).map_err(|e| MigrateError::Respond(e.to_string()))?;
    // The presigned URL signs an empty Content-Type.
    let sent = http
        .put(url)
        .header(reqwest::header::CONTENT_TYPE, "")
        .body(body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| MigrateError::Respond(e.without_url().to_string()))?;
    tracing::info!(
        status = sent.status().as_u16(),
        "result sent to CloudFormation"
    );
    Ok(response)
}
