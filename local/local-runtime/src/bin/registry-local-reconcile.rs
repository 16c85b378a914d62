//! Reconcile's full pass over a million people, as `make bench-reconcile`
//! builds it (optimised, the functions' own binaries beside it).
//!
//! A registry in order: [`PEOPLE`] people seeded in every status
//! (`registry_testkit::seed`), a photo in the bucket for each who has one,
//! and in the collection a face (a synthetic embedding: computing a million
//! would take days here) for each who is indexed. They are written into
//! the stack's state folder while it is stopped, and loaded when it starts
//! again, as a restarted `make dev` loads them.
//!
//! Then the reconcile function is invoked as its schedule invokes it, run
//! after run, each within its `Timeout` and going on from the checkpoints
//! of the one before, until both scans have ended a pass. Prints each run
//! (time, faces and photos checked, drift, its memory) and the totals.
//! Asserts nothing.
//!
//! Needs DATABASE_URL, DATABASE_TLS_CA and the models (`make
//! bench-reconcile` sets them).

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{BenchError, ScratchStack};
use local_face_engine::store::{CollectionStore, NewFace};
use local_face_engine::synthetic::SyntheticFaces;
use local_runtime::StatePaths;
use serde_json::{Value, json};

const PEOPLE: usize = 1_000_000;
/// Faces per append to the collection's log.
const FACE_BATCH: usize = 10_000;
/// Runs after which the bench gives up on the passes ending.
const MAX_RUNS: usize = 20;
/// The schedule's period (`rate(10 minutes)`): a pass that takes n runs
/// takes n − 1 periods and the last run's time.
const SCHEDULE: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-reconcile", run().await)
}

/// What the registry holds: each photo's key, each face's FaceId.
struct Registry {
    photo_keys: Vec<String>,
    face_ids: Vec<uuid::Uuid>,
}

async fn run() -> Result<(), BenchError> {
    let stack = ScratchStack::start("registry-local-reconcile", None, |_, _| {}).await?;
    let started = Instant::now();
    let (registry, bucket, collection) = match seed(&stack).await {
        Ok(seeded) => seeded,
        Err(error) => {
            stack.stop().await?;
            return Err(error);
        }
    };
    let stack = stack
        .restart(|state| {
            write_photos(state, &bucket, &registry.photo_keys)?;
            write_faces(state, &collection, &registry.face_ids)
        })
        .await?;
    println!(
        "reconcile: {PEOPLE} people, {} photos, {} faces, set up in {:.0} s",
        registry.photo_keys.len(),
        registry.face_ids.len(),
        started.elapsed().as_secs_f64()
    );
    let result = measure(&stack).await;
    stack.stop().await?;
    result
}

/// Seeds the people; what the registry then holds, the photo bucket and
/// the collection.
async fn seed(stack: &ScratchStack) -> Result<(Registry, String, String), BenchError> {
    registry_testkit::seed::people(&stack.pool, PEOPLE).await?;
    let registry = read_registry(&stack.pool).await?;
    let bucket = common::photo_bucket(&stack.runtime)?;
    let collection = stack
        .runtime
        .stack()
        .collections
        .first()
        .ok_or("the template has no collection")?
        .id
        .clone();
    Ok((registry, bucket, collection))
}

async fn read_registry(pool: &sqlx::MySqlPool) -> Result<Registry, BenchError> {
    let rows: Vec<(Vec<u8>, bool, Option<String>)> = sqlx::query_as(
        "SELECT object_key, object_etag IS NOT NULL, identity FROM person ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    let mut registry = Registry {
        photo_keys: Vec::new(),
        face_ids: Vec::new(),
    };
    for (key, has_photo, identity) in rows {
        if has_photo {
            registry.photo_keys.push(String::from_utf8(key)?);
        }
        if let Some(face_id) = identity {
            registry.face_ids.push(face_id.parse()?);
        }
    }
    Ok(registry)
}

/// An empty file per photo, in the bucket's folder: reconcile lists
/// photos, it does not read them.
fn write_photos(state: &StatePaths, bucket: &str, keys: &[String]) -> Result<(), BenchError> {
    let folder = state.s3().join(bucket);
    std::fs::create_dir_all(&folder)?;
    for key in keys {
        std::fs::File::create(folder.join(key))?;
    }
    Ok(())
}

/// A face per FaceId, appended to the collection's log.
fn write_faces(
    state: &StatePaths,
    collection: &str,
    face_ids: &[uuid::Uuid],
) -> Result<(), BenchError> {
    let store = CollectionStore::open(&state.faces())?;
    let collection = store.get(collection)?;
    let mut synthetic = SyntheticFaces::new(7);
    for batch in face_ids.chunks(FACE_BATCH) {
        let faces: Vec<NewFace> = batch
            .iter()
            .map(|&face_id| synthetic.enrolled(face_id, None))
            .collect();
        collection.add_faces(&faces)?;
    }
    Ok(())
}

async fn measure(stack: &ScratchStack) -> Result<(), BenchError> {
    let function = stack
        .runtime
        .lambda()
        .function("ReconcileFunction")
        .ok_or("the template has no ReconcileFunction")?;
    println!(
        "  each run within the function's Timeout ({} s) and MemorySize ({} MB), every {} min by its schedule",
        function.spec.timeout.as_secs(),
        function.spec.memory_mb,
        SCHEDULE.as_secs() / 60
    );
    let (mut faces_ended, mut photos_ended) = (None, None);
    let mut work = Duration::ZERO;
    for run in 1..=MAX_RUNS {
        let started = Instant::now();
        let report = function.invoke(json!({})).await?;
        let took = started.elapsed();
        work += took;
        let memory = function
            .reports()
            .last()
            .map_or(0, |report| report.max_memory_used_mb);
        let count = |name: &str| report[name].as_u64().unwrap_or(0);
        let ended = |name: &str| report[name].as_bool().unwrap_or(false);
        if ended("facesPassComplete") {
            faces_ended.get_or_insert(run);
        }
        if ended("photosPassComplete") {
            photos_ended.get_or_insert(run);
        }
        let passes_ended = match (ended("facesPassComplete"), ended("photosPassComplete")) {
            (true, true) => "; both passes ended",
            (true, false) => "; the faces' pass ended",
            (false, true) => "; the photos' pass ended",
            (false, false) => "",
        };
        println!(
            "  run {run}: {:>6.1} s, {:>7} faces and {:>7} photos checked, drift {}, max memory {memory} MB{passes_ended}",
            took.as_secs_f64(),
            count("facesChecked"),
            count("photosChecked"),
            drift(&report),
        );
        if let (Some(faces), Some(photos)) = (faces_ended, photos_ended) {
            let runs = faces.max(photos);
            println!(
                "  both passes ended in {runs} run(s): {:.1} s of work, {} from the first run's start to the last one's end",
                work.as_secs_f64(),
                format_span(SCHEDULE * u32::try_from(runs - 1)? + took),
            );
            let peak = function
                .reports()
                .iter()
                .map(|report| report.max_memory_used_mb)
                .max()
                .unwrap_or(0);
            println!(
                "  (goals: the pass within one run, {}; at most half the MemorySize, {peak} MB: {})",
                met(runs == 1),
                met(peak * 2 <= u64::from(function.spec.memory_mb)),
            );
            return Ok(());
        }
    }
    Err(format!("the passes had not ended after {MAX_RUNS} runs").into())
}

/// What the report counts as out of place (`ReconcileReport::drift`).
fn drift(report: &Value) -> u64 {
    [
        "unfinishedErasuresFound",
        "unfinishedMovesFound",
        "orphanFacesFound",
        "unindexedPhotosFound",
        "erasedPhotoVersionsDeleted",
        "pendingExpired",
        "photosGone",
    ]
    .iter()
    .map(|name| report[*name].as_u64().unwrap_or(0))
    .sum()
}

fn met(goal_met: bool) -> &'static str {
    if goal_met { "met" } else { "MISSED" }
}

fn format_span(span: Duration) -> String {
    let seconds = span.as_secs();
    if seconds < 120 {
        format!("{:.1} s", span.as_secs_f64())
    } else {
        format!("{} min {} s", seconds / 60, seconds % 60)
    }
}
