//! EventBridge Scheduler, locally: each `ScheduleV2` event of the stack
//! invokes its function at its rate, asynchronously (an invocation that
//! fails is retried as the function's `EventInvokeConfig` says). The first
//! invocation comes one period after the start, as a new rate schedule's.

use std::sync::Arc;
use std::time::Duration;

use local_stack::Schedule;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::lambda::LocalFunction;

/// The event Scheduler sends a Lambda target without an `Input` of its own.
pub fn scheduled_event() -> serde_json::Value {
    serde_json::json!({})
}

pub fn spawn(
    function: Arc<LocalFunction>,
    schedule: Schedule,
    retry_delays: Vec<Duration>,
    stop: CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + schedule.every, schedule.every);
        // A run longer than the period delays the next one; runs never pile up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            invoke_asynchronously(&function, &schedule, &retry_delays, &stop).await;
        }
    })
}

async fn invoke_asynchronously(
    function: &LocalFunction,
    schedule: &Schedule,
    retry_delays: &[Duration],
    stop: &CancellationToken,
) {
    let retries = function.spec.asynchronous.maximum_retry_attempts as usize;
    for attempt in 0..=retries {
        match function.invoke(scheduled_event()).await {
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(function = %function.spec.logical_id, schedule = %schedule.event_id, attempt, %error, "scheduled invocation failed");
            }
        }
        let Some(delay) = retry_delays.get(attempt).filter(|_| attempt < retries) else {
            return;
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(*delay) => {}
        }
    }
}
