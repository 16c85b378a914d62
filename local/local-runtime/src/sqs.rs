//! A local Amazon SQS for the queues that are functions' on-failure
//! destinations: what an S3 notification failed to deliver (the S3 store's
//! dead letters) is read as Lambda writes it to the queue, an invocation
//! record wrapping the event (`requestPayload`), so that `registry
//! dead-letters` and any SQS client work against `make dev` as against a
//! deployed stack.
//!
//! It speaks SQS's AWS JSON 1.0 protocol (`X-Amz-Target: AmazonSQS.*`):
//! `GetQueueUrl`, `GetQueueAttributes`, `ReceiveMessage`,
//! `ChangeMessageVisibility` and `DeleteMessage`. Every request is signed
//! (SigV4) and authorized as SQS does: the caller's policies and the queue
//! policy; receiving from an encrypted queue also needs `kms:Decrypt` on its
//! key, which the key policy must allow (SQS developer guide, "Key
//! management": consumers need `kms:Decrypt`). Messages received are hidden
//! for their visibility timeout; deleting with a receipt handle other than
//! the latest succeeds without deleting, as SQS documents for DeleteMessage.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::SecondsFormat;
use local_iam::json_api::{self, JsonError};
use local_iam::sigv4::Scope;
use local_iam::{Access, AuthorizeError, Call, Conditions, Identity, KeyUse, Policy};
use local_s3_store::{DeadLetter, DeadLetterError, DeadLetterReason, DeadLetters, KmsKey};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const TARGET_PREFIX: &str = "AmazonSQS.";
/// A queue's default visibility timeout (the template sets none).
const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// How often a long poll looks for new messages.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// A queue that is a function's on-failure destination.
pub struct DeadLetterQueue {
    pub name: String,
    pub arn: String,
    /// The URL SQS gives it (the queue's `Ref`).
    pub url: String,
    pub policy: Option<Policy>,
    pub key: Option<KmsKey>,
    /// The function whose failed invocations it holds.
    pub function_arn: String,
    pub letters: DeadLetters,
    deliveries: Mutex<HashMap<String, Delivery>>,
}

/// What SQS knows of a message it has handed out.
#[derive(Debug, Clone)]
struct Delivery {
    /// The latest receipt handle.
    receipt: String,
    hidden_until: Instant,
    receives: u32,
}

impl DeadLetterQueue {
    pub fn new(
        spec: &local_stack::Queue,
        policy: Option<Policy>,
        key: Option<KmsKey>,
        function_arn: &str,
        letters: DeadLetters,
    ) -> Self {
        Self {
            name: spec.name.clone(),
            arn: spec.arn.clone(),
            url: spec.url.clone(),
            policy,
            key,
            function_arn: function_arn.to_owned(),
            letters,
            deliveries: Mutex::new(HashMap::new()),
        }
    }

    fn deliveries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Delivery>> {
        self.deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The dead letters not hidden now, each handed out (hidden for
    /// `visibility`), at most `limit`.
    async fn receive(
        &self,
        limit: usize,
        visibility: Duration,
    ) -> Result<Vec<(DeadLetter, Delivery)>, JsonError> {
        let letters = self.letters.list().await.map_err(internal)?;
        let now = Instant::now();
        let mut deliveries = self.deliveries();
        deliveries.retain(|id, _| letters.iter().any(|l| l.id == *id));
        let mut received = Vec::new();
        for letter in letters {
            if received.len() == limit {
                break;
            }
            let delivery = deliveries.entry(letter.id.clone()).or_insert(Delivery {
                receipt: String::new(),
                hidden_until: now,
                receives: 0,
            });
            if delivery.hidden_until > now {
                continue;
            }
            delivery.receives += 1;
            delivery.receipt = format!("{}.{:016x}", letter.id, rand::random::<u64>());
            delivery.hidden_until = now + visibility;
            received.push((letter, delivery.clone()));
        }
        Ok(received)
    }

    /// The message `receipt` names (the receipt may be an old one).
    fn message_of(receipt: &str) -> Result<&str, JsonError> {
        receipt
            .rsplit_once('.')
            .map(|(id, _)| id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                JsonError::new(
                    "ReceiptHandleIsInvalid",
                    format!(
                        "The input receipt handle \"{receipt}\" is not a valid receipt handle."
                    ),
                )
            })
    }

    async fn delete(&self, receipt: &str) -> Result<(), JsonError> {
        let id = Self::message_of(receipt)?;
        let latest = self
            .deliveries()
            .get(id)
            .is_some_and(|d| d.receipt == receipt);
        if !latest {
            // Not the latest receipt: SQS answers success and keeps it.
            return Ok(());
        }
        match self.letters.delete(id).await {
            Ok(()) | Err(DeadLetterError::NotFound(_)) => {
                self.deliveries().remove(id);
                Ok(())
            }
            Err(error) => Err(internal(error)),
        }
    }

    fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<(), JsonError> {
        let id = Self::message_of(receipt)?;
        let now = Instant::now();
        match self.deliveries().get_mut(id) {
            Some(delivery) if delivery.receipt == receipt && delivery.hidden_until > now => {
                delivery.hidden_until = now + visibility;
                Ok(())
            }
            _ => Err(JsonError::new(
                "MessageNotInflight",
                "The message referred to isn't in flight.",
            )),
        }
    }

    /// (visible, in flight) now.
    async fn counts(&self) -> Result<(usize, usize), JsonError> {
        let letters = self.letters.list().await.map_err(internal)?;
        let now = Instant::now();
        let deliveries = self.deliveries();
        let hidden = letters
            .iter()
            .filter(|l| deliveries.get(&l.id).is_some_and(|d| d.hidden_until > now))
            .count();
        Ok((letters.len() - hidden, hidden))
    }

    /// The record Lambda sends to an on-failure destination (Lambda
    /// developer guide, "Capturing records of Lambda asynchronous
    /// invocations").
    fn invocation_record(&self, letter: &DeadLetter) -> Result<Value, JsonError> {
        let condition = match letter.reason {
            DeadLetterReason::MaxEventAgeExceeded => "EventAgeExceeded",
            // A replay that failed, and an event left undelivered at
            // shutdown, were tried and failed: Lambda knows no other name.
            DeadLetterReason::RetriesExhausted
            | DeadLetterReason::ReplayFailed
            | DeadLetterReason::ShutDown => "RetriesExhausted",
        };
        let event = local_s3_store::event_to_json(&letter.event).map_err(internal)?;
        Ok(json!({
            "version": "1.0",
            "timestamp": letter.dead_lettered_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "requestContext": {
                "requestId": letter.id,
                "functionArn": format!("{}:$LATEST", self.function_arn),
                "condition": condition,
                "approximateInvokeCount": letter.attempts,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": letter.error},
        }))
    }
}

fn internal(error: impl std::fmt::Display) -> JsonError {
    JsonError::new("InternalError", error.to_string())
}

/// The queues, and who may use them.
pub struct LocalSqs {
    pub region: String,
    pub account: String,
    pub access: Access,
    pub queues: Vec<DeadLetterQueue>,
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
    fn queue(&self, url: &str) -> Result<&DeadLetterQueue, JsonError> {
        let path = url::Url::parse(url)
            .map(|u| u.path().to_owned())
            .unwrap_or_default();
        let mut parts = path.trim_matches('/').split('/');
        let (account, name) = (parts.next(), parts.next());
        self.queues
            .iter()
            .find(|q| account == Some(self.account.as_str()) && name == Some(q.name.as_str()))
            .filter(|_| parts.next().is_none())
            .ok_or_else(does_not_exist)
    }

    fn authorize(
        &self,
        caller: &Identity,
        action: &str,
        queue: &DeadLetterQueue,
    ) -> Result<(), JsonError> {
        let conditions = Conditions::of_caller(caller);
        let call = Call {
            caller,
            action,
            resource: &queue.arn,
            conditions: &conditions,
        };
        self.access
            .authorizer
            .authorize(call, queue.policy.as_ref(), None)
            .map_err(|error| refused(caller, &error))
    }

    /// SQS decrypts what it hands out with the caller's permissions on the
    /// queue's key.
    fn decrypt(&self, caller: &Identity, queue: &DeadLetterQueue) -> Result<(), JsonError> {
        let Some(key) = &queue.key else {
            return Ok(());
        };
        let key_use = KeyUse {
            caller,
            conditions: Conditions::of_caller(caller),
            service: "sqs",
            region: &self.region,
            action: "kms:Decrypt",
            key_arn: &key.arn,
            context: ("kms:EncryptionContext:aws:sqs:arn", queue.arn.clone()),
        };
        self.access
            .authorizer
            .authorize_key_use(key_use, &key.policy)
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
            .find(|q| q.name == request.queue_name && owner == self.account)
            .ok_or_else(does_not_exist)?;
        self.authorize(caller, "sqs:GetQueueUrl", queue)?;
        Ok(json!({"QueueUrl": queue.url}))
    }

    async fn get_queue_attributes(
        &self,
        caller: &Identity,
        request: &GetQueueAttributesRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        self.authorize(caller, "sqs:GetQueueAttributes", queue)?;
        let (visible, in_flight) = queue.counts().await?;
        let known = [
            ("QueueArn", queue.arn.clone()),
            ("ApproximateNumberOfMessages", visible.to_string()),
            (
                "ApproximateNumberOfMessagesNotVisible",
                in_flight.to_string(),
            ),
            (
                "VisibilityTimeout",
                DEFAULT_VISIBILITY.as_secs().to_string(),
            ),
            (
                "KmsMasterKeyId",
                queue
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
            None => DEFAULT_VISIBILITY,
        };
        let wait = Duration::from_secs(within(
            "WaitTimeSeconds",
            request.wait_time_seconds.unwrap_or(0),
            0..=20,
        )?);
        self.authorize(caller, "sqs:ReceiveMessage", queue)?;
        self.decrypt(caller, queue)?;
        let limit = usize::try_from(limit).unwrap_or(10);
        let until = Instant::now() + wait;
        let received = loop {
            let received = queue.receive(limit, visibility).await?;
            if !received.is_empty() || Instant::now() >= until {
                break received;
            }
            tokio::time::sleep(POLL_EVERY.min(until - Instant::now())).await;
        };
        let wanted = |name: &str| {
            request
                .attribute_names
                .iter()
                .chain(&request.message_system_attribute_names)
                .any(|n| n == "All" || n == name)
        };
        let mut messages = Vec::new();
        for (letter, delivery) in received {
            let body = queue.invocation_record(&letter)?.to_string();
            let mut attributes = serde_json::Map::new();
            if wanted("ApproximateReceiveCount") {
                attributes.insert(
                    "ApproximateReceiveCount".into(),
                    delivery.receives.to_string().into(),
                );
            }
            if wanted("SentTimestamp") {
                attributes.insert(
                    "SentTimestamp".into(),
                    letter
                        .dead_lettered_at
                        .timestamp_millis()
                        .to_string()
                        .into(),
                );
            }
            let mut message = json!({
                "MessageId": letter.id,
                "ReceiptHandle": delivery.receipt,
                "MD5OfBody": hex::encode(Md5::digest(body.as_bytes())),
                "Body": body,
            });
            if !attributes.is_empty() {
                message["Attributes"] = Value::Object(attributes);
            }
            messages.push(message);
        }
        tracing::info!(principal = %caller.name, queue = %queue.name, messages = messages.len(), "messages received");
        Ok(json!({"Messages": messages}))
    }

    async fn delete_message(
        &self,
        caller: &Identity,
        request: &DeleteMessageRequest,
    ) -> Result<Value, JsonError> {
        let queue = self.queue(&request.queue_url)?;
        self.authorize(caller, "sqs:DeleteMessage", queue)?;
        queue.delete(&request.receipt_handle).await?;
        Ok(json!({}))
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
            "DeleteMessage" => self.delete_message(caller, &parse(body)?).await,
            "ChangeMessageVisibility" => self.change_message_visibility(caller, &parse(body)?),
            other => Err(JsonError::new(
                "UnsupportedOperation",
                format!(
                    "Operation {other:?} is not served locally: the local queues hold what their functions failed to handle"
                ),
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
