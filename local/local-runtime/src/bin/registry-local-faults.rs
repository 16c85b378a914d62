//! Faults, measured: 100 enrolments through the whole local runtime while
//! the database goes away mid-way and comes back (every connection to it
//! cut, new ones refused, for longer than IndexQueue's five receives last); then
//! 100 more, on a fresh stack, while the face engine is stopped and started
//! again. After each, the dead letters are replayed, reconcile runs twice
//! with its grace period let pass between the runs (the times it noted moved
//! back: it deletes a face only once it has seen it unrecorded for that
//! long), and every event is replayed 3 times. Prints what became of each enrolment: indexed,
//! rejected with a reason, lost; and faces nobody records, duplicate rows,
//! and what the replays changed. Asserts nothing.
//!
//! Needs DATABASE_URL, DATABASE_TLS_CA, the models and the test photos
//! (`make bench-faults` sets them).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BenchError, Enrolled, ScratchStack};
use futures::StreamExt;
use local_runtime::LocalRuntime;
use registry_api::reconcile::ReconcileReport;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const ENROLMENTS: usize = 100;
/// Uploads in flight at once.
const CONCURRENCY: usize = 4;
/// The database or the face engine is away this long once half the
/// enrolments have started: longer than IndexQueue's five receives (a
/// failed message comes back after 1 s locally), so that some events reach
/// the dead-letter queue.
const OUTAGE: Duration = Duration::from_secs(8);
const SETTLE_WITHIN: Duration = Duration::from_secs(180);
const REPLAYS: usize = 3;

/// What goes away half-way.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// Every connection to the database cut, new ones refused.
    Database,
    /// The face engine stopped (connections refused), then started again.
    FaceEngine,
}

impl Outage {
    fn what(self) -> &'static str {
        match self {
            Outage::Database => "the database",
            Outage::FaceEngine => "the face engine",
        }
    }

    async fn begin(self, runtime: &LocalRuntime, relay: &Relay) {
        match self {
            Outage::Database => relay.set_down(true),
            Outage::FaceEngine => runtime.stop_face_engine().await,
        }
    }

    async fn end(self, runtime: &LocalRuntime, relay: &Relay) -> Result<(), BenchError> {
        match self {
            Outage::Database => relay.set_down(false),
            Outage::FaceEngine => runtime.start_face_engine().await?,
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-faults", run().await)
}

/// A TCP relay in front of the database server that can be taken down (every
/// connection cut, new ones refused) and brought back.
struct Relay {
    addr: SocketAddr,
    down: watch::Sender<bool>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Result<Self, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (down, _) = watch::channel(false);
        let state = down.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *state.borrow() {
                    continue; // dropped: the connection is refused
                }
                let mut cut = state.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Ok(Self { addr, down })
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

async fn run() -> Result<(), BenchError> {
    for outage in [Outage::Database, Outage::FaceEngine] {
        run_through(outage).await?;
    }
    Ok(())
}

/// A fresh stack and database, and the enrolments through `outage`.
async fn run_through(outage: Outage) -> Result<(), BenchError> {
    let server_url = common::database_url()?;
    let photos = common::test_photos()?;

    // The functions reach the database through the relay.
    let mut server = url::Url::parse(&server_url)?;
    let upstream: SocketAddr = tokio::net::lookup_host(format!(
        "{}:{}",
        server.host_str().unwrap_or("127.0.0.1"),
        server.port().unwrap_or(3306)
    ))
    .await?
    .next()
    .ok_or("the database server's address does not resolve")?;
    let relay = Relay::start(upstream).await?;
    server
        .set_port(Some(relay.addr.port()))
        .map_err(|()| "the database URL takes no port")?;

    let stack = ScratchStack::start(
        "registry-local-faults",
        Some(server.as_str()),
        |options, state| {
            options.record_events = Some(state.join("events"));
        },
    )
    .await?;
    let result = measure(
        &stack.runtime,
        &relay,
        outage,
        &photos,
        &stack.pool,
        stack.state(),
    )
    .await;
    stack.stop().await?;
    result
}

/// A person's status, status reason and face.
type Row = (String, Option<String>, Option<String>);

/// Each person's row, by key.
async fn snapshot(pool: &sqlx::MySqlPool) -> Result<BTreeMap<String, Row>, BenchError> {
    let rows: Vec<(Vec<u8>, Row)> =
        sqlx::query_as::<_, (Vec<u8>, String, Option<String>, Option<String>)>(
            "SELECT object_key, CAST(status AS CHAR), status_reason, identity FROM person",
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(key, status, reason, identity)| (key, (status, reason, identity)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|(key, row)| (String::from_utf8_lossy(&key).into_owned(), row))
        .collect())
}

/// What became of the enrolments, and what is out of place.
struct Report {
    outage: &'static str,
    took: Duration,
    client_retries: usize,
    settled_before_replay: usize,
    dead_lettered: usize,
    indexed: usize,
    rejected: usize,
    reasons: BTreeMap<String, usize>,
    orphan_faces: usize,
    duplicate_rows: i64,
    unrequested: usize,
    reconciles: Vec<ReconcileReport>,
    events: usize,
    changed_by_replays: usize,
}

async fn measure(
    runtime: &LocalRuntime,
    relay: &Relay,
    outage: Outage,
    photos: &[Vec<u8>],
    pool: &sqlx::MySqlPool,
    state: &std::path::Path,
) -> Result<(), BenchError> {
    let began = Instant::now();
    let enrolled = enrol_through(runtime, relay, outage, photos).await?;
    let letters = runtime
        .dead_letters()
        .ok_or("IndexQueue has no dead-letter queue")?;
    let settled = |now: &BTreeMap<String, Row>| {
        enrolled
            .iter()
            .filter(|e| {
                now.get(&e.key)
                    .is_some_and(|(status, _, _)| status != "pending")
            })
            .count()
    };
    // Until every photo is recorded or dead-lettered.
    loop {
        let now = snapshot(pool).await?;
        let dead = letters.list().len();
        if settled(&now) + dead >= ENROLMENTS || began.elapsed() > SETTLE_WITHIN {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before_replay = snapshot(pool).await?;
    let dead_lettered = letters.list();
    for letter in &dead_lettered {
        letters.replay(letter["id"].as_str().unwrap_or_default())?;
    }
    // A replayed photo with metadata is written again without it, and that
    // version's own event is indexed after the replay returns.
    let replayed_at = Instant::now();
    while settled(&snapshot(pool).await?) < ENROLMENTS && replayed_at.elapsed() < SETTLE_WITHIN {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reconciles = reconcile_twice(runtime, pool).await?;
    let after = snapshot(pool).await?;
    let (events, changed_by_replays) = replay_every_event(runtime, state, pool, &after).await?;

    let count = |status: &str| {
        enrolled
            .iter()
            .filter(|e| after.get(&e.key).is_some_and(|(s, _, _)| s == status))
            .count()
    };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for e in &enrolled {
        if let Some((status, Some(reason), _)) = after.get(&e.key)
            && status == "rejected"
        {
            *reasons.entry(reason.clone()).or_default() += 1;
        }
    }
    let duplicate_rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT object_key FROM person GROUP BY object_key HAVING COUNT(*) > 1) d",
    )
    .fetch_one(pool)
    .await?;
    Report {
        outage: outage.what(),
        took: began.elapsed(),
        client_retries: enrolled.iter().map(|e| e.retries).sum(),
        settled_before_replay: settled(&before_replay),
        dead_lettered: dead_lettered.len(),
        indexed: count("indexed"),
        rejected: count("rejected"),
        reasons,
        orphan_faces: orphan_faces(runtime, pool).await?,
        duplicate_rows,
        unrequested: after
            .keys()
            .filter(|key| !enrolled.iter().any(|e| &e.key == *key))
            .count(),
        reconciles,
        events,
        changed_by_replays,
    }
    .print();
    Ok(())
}

/// Every enrolment, `CONCURRENCY` at a time; half-way through, the
/// database or the engine goes away, then comes back.
async fn enrol_through(
    runtime: &LocalRuntime,
    relay: &Relay,
    outage: Outage,
    photos: &[Vec<u8>],
) -> Result<Vec<Enrolled>, BenchError> {
    let http = reqwest::Client::new();
    let token = common::admin_token(runtime)?;
    let gateway = runtime.gateway_url();
    let started = AtomicUsize::new(0);
    let away = async {
        while started.load(Ordering::Relaxed) < ENROLMENTS / 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        outage.begin(runtime, relay).await;
        tokio::time::sleep(OUTAGE).await;
        outage.end(runtime, relay).await
    };
    let enrolments = futures::stream::iter(0..ENROLMENTS)
        .map(|n| {
            let (http, gateway, token, started) = (&http, &gateway, &token, &started);
            async move {
                started.fetch_add(1, Ordering::Relaxed);
                common::enrol(http, gateway, token, "Fault", n, &photos[n % photos.len()]).await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<Result<Enrolled, BenchError>>>();
    let (back, enrolled) = tokio::join!(away, enrolments);
    back?;
    enrolled.into_iter().collect()
}

/// Two reconcile passes, the drift of the first an hour old at the second
/// (reconcile repairs what it has seen twice, an hour apart).
async fn reconcile_twice(
    runtime: &LocalRuntime,
    pool: &sqlx::MySqlPool,
) -> Result<Vec<ReconcileReport>, BenchError> {
    let reconciler = runtime
        .lambda()
        .function("ReconcileFunction")
        .ok_or("no reconcile function")?;
    let mut reconciles = Vec::new();
    for run in 0..2 {
        if run > 0 {
            sqlx::query(
                "UPDATE drift_sighting SET first_seen_at = first_seen_at - INTERVAL 1 HOUR",
            )
            .execute(pool)
            .await?;
        }
        let report = reconciler
            .invoke(local_runtime::scheduler::scheduled_event())
            .await?;
        reconciles.push(serde_json::from_value::<ReconcileReport>(report)?);
    }
    Ok(reconciles)
}

/// Every event delivered, `REPLAYS` more times: how many events, and how
/// many rows differ from `after` once they are replayed.
async fn replay_every_event(
    runtime: &LocalRuntime,
    state: &std::path::Path,
    pool: &sqlx::MySqlPool,
    after: &BTreeMap<String, Row>,
) -> Result<(usize, usize), BenchError> {
    let events: Vec<Value> = std::fs::read_dir(state.join("events"))?
        .filter_map(Result::ok)
        .filter_map(|entry| serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok())
        .collect();
    let indexer = runtime
        .lambda()
        .function("IndexerFunction")
        .ok_or("no indexer")?;
    for _ in 0..REPLAYS {
        for event in &events {
            indexer.invoke(queue_message(event)).await?;
        }
    }
    let replayed = snapshot(pool).await?;
    let changed = replayed
        .iter()
        .filter(|(key, row)| after.get(*key) != Some(*row))
        .count()
        + after
            .keys()
            .filter(|key| !replayed.contains_key(*key))
            .count();
    Ok((events.len(), changed))
}

/// Faces in the collection that no person (nor a retired face) records.
async fn orphan_faces(runtime: &LocalRuntime, pool: &sqlx::MySqlPool) -> Result<usize, BenchError> {
    let mut faces = Vec::new();
    let rekognition = aws_sdk_rekognition::Client::new(&runtime.operator_sdk_config().await);
    let mut next = None;
    loop {
        let page = rekognition
            .list_faces()
            .collection_id(&runtime.stack().collections[0].id)
            .set_next_token(next)
            .send()
            .await?;
        faces.extend(
            page.faces()
                .iter()
                .filter_map(|f| f.face_id().map(str::to_owned)),
        );
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let recorded: Vec<String> = sqlx::query_scalar(
        "SELECT identity FROM person WHERE identity IS NOT NULL UNION SELECT face_id FROM retired_face",
    )
    .fetch_all(pool)
    .await?;
    Ok(faces.iter().filter(|f| !recorded.contains(f)).count())
}

impl Report {
    fn print(&self) {
        println!(
            "Faults: {ENROLMENTS} enrolments, {CONCURRENCY} at a time, {} away for {} s half-way (in-process runtime, {:.0} s in all):",
            self.outage,
            OUTAGE.as_secs(),
            self.took.as_secs_f64()
        );
        let lost = ENROLMENTS - self.indexed - self.rejected;
        println!(
            "  upload URL requests retried by the client      {:>5}",
            self.client_retries
        );
        println!(
            "  settled before the replay (indexed/rejected)   {:>5}",
            self.settled_before_replay
        );
        println!(
            "  dead-lettered, then replayed                   {:>5}",
            self.dead_lettered
        );
        println!(
            "  indexed                                        {:>5}",
            self.indexed
        );
        println!(
            "  rejected, with a reason                        {:>5}",
            self.rejected
        );
        for (reason, n) in &self.reasons {
            println!("      {n:>4}  {reason}");
        }
        println!("  lost (no outcome)                              {lost:>5}   (goal 0)");
        println!(
            "  faces no person records                        {:>5}   (goal 0)",
            self.orphan_faces
        );
        println!(
            "  duplicate rows                                 {:>5}   (goal 0)",
            self.duplicate_rows
        );
        println!(
            "  pending rows of retried requests               {:>5}   (goal 0: retries carry an idempotency key)",
            self.unrequested
        );
        for (run, report) in self.reconciles.iter().enumerate() {
            println!(
                "  reconcile run {}: drift found {}, repaired {}",
                run + 1,
                report.drift(),
                report.repaired()
            );
        }
        println!(
            "  rows changed by replaying {} events {REPLAYS} times {:>5}   (goal 0)",
            self.events, self.changed_by_replays
        );
    }
}

/// `event` as the indexer receives it from IndexQueue: one message.
fn queue_message(event: &Value) -> Value {
    serde_json::json!({"Records": [{
        "messageId": uuid::Uuid::new_v4().to_string(),
        "receiptHandle": "replay",
        "body": event.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
    }]})
}
