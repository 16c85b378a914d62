//! The Lambda Invoke API of the stack's functions, as `sam local
//! start-lambda` offers it: `POST /2015-03-31/functions/{name}/invocations`,
//! so that the AWS SDKs and CLI (`AWS_ENDPOINT_URL_LAMBDA`) invoke the
//! local functions as deployed ones.
//!
//! The function is named as Lambda accepts it: its name, its ARN or a
//! partial ARN (`account:function:name`), optionally qualified; only
//! `$LATEST` exists locally. The caller needs `lambda:InvokeFunction` on the
//! ARN it invoked: a permission on the unqualified ARN does not cover a
//! qualified one (Lambda developer guide, "Versioning, aliases and resource
//! policies"). `RequestResponse` and `DryRun` invocations are served;
//! `Event` is refused, as `sam local start-lambda` refuses it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use local_iam::{Access, AuthorizeError, Call, Conditions, sigv4};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::lambda::{LocalFunction, LocalLambda, MAX_PAYLOAD_BYTES};

/// The functions, and who may invoke them.
pub struct LambdaApi {
    pub region: String,
    pub account: String,
    pub access: Access,
    pub lambda: Arc<LocalLambda>,
}

/// An error answer of Lambda's REST-JSON protocol.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"Type": "User", "message": self.message})),
        )
            .into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        response
    }
}

#[derive(Debug, Deserialize)]
struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

impl LambdaApi {
    /// The function `name` names, with the ARN that was invoked.
    fn resolve(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(&Arc<LocalFunction>, String), ApiError> {
        // arn:aws:lambda:region:account:function:name[:qualifier],
        // account:function:name[:qualifier] or name[:qualifier].
        let parts: Vec<&str> = name.split(':').collect();
        let (region, account, function, named_qualifier) = match parts[..] {
            ["arn", _, "lambda", region, account, "function", function] => {
                (Some(region), Some(account), function, None)
            }
            [
                "arn",
                _,
                "lambda",
                region,
                account,
                "function",
                function,
                qualifier,
            ] => (Some(region), Some(account), function, Some(qualifier)),
            [account, "function", function] => (None, Some(account), function, None),
            [account, "function", function, qualifier] => {
                (None, Some(account), function, Some(qualifier))
            }
            [function] => (None, None, function, None),
            [function, qualifier] => (None, None, function, Some(qualifier)),
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint"
                    ),
                ));
            }
        };
        let qualifier = match (named_qualifier, qualifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    "The derived qualifier from the function name does not match the specified qualifier.",
                ));
            }
            (a, b) => a.or(b),
        };
        let found = self.lambda.functions().find(|f| f.spec.name == function);
        let here =
            region.is_none_or(|r| r == self.region) && account.is_none_or(|a| a == self.account);
        let unqualified = format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            self.region, self.account
        );
        let invoked = match qualifier {
            Some(qualifier) => format!("{unqualified}:{qualifier}"),
            None => unqualified,
        };
        match found {
            Some(local) if here && qualifier.is_none_or(|q| q == "$LATEST") => Ok((local, invoked)),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("Function not found: {invoked}"),
            )),
        }
    }

    async fn invoke(
        &self,
        function: &str,
        query: &InvokeQuery,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let scope = sigv4::Scope {
            service: "lambda",
            region: &self.region,
        };
        let caller = sigv4::verify(
            &self.access.keys,
            scope,
            method,
            uri,
            headers,
            body,
            SystemTime::now(),
        )
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, e.type_name(), e.to_string()))?;
        let (local, invoked) = self.resolve(function, query.qualifier.as_deref())?;
        let conditions = Conditions::of_caller(&caller);
        let call = Call {
            caller: &caller,
            action: "lambda:InvokeFunction",
            resource: &invoked,
            conditions: &conditions,
        };
        self.access
            .authorizer
            .authorize(call, None, None)
            .map_err(|error| {
                tracing::warn!(principal = %caller.name, %error, "Lambda invocation refused");
                match error {
                    AuthorizeError::Denied(denied) => ApiError::new(
                        StatusCode::FORBIDDEN,
                        "AccessDeniedException",
                        denied.to_string(),
                    ),
                    AuthorizeError::Policy(policy) => ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ServiceException",
                        policy.to_string(),
                    ),
                }
            })?;
        let invocation_type = headers
            .get("x-amz-invocation-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("RequestResponse");
        match invocation_type {
            "RequestResponse" => {}
            "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
            "Event" => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    "The local Lambda API serves RequestResponse and DryRun invocations; Event is not served",
                ));
            }
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    format!("Unknown invocation type {other:?}"),
                ));
            }
        }
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
                ),
            ));
        }
        let payload: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    format!("Could not parse request body into json: {e}"),
                )
            })?
        };
        tracing::info!(principal = %caller.name, function = %local.spec.logical_id, "function invoked through the Lambda API");
        let (answer, function_error) = match local.invoke(payload).await {
            Ok(answer) => {
                let answer = answer.to_string();
                if answer.len() > MAX_PAYLOAD_BYTES {
                    let error = json!({
                        "errorType": "Function.ResponseSizeTooLarge",
                        "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes)."),
                    });
                    (error.to_string(), true)
                } else {
                    (answer, false)
                }
            }
            Err(error) => (
                json!({"errorType": error.error_type, "errorMessage": error.message}).to_string(),
                true,
            ),
        };
        let mut response = (StatusCode::OK, answer).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "x-amz-executed-version",
            HeaderValue::from_static("$LATEST"),
        );
        if function_error {
            headers.insert(
                "x-amz-function-error",
                HeaderValue::from_static("Unhandled"),
            );
        }
        Ok(response)
    }

    /// Serves the API on `listener` until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let address: SocketAddr = listener.local_addr()?;
        tracing::info!(%address, "Lambda API listening");
        let router = Router::new()
            .route("/2015-03-31/functions/{function}/invocations", post(invoke))
            // The payload limit is answered as Lambda answers it.
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES + 1024))
            .with_state(self);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn invoke(
    State(api): State<Arc<LambdaApi>>,
    Path(function): Path<String>,
    Query(query): Query<InvokeQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    api.invoke(&function, &query, &method, &uri, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
