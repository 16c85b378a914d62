//! Asynchronous event delivery with Lambda's retry rules and a dead-letter
//! folder for what still fails.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::s3::S3Event;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::DeliveryPolicy;
use crate::dead_letter::{DeadLetter, DeadLetterReason, DeadLetters};
use crate::event::event_to_json;
use crate::target::{EventTarget, FailureDestination, InvocationError};

/// Runs one delivery task per event; none is dropped: each ends delivered or
/// as a dead letter.
pub(crate) struct Dispatcher {
    target: Arc<dyn EventTarget>,
    destination: Option<Arc<dyn FailureDestination>>,
    policy: DeliveryPolicy,
    dead_letters: DeadLetters,
    tasks: TaskTracker,
    stop: CancellationToken,
    permits: Arc<Semaphore>,
}

/// One event on its way, with what happened so far.
struct Delivery {
    id: String,
    event: S3Event,
    created_at: DateTime<Utc>,
    attempts: u32,
    first_attempt_at: Option<DateTime<Utc>>,
    last_attempt_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("policy", &self.policy)
            .field("pending", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

enum Outcome {
    Delivered,
    Dead(DeadLetterReason),
}

impl Dispatcher {
    pub(crate) fn new(
        target: Arc<dyn EventTarget>,
        destination: Option<Arc<dyn FailureDestination>>,
        policy: DeliveryPolicy,
        dead_letters: DeadLetters,
    ) -> Arc<Self> {
        let permits = Arc::new(Semaphore::new(policy.max_concurrent_deliveries));
        Arc::new(Self {
            target,
            destination,
            policy,
            dead_letters,
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            permits,
        })
    }

    /// Queues an event; returns at once.
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        id: String,
        event: S3Event,
        created_at: DateTime<Utc>,
    ) {
        let delivery = Delivery {
            id,
            event,
            created_at,
            attempts: 0,
            first_attempt_at: None,
            last_attempt_at: None,
            last_error: None,
        };
        let this = Arc::clone(self);
        self.tasks
            .spawn(async move { this.deliver(delivery).await });
    }

    /// Lets pending deliveries run for the shutdown grace period, then turns
    /// the rest into dead letters.
    pub(crate) async fn shutdown(&self) {
        self.tasks.close();
        let pending = self.tasks.len();
        if pending > 0 {
            tracing::info!(pending, grace = ?self.policy.shutdown_grace, "draining event deliveries");
        }
        if tokio::time::timeout(self.policy.shutdown_grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = self.tasks.len(),
                "grace period over; keeping pending events as dead letters"
            );
            self.stop.cancel();
            self.tasks.wait().await;
        }
    }

    async fn deliver(&self, mut delivery: Delivery) {
        let outcome = self.attempt_all(&mut delivery).await;
        match outcome {
            Outcome::Delivered => {
                tracing::info!(event_id = %delivery.id, attempts = delivery.attempts, "event delivered");
            }
            Outcome::Dead(reason) => self.keep_dead_letter(delivery, reason).await,
        }
    }

    async fn attempt_all(&self, delivery: &mut Delivery) -> Outcome {
        let waits = std::iter::once(Duration::ZERO).chain(self.policy.retry_delays.iter().copied());
        for wait in waits {
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.stop.cancelled() => return Outcome::Dead(DeadLetterReason::ShutDown),
                }
            }
            if self.is_too_old(delivery) {
                return Outcome::Dead(DeadLetterReason::MaxEventAgeExceeded);
            }
            let permit = tokio::select! {
                permit = Arc::clone(&self.permits).acquire_owned() => permit,
                () = self.stop.cancelled() => return Outcome::Dead(DeadLetterReason::ShutDown),
            };
            let Ok(_permit) = permit else {
                return Outcome::Dead(DeadLetterReason::ShutDown);
            };
            let now = Utc::now();
            delivery.attempts += 1;
            delivery.first_attempt_at.get_or_insert(now);
            delivery.last_attempt_at = Some(now);
            let result = tokio::select! {
                result = self.invoke_once(&delivery.event) => result,
                () = self.stop.cancelled() => return Outcome::Dead(DeadLetterReason::ShutDown),
            };
            match result {
                Ok(()) => return Outcome::Delivered,
                Err(error) => {
                    tracing::warn!(event_id = %delivery.id, attempt = delivery.attempts, %error, "event delivery failed");
                    delivery.last_error = Some(error.to_string());
                }
            }
        }
        Outcome::Dead(DeadLetterReason::RetriesExhausted)
    }

    /// One invocation, bounded in time, with a panic counted as a failure.
    async fn invoke_once(&self, event: &S3Event) -> Result<(), InvocationError> {
        let invocation = AssertUnwindSafe(self.target.invoke(event)).catch_unwind();
        match tokio::time::timeout(self.policy.attempt_timeout, invocation).await {
            Err(_) => Err(InvocationError::TimedOut(self.policy.attempt_timeout)),
            Ok(Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Err(InvocationError::Panicked(message))
            }
            Ok(Ok(result)) => result,
        }
    }

    fn is_too_old(&self, delivery: &Delivery) -> bool {
        let age = Utc::now().signed_duration_since(delivery.created_at);
        age.to_std()
            .is_ok_and(|age| age > self.policy.max_event_age)
    }

    async fn keep_dead_letter(&self, delivery: Delivery, reason: DeadLetterReason) {
        if let Some(refusal) = self.destination.as_ref().and_then(|d| d.admit().err()) {
            tracing::error!(
                event_id = %delivery.id,
                %refusal,
                "the event failed every attempt and its on-failure destination refused it: it is lost"
            );
            return;
        }
        let error = delivery.last_error.unwrap_or_else(|| match reason {
            DeadLetterReason::MaxEventAgeExceeded => {
                "maximum event age exceeded before delivery".to_owned()
            }
            DeadLetterReason::ShutDown => "store shut down before delivery".to_owned(),
            DeadLetterReason::RetriesExhausted | DeadLetterReason::ReplayFailed => {
                "delivery failed".to_owned()
            }
        });
        let letter = DeadLetter {
            id: delivery.id,
            reason,
            error,
            attempts: delivery.attempts,
            created_at: delivery.created_at,
            first_attempt_at: delivery.first_attempt_at,
            last_attempt_at: delivery.last_attempt_at,
            dead_lettered_at: Utc::now(),
            event: delivery.event,
        };
        match self.dead_letters.store(&letter).await {
            Ok(()) => tracing::error!(
                dead_letter_id = %letter.id,
                ?reason,
                attempts = letter.attempts,
                error = %letter.error,
                dir = %self.dead_letters.dir().display(),
                "event kept as dead letter"
            ),
            // Last resort: the event goes to the log so that it is not lost unseen.
            Err(store_error) => tracing::error!(
                dead_letter_id = %letter.id,
                %store_error,
                event = %event_to_json(&letter.event).map(|json| json.to_string()).unwrap_or_default(),
                "event could not be kept as dead letter"
            ),
        }
    }
}
