//! The local CloudWatch: every metric the template's alarms and dashboard
//! read is emitted during the registry's flow, and the alarms that should
//! fire when the database or the face engine is down do.

use super::*;

use local_cloudwatch::AlarmState;

/// The alarms in `state` now, by their logical name's end (`api-5xx`).
fn alarms_in(harness: &Harness, state: AlarmState) -> Vec<String> {
    let stack = format!("{}-", harness.runtime.stack().name);
    harness
        .runtime
        .cloudwatch()
        .evaluate_alarms(local_cloudwatch::now_ms())
        .into_iter()
        .filter(|a| a.state == state)
        .map(|a| a.alarm.name.trim_start_matches(&stack).to_owned())
        .collect()
}

/// A message the indexer cannot read, sent to IndexQueue: counted as an
/// indexing error on each of its five receives, then a dead letter.
async fn send_unreadable_message(harness: &Harness) {
    let queue = harness.runtime.queue("IndexQueue").expect("IndexQueue");
    queue.send("not an S3 event".to_owned()).expect("sent");
    let dead_letters = queue.dead_letter_queue().expect("a dead-letter queue");
    let started = std::time::Instant::now();
    while dead_letters.counts().0 == 0 {
        assert!(started.elapsed() < INDEXING_WITHIN, "no dead letter yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The alarms in `ALARM` once `alarm` is one of them, or `within` has passed.
async fn wait_for_alarm(harness: &Harness, alarm: &str, within: Duration) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let fired = alarms_in(harness, AlarmState::Alarm);
        if fired.iter().any(|a| a == alarm) || started.elapsed() > within {
            return fired;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `expected` are in ALARM; nothing else is but the dead letters' alarm
/// (an event that failed five times is one, depending on how long the
/// fault lasted).
fn assert_fired(fired: &[String], expected: &[&str]) {
    for alarm in expected {
        assert!(
            fired.iter().any(|f| f == alarm),
            "{alarm} did not fire: {fired:?}"
        );
    }
    let others: Vec<&String> = fired
        .iter()
        .filter(|f| !expected.contains(&f.as_str()) && *f != "indexer-dlq-not-empty")
        .collect();
    assert!(others.is_empty(), "other alarms fired: {others:?}");
}

async fn get_status(url: &str) -> u16 {
    reqwest::get(url)
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_metric_an_alarm_or_the_dashboard_reads_is_emitted() {
    // The ALB's metrics and alarm exist only with it.
    let harness = Harness::start_with(common::with_alb).await;
    let admin = harness.token("admins").await;
    // Enrolled, indexed and searched for; a photo without a face; the
    // same event again; a message nobody can read; an erasure.
    let (ticket, _) = enrol_obama(&harness, &admin).await;
    let blank = harness
        .enrol(&admin, "Paysage", "Un", &no_face(), "image/jpeg")
        .await;
    harness
        .settle(&admin, &blank["personId"], INDEXING_WITHIN)
        .await;
    let (status, _) = identify(&harness, &admin, &test_image("obama2.jpg"), "").await;
    assert_eq!(status, 200);
    let event = harness
        .recorded_events(ticket["key"].as_str().unwrap())
        .remove(0);
    harness
        .invoke_indexer(&event)
        .await
        .expect("a replay changes nothing");
    send_unreadable_message(&harness).await;
    let erase = harness
        .http
        .delete(harness.url(&format!("/api/faces/{}", blank["personId"])))
        .bearer_auth(&admin);
    assert_eq!(Harness::answer(erase).await.0, 200);
    harness.reconcile().await.expect("reconciled");
    assert_eq!(get_status(&harness.url("/healthz")).await, 200);
    let alb = harness.alb_url();
    assert_eq!(get_status(&format!("{alb}/healthz")).await, 200);
    // Twice: the database's CPU is a difference of two samples.
    harness.runtime.sample_metrics().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    harness.runtime.sample_metrics().await;

    let cloudwatch = harness.runtime.cloudwatch();
    let silent = cloudwatch.silent_metrics();
    assert!(
        silent.is_empty(),
        "read but never emitted:\n{}",
        silent.join("\n")
    );
    // The unreadable message is a dead letter: the alarm says so.
    assert!(alarms_in(&harness, AlarmState::Alarm).contains(&"indexer-dlq-not-empty".to_owned()));

    // The dashboard, drawn with these figures.
    let dashboard = reqwest::get(format!("{}/", harness.runtime.cloudwatch_endpoint()))
        .await
        .expect("the dashboard");
    assert_eq!(dashboard.status(), 200);
    let page = dashboard.text().await.unwrap();
    assert!(page.contains("<polyline"), "graphs with data");
    assert!(
        page.contains("Function errors") && page.contains("<b>ALARM</b> "),
        "{page}"
    );
    assert!(
        page.contains("not measured locally"),
        "ACUs are said to be unmeasured"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alarms_fire_when_the_database_is_down() {
    let harness = Harness::start().await;
    assert!(alarms_in(&harness, AlarmState::Alarm).is_empty());
    // The functions lose the database (its port closed to them).
    for function in harness.runtime.lambda().functions() {
        common::close_the_database_to(function).await;
    }
    for _ in 0..5 {
        assert_eq!(get_status(&harness.url("/healthz")).await, 503);
    }
    // Photos dropped into the bucket cannot be recorded: each attempt
    // waits for a connection (its pool's timeout) and fails.
    let s3 = harness.s3().await;
    for name in ["obama_barack.jpg", "biden_joe.jpg", "obama_michelle.jpg"] {
        s3.put_object()
            .bucket(harness.bucket())
            .key(name)
            .body(test_image("obama.jpg").into())
            .send()
            .await
            .expect("PutObject");
    }
    let fired = wait_for_alarm(&harness, "indexing-errors", Duration::from_secs(90)).await;
    assert_fired(&fired, &["api-5xx", "indexing-errors"]);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alarms_fire_when_the_face_engine_is_down() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    harness.runtime.stop_face_engine().await;
    for _ in 0..5 {
        let (status, _) = identify(&harness, &admin, &test_image("obama2.jpg"), "").await;
        assert_eq!(status, 503);
    }
    harness
        .enrol(
            &admin,
            "Obama",
            "Barack",
            &test_image("obama.jpg"),
            "image/jpeg",
        )
        .await;
    let fired = wait_for_alarm(&harness, "indexing-errors", INDEXING_WITHIN).await;
    assert_fired(&fired, &["api-5xx", "indexing-errors"]);
    harness.stop().await;
}
