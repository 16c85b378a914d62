//! Consumers of S3 events: the trait the store delivers to, and a target that
//! calls a function through the Lambda Invoke API.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::s3::S3Event;

use crate::event::event_to_json;

/// Longest part of a failing response body kept in an error message.
const BODY_EXCERPT_LIMIT: usize = 1024;

/// Receives the S3 events of the store, like an S3-triggered function.
/// An `Err` makes the store retry the event, then keep it as a dead letter.
#[async_trait]
pub trait EventTarget: Send + Sync {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError>;
}

/// The on-failure destination of a target's events: Lambda sends an event
/// that failed every attempt there as the function's role, which may be
/// refused (then the event is lost, as in AWS).
pub trait FailureDestination: Send + Sync {
    /// `Ok` when the event may be sent; otherwise why not.
    fn admit(&self) -> Result<(), String>;
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// The function ran and reported an error.
    #[error("function error: {0}")]
    Function(String),
    /// The invoke endpoint could not be reached or did not answer.
    #[error("invoke request failed: {}", error_chain(.0))]
    Transport(#[source] reqwest::Error),
    /// The invoke endpoint answered with a non-2xx status.
    #[error("invoke endpoint answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The function answered with `X-Amz-Function-Error`.
    #[error("function error ({kind}): {body}")]
    FunctionErrorHeader { kind: String, body: String },
    /// The event could not be serialized.
    #[error("event could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The invocation did not finish in time.
    #[error("invocation did not finish within {0:?}")]
    TimedOut(Duration),
    /// The invocation panicked.
    #[error("invocation panicked: {0}")]
    Panicked(String),
}

impl InvocationError {
    /// A function error from any displayable error of an in-process handler.
    pub fn function(error: impl std::fmt::Display) -> Self {
        Self::Function(error.to_string())
    }
}

/// Error building a [`LambdaInvokeTarget`].
#[derive(Debug, thiserror::Error)]
pub enum InvokeTargetError {
    #[error("invoke URL {url:?} is not a valid http(s) URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// Delivers events with the Lambda Invoke API (`RequestResponse`), e.g. to
/// `cargo lambda watch` at
/// `http://127.0.0.1:9000/2015-03-31/functions/indexer/invocations`.
#[derive(Debug, Clone)]
pub struct LambdaInvokeTarget {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl LambdaInvokeTarget {
    /// A target for `url`; each call may take up to `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, InvokeTargetError> {
        let invalid = |reason: String| InvokeTargetError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|error| invalid(error.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?} is not http or https",
                parsed.scheme()
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(InvokeTargetError::Client)?;
        Ok(Self {
            client,
            url: parsed,
        })
    }

    #[must_use]
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }
}

#[async_trait]
impl EventTarget for LambdaInvokeTarget {
    async fn invoke(&self, event: &S3Event) -> Result<(), InvocationError> {
        let body = serde_json::to_vec(&event_to_json(event)?)?;
        let response = self
            .client
            .post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("X-Amz-Invocation-Type", "RequestResponse")
            .body(body)
            .send()
            .await
            .map_err(InvocationError::Transport)?;
        let status = response.status();
        let function_error = response
            .headers()
            .get("X-Amz-Function-Error")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        let body = response.text().await.unwrap_or_default();
        let body = excerpt(&body);
        if let Some(kind) = function_error {
            return Err(InvocationError::FunctionErrorHeader { kind, body });
        }
        if !status.is_success() {
            return Err(InvocationError::Status {
                status: status.as_u16(),
                body,
            });
        }
        Ok(())
    }
}

/// reqwest names the failed step only; its causes say why (e.g. refused).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn excerpt(body: &str) -> String {
    match body.char_indices().nth(BODY_EXCERPT_LIMIT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_urls_that_are_not_http() {
        let error = LambdaInvokeTarget::new("ftp://x/y", Duration::from_secs(1)).unwrap_err();
        assert!(error.to_string().contains("not http or https"), "{error}");
        assert!(LambdaInvokeTarget::new("not a url", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn long_bodies_are_cut() {
        let long = "é".repeat(BODY_EXCERPT_LIMIT + 10);
        assert_eq!(excerpt(&long).chars().count(), BODY_EXCERPT_LIMIT + 1);
        assert_eq!(excerpt("short"), "short");
    }
}
