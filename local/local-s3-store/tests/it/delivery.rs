//! Delivery follows Lambda's asynchronous invocation: retries, then dead
//! letters that can be listed, replayed and deleted.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use local_s3_store::{DeadLetter, DeadLetterError, DeadLetterReason, DeadLetters, DeliveryPolicy};

async fn put(t: &TestStore, key: &str) {
    t.client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_static(b"photo bytes"))
        .send()
        .await
        .unwrap();
}

/// Waits until the dead-letter folder holds `count` letters.
async fn wait_for_dead_letters(dead_letters: &DeadLetters, count: usize) -> Vec<DeadLetter> {
    tokio::time::timeout(EVENT_WAIT, async {
        loop {
            let letters = dead_letters.list().await.unwrap();
            if letters.len() >= count {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("dead letters did not appear")
}

#[tokio::test]
async fn a_target_failing_twice_is_retried_and_receives_the_event_once() {
    let target = RecordingTarget::failing_first(2);
    let t = start(target.clone()).await;
    put(&t, "retry me.jpg").await;

    let events = target.wait_for(1).await;
    assert_eq!(
        record(&events[0]).s3.object.key.as_deref(),
        Some("retry+me.jpg")
    );
    assert_eq!(target.invocations.load(Ordering::SeqCst), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.events().len(), 1);
    assert!(t.dead_letters().list().await.unwrap().is_empty());
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_event_that_keeps_failing_becomes_a_dead_letter_that_can_be_replayed() {
    let target = RecordingTarget::unhealthy();
    let t = start(target.clone()).await;
    put(&t, "dead letter.jpg").await;

    let letters = wait_for_dead_letters(t.dead_letters(), 1).await;
    let letter = &letters[0];
    assert_eq!(letter.reason, DeadLetterReason::RetriesExhausted);
    assert_eq!(letter.attempts, 3, "one attempt and two retries");
    assert!(
        letter.error.contains("indexer unavailable"),
        "{}",
        letter.error
    );
    assert!(letter.first_attempt_at.unwrap() <= letter.last_attempt_at.unwrap());
    assert_eq!(
        record(&letter.event).s3.object.key.as_deref(),
        Some("dead+letter.jpg")
    );
    assert_eq!(
        Some(&letter.id),
        record(&letter.event).s3.object.sequencer.as_ref()
    );

    // On disk: one JSON file per event, the event in S3's own shape.
    let file = t.dead_letters().dir().join(format!("{}.json", letter.id));
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        stored["event"]["Records"][0]["eventName"],
        "ObjectCreated:Put"
    );
    assert_eq!(stored["attempts"], 3);
    assert!(
        stored["event"]["Records"][0]["s3"]["object"]
            .get("urlDecodedKey")
            .is_none()
    );

    // Replay while the target still fails: kept, with the new attempt.
    let failed = t.dead_letters().replay(&letter.id).await.unwrap_err();
    assert!(
        matches!(failed, DeadLetterError::ReplayFailed { .. }),
        "{failed}"
    );
    let kept = t.dead_letters().get(&letter.id).await.unwrap();
    assert_eq!(kept.attempts, 4);
    assert_eq!(kept.reason, DeadLetterReason::ReplayFailed);

    // Replay once the target has recovered: delivered and gone.
    target.set_healthy(true);
    t.dead_letters().replay(&letter.id).await.unwrap();
    let delivered = target.events();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0], letter.event);
    assert!(t.dead_letters().list().await.unwrap().is_empty());
    assert!(matches!(
        t.dead_letters().replay(&letter.id).await,
        Err(DeadLetterError::NotFound(_))
    ));
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn dead_letters_can_be_deleted_and_ids_are_checked() {
    let target = RecordingTarget::unhealthy();
    let t = start(target.clone()).await;
    put(&t, "a.jpg").await;
    put(&t, "b.jpg").await;
    let letters = wait_for_dead_letters(t.dead_letters(), 2).await;
    assert!(letters[0].id < letters[1].id, "listed oldest first");

    t.dead_letters().delete(&letters[0].id).await.unwrap();
    let left = t.dead_letters().list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, letters[1].id);
    assert!(matches!(
        t.dead_letters().delete("../../etc/passwd").await,
        Err(DeadLetterError::InvalidId(_))
    ));
    assert!(matches!(
        t.dead_letters().delete(&letters[0].id).await,
        Err(DeadLetterError::NotFound(_))
    ));
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_target_does_not_hold_up_writes_and_pending_events_are_drained_on_shutdown() {
    let target = RecordingTarget::slow(Duration::from_secs(2));
    let t = start(target.clone()).await;
    for index in 0..5 {
        put(&t, &format!("photo-{index}.jpg")).await;
    }
    // The writes returned before the target finished a single invocation.
    assert!(target.events().is_empty());
    t.store.shutdown().await.unwrap();
    assert_eq!(
        target.events().len(),
        5,
        "shutdown waits for pending deliveries"
    );
}

#[tokio::test]
async fn deliveries_still_pending_after_the_grace_period_become_dead_letters() {
    let target = RecordingTarget::slow(Duration::from_secs(30));
    let policy = DeliveryPolicy {
        shutdown_grace: Duration::from_millis(200),
        ..fast_policy()
    };
    let t = start_with(target.clone(), policy).await;
    put(&t, "pending.jpg").await;
    let dead_letters = t.dead_letters().clone();
    t.store.shutdown().await.unwrap();

    let letters = dead_letters.list().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, DeadLetterReason::ShutDown);
    assert!(target.events().is_empty());
}

#[tokio::test]
async fn an_event_past_its_maximum_age_is_not_retried() {
    let target = RecordingTarget::unhealthy();
    let policy = DeliveryPolicy {
        retry_delays: vec![Duration::from_millis(300), Duration::from_millis(300)],
        max_event_age: Duration::from_millis(100),
        ..fast_policy()
    };
    let t = start_with(target.clone(), policy).await;
    put(&t, "old.jpg").await;
    let letters = wait_for_dead_letters(t.dead_letters(), 1).await;
    assert_eq!(letters[0].reason, DeadLetterReason::MaxEventAgeExceeded);
    assert_eq!(letters[0].attempts, 1);
    assert_eq!(target.invocations.load(Ordering::SeqCst), 1);
    t.store.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_store_refuses_bad_configuration_and_non_loopback_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let access =
        || local_s3_store::Access::single_key(ACCESS_KEY, SECRET_KEY, "123456789012").unwrap();
    let inside =
        local_s3_store::S3StoreConfig::new(dir.path(), dir.path().join("versions"), access());
    let error = local_s3_store::S3Store::bind(inside, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("inside the data root"),
        "{error}"
    );

    let config = local_s3_store::S3StoreConfig::new(
        dir.path().join("s3"),
        dir.path().join("versions"),
        access(),
    );
    let error = local_s3_store::S3Store::bind(config, "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error}");
}
