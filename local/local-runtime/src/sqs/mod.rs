//! A local Amazon SQS for the stack's queues: the photo events S3 sends to
//! `IndexQueue`, which the indexer's event source mapping reads
//! ([`poller`]), and the dead-letter queue its redrive policy fills, read
//! by `registry dead-letters` and any SQS client, against `make dev` as
//! against a deployed stack.
//!
//! It speaks SQS's AWS JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.*`):
//! `GetQueueUrl`, `GetQueueAttributes`, `SendMessage`, `ReceiveMessage`,
//! `ChangeMessageVisibility`, `DeleteMessage` and
//! `ListDeadLetterSourceQueues`. Every request is signed (SigV4) and
//! authorized as SQS does: the caller's policies and the queue policy;
//! sending to an encrypted queue also needs `kms:GenerateDataKey` on its
//! key, receiving `kms:Decrypt`, which the key policy must allow (SQS
//! developer guide, "Key management").

pub mod dead_letters;
pub mod poller;
pub mod queue;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use local_iam::json_api::{self, JsonError};
use local_iam::sigv4::Scope;
use local_iam::{Access, AuthorizeError, Conditions, Identity};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use queue::{Queue, QueueSpec, Received, StoredMessage};

const TARGET_PREFIX: &str = "AmazonSQS.";
/// How often a long poll looks for new messages.
const POLL_EVERY: Duration = Duration::from_millis(200);

fn internal(error: impl std::fmt::Display) -> JsonError {
    JsonError::new("InternalError", error.to_string())
}

/// The queues, and who may use them.
pub struct LocalSqs {
    pub region: String,
    pub account: String,
    pub access: Access,
    pub queues: Vec<Arc<Queue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageRequest {
    queue_url: String,
    message_body: String,
    delay_seconds: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListDeadLetterSourceQueuesRequest {
    queue_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueUrlRequest {
    queue_name: String,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueAttributesRequest {
    queue_url: String,
    #[serde(default)]
    attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveMessageRequest {
    queue_url: String,
    max_number_of_messages: Option<i64>,
    visibility_timeout: Option<i64>,
    wait_time_seconds: Option<i64>,
    /// The older name of `MessageSystemAttributeNames`.
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteMessageRequest {
    queue_url: String,
    receipt_handle: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeMessageVisibilityRequest {
    queue_url: String,
    receipt_handle: String,
    visibility_timeout: i64,
}

/// `value` of parameter `name` within `range` (SQS's limits), or why not.
fn within(name: &str, value: i64, range: std::ops::RangeInclusive<i64>) -> Result<u64, JsonError> {
    if range.contains(&value) {
        Ok(value.unsigned_abs())
    } else {
        Err(JsonError::new(
            "InvalidParameterValue",
            format!(
                "Value {value} for parameter {name} is invalid. Reason: Must be between {} and {}, if provided.",
                range.start(),
                range.end()
            ),
        ))
    }
}

impl LocalSqs {
    /// The queue a URL names: its path is `/account/name`, whatever its
    /// host (the local endpoint's or SQS's own, as the stack's outputs
    /// give it).
    fn queue(&self, url: &str) -> Result<&Arc<Queue>, JsonError> {
        let path = url::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        let mut parts = path.trim_matches('/').split('/');
        let (account, name) = (parts.next(), parts.next());
        self.queues
            .iter()
            .find(|q| account == Some(self.account.as_str()) && name == Some(q.spec.name.as_str()))
            .filter(|_| parts.next().is_none())
            .ok_or_else(does_not_exist)
    }

    fn authorize(&self, caller: &Identity, action: &str, queue: &Queue) -> Result<(), JsonError> {
        queue
            .authorize(&self.access, caller, action, &Conditions::of_caller(caller))
            .map_err(|error| refused(caller, &error))
    }

    fn authorize_key(
        &self,
        caller: &Identity,
        action: &str,
        queue: &Queue,
    ) -> Result<(), JsonError> {
        queue
            .authorize_key(&self.access, caller, action, &self.region)
            .map_err(|error| refused(caller, &error))
    }

    fn get_queue_url(
        &self,
        caller: &Identity,
        request: &GetQueueUrlRequest,
    ) -> Result<Value, JsonError> {
        let owner = request.owner.as_deref().unwrap_or(&self.account);
        let queue = self
            .queues
            .iter()
            .find(|q| q.spec.name == request.queue_name && owner == self.account)
            .ok_or_else(does_not_exist)?;
        self.authorize(caller, "sqs:GetQueueUrl", queue)?;
        Ok(json!({"QueueUrl": queue.spec.url}))
    }

    async fn get_queue_attributes(
        &self,
        caller: &Identity,
        request: &GetQueueAttributesRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        self.authorize(caller, "sqs:GetQueueAttributes", queue)?;
        let (visible, in_flight) = queue.counts();
        let redrive = queue.dead_letter_queue().map(|dlq| dlq.spec.arn.clone());
        let known = [
            ("QueueArn", queue.spec.arn.clone()),
            ("ApproximateNumberOfMessages", visible.to_string()),
            (
                "ApproximateNumberOfMessagesNotVisible",
                in_flight.to_string(),
            ),
            (
                "VisibilityTimeout",
                queue.spec.visibility_timeout.as_secs().to_string(),
            ),
            (
                "MessageRetentionPeriod",
                queue.spec.retention.as_secs().to_string(),
            ),
            (
                "RedrivePolicy",
                redrive
                    .map(|arn| json!({"deadLetterTargetArn": arn}).to_string())
                    .unwrap_or_default(),
            ),
            (
                "KmsMasterKeyId",
                queue
                    .spec
                    .key
                    .as_ref()
                    .map(|k| k.arn.clone())
                    .unwrap_or_default(),
            ),
        ];
        let all = request.attribute_names.iter().any(|n| n == "All");
        let mut attributes = serde_json::Map::new();
        for name in &request.attribute_names {
            if name != "All" && !known.iter().any(|(known, _)| known == name) {
                return Err(JsonError::new(
                    "InvalidAttributeName",
                    format!("Unknown Attribute {name}."),
                ));
            }
        }
        for (name, value) in known {
            let asked = all || request.attribute_names.iter().any(|n| n == name);
            if asked && !value.is_empty() {
                attributes.insert(name.to_owned(), Value::String(value));
            }
        }
        Ok(json!({"Attributes": attributes}))
    }

    async fn receive_message(
        &self,
        caller: &Identity,
        request: &ReceiveMessageRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        let limit = within(
            "MaxNumberOfMessages",
            request.max_number_of_messages.unwrap_or(1),
            1..=10,
        )?;
        let visibility = match request.visibility_timeout {
            Some(seconds) => Duration::from_secs(within("VisibilityTimeout", seconds, 0..=43_200)?),
            None => queue.spec.visibility_timeout,
        };
        let wait = Duration::from_secs(within(
            "WaitTimeSeconds",
            request.wait_time_seconds.unwrap_or(0),
            0..=20,
        )?);
        self.authorize(caller, "sqs:ReceiveMessage", queue)?;
        self.authorize_key(caller, "kms:Decrypt", queue)?;
        let limit = usize::try_from(limit).unwrap_or(10);
        let until = Instant::now() + wait;
        let received = loop {
            let received = queue.receive(limit, visibility).map_err(internal)?;
            if !received.is_empty() || Instant::now() >= until {
                break received;
            }
            queue
                .wait_for_messages(POLL_EVERY.min(until - Instant::now()))
                .await;
        };
        let wanted = |name: &str| {
            request
                .attribute_names
                .iter()
                .chain(&request.message_system_attribute_names)
                .any(|n| n == "All" || n == name)
        };
        let messages: Vec<Value> = received
            .iter()
            .map(|received| message_json(received, &wanted))
            .collect();
        tracing::info!(principal = %caller.name, queue = %queue.spec.name, messages = messages.len(), "messages received");
        Ok(json!({"Messages": messages}))
    }

    fn delete_message(
        &self,
        caller: &Identity,
        request: &DeleteMessageRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        self.authorize(caller, "sqs:DeleteMessage", queue)?;
        queue.delete(&request.receipt_handle)?;
        Ok(json!({}))
    }

    fn send_message(
        &self,
        caller: &Identity,
        request: &SendMessageRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        if request.delay_seconds.is_some_and(|delay| delay != 0) {
            return Err(JsonError::new(
                "InvalidParameterValue",
                "DelaySeconds is not served locally: send without a delay",
            ));
        }
        if request.message_body.is_empty() {
            return Err(JsonError::new(
                "MissingParameter",
                "The request must contain the parameter MessageBody.",
            ));
        }
        self.authorize(caller, "sqs:SendMessage", queue)?;
        self.authorize_key(caller, "kms:GenerateDataKey", queue)?;
        let id = queue.send(request.message_body.clone()).map_err(internal)?;
        Ok(json!({
            "MessageId": id,
            "MD5OfMessageBody": hex::encode(Md5::digest(request.message_body.as_bytes())),
        }))
    }

    fn list_dead_letter_source_queues(
        &self,
        caller: &Identity,
        request: &ListDeadLetterSourceQueuesRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        self.authorize(caller, "sqs:ListDeadLetterSourceQueues", queue)?;
        let sources: Vec<&str> = self
            .queues
            .iter()
            .filter(|q| {
                q.dead_letter_queue()
                    .is_some_and(|dlq| Arc::ptr_eq(dlq, queue))
            })
            .map(|q| q.spec.url.as_str())
            .collect();
        Ok(json!({"queueUrls": sources}))
    }

    fn change_message_visibility(
        &self,
        caller: &Identity,
        request: &ChangeMessageVisibilityRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        let visibility = within("VisibilityTimeout", request.visibility_timeout, 0..=43_200)?;
        self.authorize(caller, "sqs:ChangeMessageVisibility", queue)?;
        queue.change_visibility(&request.receipt_handle, Duration::from_secs(visibility))?;
        Ok(json!({}))
    }

    async fn dispatch(
        &self,
        operation: &str,
        caller: &Identity,
        body: &[u8],
    ) -> Result<Value, JsonError> {
        match operation {
            "GetQueueUrl" => self.get_queue_url(caller, &parse(body)?),
            "GetQueueAttributes" => self.get_queue_attributes(caller, &parse(body)?).await,
            "ReceiveMessage" => self.receive_message(caller, &parse(body)?).await,
            "DeleteMessage" => self.delete_message(caller, &parse(body)?),
            "SendMessage" => self.send_message(caller, &parse(body)?),
            "ListDeadLetterSourceQueues" => {
                self.list_dead_letter_source_queues(caller, &parse(body)?)
            }
            "ChangeMessageVisibility" => self.change_message_visibility(caller, &parse(body)?),
            other => Err(JsonError::new(
                "UnsupportedOperation",
                format!("Operation {other:?} is not served locally"),
            )),
        }
    }

    /// Serves the API on `listener` until `shutdown`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let address: SocketAddr = listener.local_addr()?;
        tracing::info!(%address, queues = self.queues.len(), "SQS listening");
        let router = Router::new().route("/", post(handle)).with_state(self);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A received message as `ReceiveMessage` answers it, with the system
/// attributes `wanted` asks for.
fn message_json(received: &Received, wanted: &impl Fn(&str) -> bool) -> Value {
    let message = &received.message;
    let mut attributes = serde_json::Map::new();
    let mut add = |name: &str, value: String| {
        if wanted(name) {
            attributes.insert(name.to_owned(), value.into());
        }
    };
    add("ApproximateReceiveCount", message.receive_count.to_string());
    add("SentTimestamp", message.sent_at_ms.to_string());
    if let Some(first) = message.first_received_at_ms {
        add("ApproximateFirstReceiveTimestamp", first.to_string());
    }
    if let Some(source) = &message.source_arn {
        add("DeadLetterQueueSourceArn", source.clone());
    }
    let mut json = json!({
        "MessageId": message.id,
        "ReceiptHandle": received.receipt,
        "MD5OfBody": hex::encode(Md5::digest(message.body.as_bytes())),
        "Body": message.body,
    });
    if !attributes.is_empty() {
        json["Attributes"] = Value::Object(attributes);
    }
    json
}

fn does_not_exist() -> JsonError {
    JsonError::new("QueueDoesNotExist", "The specified queue does not exist.")
}

fn refused(caller: &Identity, error: &AuthorizeError) -> JsonError {
    tracing::warn!(principal = %caller.name, %error, "SQS request refused");
    match error {
        AuthorizeError::Denied(denied) => JsonError::new("AccessDenied", denied.to_string()),
        AuthorizeError::Policy(policy) => JsonError::new("InternalError", policy.to_string()),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, JsonError> {
    json_api::parse(body, "InvalidParameterValue")
}

async fn handle(
    State(sqs): State<Arc<LocalSqs>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = json_api::Request {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let scope = Scope {
        service: "sqs",
        region: &sqs.region,
    };
    let operation = json_api::operation(&headers, TARGET_PREFIX);
    let result = match json_api::caller(&sqs.access.keys, scope, request) {
        Ok(caller) => sqs.dispatch(&operation, &caller, &body).await,
        Err(error) => Err(error),
    };
    json_api::answer(json_api::JSON_1_0, result).into_response()
}
