//! The part of the user pools API (AWS JSON 1.1, `AWSCognitoIdentityProviderService.*`)
//! that the stack's custom resources call: `DescribeUserPoolClient` and
//! `UpdateUserPoolClient`, signed (SigV4, service `cognito-idp`) and
//! authorized by IAM on the pool's ARN.
//!
//! `UpdateUserPoolClient` sets every setting it is given and resets every
//! other one to its default, as Cognito does
//! (docs.aws.amazon.com/cognito/latest/developerguide/cognito-user-pool-updating.html).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, Method, Uri};
use local_iam::json_api::{self, JsonError};
use local_iam::sigv4::Scope;
use local_iam::{AuthorizeError, Call, Conditions, Identity};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ClientSettings, UserPool};

const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

pub(crate) fn router() -> Router<Arc<UserPool>> {
    Router::new().route("/", post(handle))
}

type ApiError = JsonError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientRef {
    user_pool_id: String,
    client_id: String,
}

impl UserPool {
    pub(crate) fn authorize(&self, caller: &Identity, action: &str) -> Result<(), ApiError> {
        let conditions = Conditions::of_caller(caller);
        let call = Call {
            caller,
            action,
            resource: &self.spec.arn,
            conditions: &conditions,
        };
        self.access
            .authorizer
            .authorize(call, None, None)
            .map_err(|error| {
                tracing::warn!(principal = %caller.name, %error, "user pools API request refused");
                match error {
                    AuthorizeError::Denied(denied) => {
                        ApiError::new("AccessDeniedException", denied.to_string())
                    }
                    AuthorizeError::Policy(policy) => {
                        ApiError::new("InternalErrorException", policy.to_string())
                    }
                }
            })
    }

    fn client_of(&self, reference: &ClientRef) -> Result<ClientSettings, ApiError> {
        if reference.user_pool_id != self.spec.id {
            return Err(ApiError::new(
                "ResourceNotFoundException",
                format!("User pool {} does not exist.", reference.user_pool_id),
            ));
        }
        self.client(&reference.client_id).ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("User pool client {} does not exist.", reference.client_id),
            )
        })
    }

    fn describe(&self, reference: &ClientRef, settings: &ClientSettings) -> Value {
        let mut client = serde_json::to_value(settings).unwrap_or_else(|_| json!({}));
        client["UserPoolId"] = json!(reference.user_pool_id);
        client["ClientId"] = json!(reference.client_id);
        if let Some(secret) = self.client_secret(&reference.client_id) {
            client["ClientSecret"] = json!(secret);
        }
        json!({ "UserPoolClient": client })
    }

    fn describe_user_pool_client(&self, caller: &Identity, body: &[u8]) -> Result<Value, ApiError> {
        let reference: ClientRef = parse(body)?;
        self.authorize(caller, "cognito-idp:DescribeUserPoolClient")?;
        let settings = self.client_of(&reference)?;
        Ok(self.describe(&reference, &settings))
    }

    fn update_user_pool_client(&self, caller: &Identity, body: &[u8]) -> Result<Value, ApiError> {
        let reference: ClientRef = parse(body)?;
        self.authorize(caller, "cognito-idp:UpdateUserPoolClient")?;
        let current = self.client_of(&reference)?;
        let mut settings: ClientSettings = parse(body)?;
        settings.generate_secret = current.generate_secret;
        if settings.allowed_oauth_flows_user_pool_client
            && (settings.allowed_oauth_flows.is_empty() || settings.allowed_oauth_scopes.is_empty())
        {
            return Err(ApiError::new(
                "InvalidParameterException",
                "AllowedOAuthFlows and AllowedOAuthScopes are required if user pool client is allowed to use OAuth flows.",
            ));
        }
        if let Some(bad) = settings
            .callback_urls
            .iter()
            .chain(&settings.logout_urls)
            .find(|url| !valid_redirect(url))
        {
            return Err(ApiError::new(
                "InvalidParameterException",
                format!(
                    "{bad} is not a valid callback or sign-out URL: HTTPS is required, except for http://localhost"
                ),
            ));
        }
        {
            let mut clients = self
                .clients
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            clients.insert(reference.client_id.clone(), settings.clone());
            self.stored_clients
                .save(&self.spec.clients, &clients)
                .map_err(|e| {
                    ApiError::new(
                        "InternalErrorException",
                        format!("the client could not be kept: {e}"),
                    )
                })?;
        }
        tracing::info!(client = %reference.client_id, callbacks = settings.callback_urls.len(), "user pool client updated");
        Ok(self.describe(&reference, &settings))
    }
}

/// Cognito wants HTTPS, except on localhost; locally the runtime's own
/// loopback addresses stand in for the API's HTTPS origin.
fn valid_redirect(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.fragment().is_none() => match parsed.scheme() {
            "https" => true,
            "http" => matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            _ => false,
        },
        _ => false,
    }
}

pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    json_api::parse(body, "InvalidParameterException")
}

async fn handle(
    State(pool): State<Arc<UserPool>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = Scope {
        service: "cognito-idp",
        region: &pool.spec.region,
    };
    let request = json_api::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    json_api::respond(
        &pool.access.keys,
        scope,
        TARGET_PREFIX,
        request,
        |operation, caller| match operation {
            "DescribeUserPoolClient" => pool.describe_user_pool_client(caller, &body),
            "UpdateUserPoolClient" => pool.update_user_pool_client(caller, &body),
            "AdminCreateUser" => pool.admin_create_user(caller, &body),
            "AdminAddUserToGroup" => pool.admin_add_user_to_group(caller, &body),
            other => Err(ApiError::new(
                "UnknownOperationException",
                format!("Operation {other:?} is not supported by the local user pool"),
            )),
        },
    )
    .into_response()
}
