//! Answering CloudFormation as a custom resource (the `migrate` and
//! `user-pool-setup` functions).
//!
//! CloudFormation waits for an answer on the request's presigned
//! `ResponseURL` (until the resource's `ServiceTimeout`). So every request
//! that names a response URL is answered, SUCCESS or FAILED, whatever went
//! wrong before: a configuration that does not load, a secret that cannot
//! be read, a database that does not answer, a request that is not one.

use std::future::Future;

use aws_lambda_events::cloudformation::{
    CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};
use serde_json::Value;

/// A resource's attributes, by name.
pub type Attributes = std::collections::HashMap<String, String>;

/// CloudFormation refuses answers larger than this.
const MAX_RESPONSE_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CustomResourceError {
    #[error("the request has no ResponseURL: there is nowhere to answer")]
    NoResponseUrl,
    #[error("could not send the result to CloudFormation: {0}")]
    Respond(String),
}

impl From<CustomResourceError> for lambda_runtime::Diagnostic {
    fn from(error: CustomResourceError) -> Self {
        let error_type = match error {
            CustomResourceError::NoResponseUrl => "CustomResource.NoResponseUrl",
            CustomResourceError::Respond(_) => "CustomResource.ResponseNotSent",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What CloudFormation asks, read leniently from the raw event so that even
/// a request that is not one can be answered.
struct Request<'a> {
    kind: Option<&'a str>,
    response_url: &'a str,
    stack_id: &'a str,
    request_id: &'a str,
    logical_id: &'a str,
    physical_id: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn read(event: &'a Value) -> Result<Self, CustomResourceError> {
        let text = |name: &str| event.get(name).and_then(Value::as_str);
        Ok(Self {
            kind: text("RequestType"),
            response_url: text("ResponseURL")
                .filter(|url| !url.is_empty())
                .ok_or(CustomResourceError::NoResponseUrl)?,
            stack_id: text("StackId").unwrap_or_default(),
            request_id: text("RequestId").unwrap_or_default(),
            logical_id: text("LogicalResourceId").unwrap_or_default(),
            physical_id: text("PhysicalResourceId").filter(|id| !id.is_empty()),
        })
    }
}

/// Answers `event`: for Create and Update, with the outcome of `apply` (or
/// of `setup`, when the function could not even get ready): the resource's
/// attributes (`Data`, what `Fn::GetAtt` reads) or why it failed; Delete
/// keeps what was done and always succeeds. A new resource is named
/// `physical_id`. The reason of a failure holds no secret.
pub async fn respond<F, Fut>(
    event: &Value,
    physical_id: &str,
    setup: Result<(), &str>,
    apply: F,
    http: &reqwest::Client,
) -> Result<Response, CustomResourceError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Attributes, String>>,
{
    let request = Request::read(event)?;
    let outcome = match request.kind {
        Some("Create" | "Update") => match setup {
            Ok(()) => apply().await,
            Err(reason) => Err(reason.to_owned()),
        },
        Some("Delete") => Ok(Attributes::new()),
        Some(other) => Err(format!("{other} is not a Create, Update or Delete request")),
        None => Err("the request has no RequestType".to_owned()),
    };
    if let Err(reason) = &outcome {
        tracing::error!(%reason, request_type = request.kind.unwrap_or("-"), resource = request.logical_id, "custom resource failed");
    }
    let response = response(&request, physical_id, outcome);
    let body =
        serde_json::to_vec(&response).map_err(|e| CustomResourceError::Respond(e.to_string()))?;
    // The presigned URL signs an empty Content-Type.
    let sent = http
        .put(request.response_url)
        .header(reqwest::header::CONTENT_TYPE, "")
        .body(body)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| CustomResourceError::Respond(e.without_url().to_string()))?;
    tracing::info!(
        status = sent.status().as_u16(),
        result = ?response.status,
        "result sent to CloudFormation"
    );
    Ok(response)
}

fn response(
    request: &Request<'_>,
    physical_id: &str,
    outcome: Result<Attributes, String>,
) -> Response {
    let mut response = Response::default();
    response.status = if outcome.is_ok() {
        Status::Success
    } else {
        Status::Failed
    };
    // Update and Delete keep the id CloudFormation knows; a new one would
    // mean a replacement.
    response.physical_resource_id = request.physical_id.unwrap_or(physical_id).to_owned();
    response.stack_id = request.stack_id.to_owned();
    response.request_id = request.request_id.to_owned();
    response.logical_resource_id = request.logical_id.to_owned();
    match outcome {
        Ok(attributes) => response.data = attributes,
        Err(reason) => response.reason = Some(fit_reason(&response, &reason)),
    }
    response
}

/// The reason, shortened so that the whole answer fits CloudFormation's limit.
fn fit_reason(response: &Response, reason: &str) -> String {
    let size = |reason: &str| {
        let mut candidate = response.clone();
        candidate.reason = Some(reason.to_owned());
        serde_json::to_vec(&candidate).map_or(usize::MAX, |body| body.len())
    };
    if size(reason) <= MAX_RESPONSE_BYTES {
        return reason.to_owned();
    }
    // The longest prefix that fits, by bisection (escaping makes the size
    // of a character in JSON vary).
    let chars: Vec<char> = reason.chars().collect();
    let cut = |n: usize| format!("{}…", chars[..n].iter().collect::<String>());
    let (mut fits, mut too_long) = (0, chars.len());
    while too_long - fits > 1 {
        let middle = (fits + too_long) / 2;
        if size(&cut(middle)) <= MAX_RESPONSE_BYTES {
            fits = middle;
        } else {
            too_long = middle;
        }
    }
    cut(fits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(event: &Value) -> Request<'_> {
        Request::read(event).unwrap()
    }

    #[test]
    fn long_reasons_are_cut_to_fit_cloudformations_limit() {
        let event = json!({"ResponseURL": "http://x", "RequestType": "Create", "StackId": "s",
                           "RequestId": "r", "LogicalResourceId": "DatabaseMigrations"});
        let reason = "é\"\\".repeat(3000);
        let response = response(&request(&event), "id", Err(reason));
        let body = serde_json::to_vec(&response).unwrap();
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{}", body.len());
        assert!(body.len() > MAX_RESPONSE_BYTES - 16, "{}", body.len());
        assert!(response.reason.unwrap().ends_with('…'));
    }

    #[test]
    fn updates_and_deletes_keep_the_physical_id() {
        let event = json!({"ResponseURL": "http://x", "RequestType": "Delete", "PhysicalResourceId": "earlier-id"});
        assert_eq!(
            response(&request(&event), "new-id", Ok(Attributes::new())).physical_resource_id,
            "earlier-id"
        );
        let event = json!({"ResponseURL": "http://x", "RequestType": "Create"});
        assert_eq!(
            response(&request(&event), "new-id", Ok(Attributes::new())).physical_resource_id,
            "new-id"
        );
    }

    #[test]
    fn without_a_response_url_there_is_nothing_to_answer() {
        assert!(matches!(
            Request::read(&json!({"RequestType": "Create"})),
            Err(CustomResourceError::NoResponseUrl)
        ));
    }
}
