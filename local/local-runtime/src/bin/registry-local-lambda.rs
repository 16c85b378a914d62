//! Cold starts and memory, measured, as `make bench-lambda` builds it
//! (release, the functions' own binaries beside it): the end-to-end flow
//! (enrolment, indexing, listing, a person, search by photo, health,
//! reconcile, and the custom resources of the deploy) run [`ROUNDS`] times,
//! every execution environment ended between rounds, so that each round
//! starts each function cold. Prints, per function, its init durations
//! (Lambda's `Init Duration`) and its largest `Max Memory Used` beside the
//! goals: init at most 100 ms, memory at most half of its `MemorySize`.
//! Asserts nothing.
//!
//! Needs DATABASE_URL, DATABASE_TLS_CA, the models and the test photos
//! (`make bench-lambda` sets them).

mod common;

use std::process::ExitCode;
use std::time::Duration;

use common::{BenchError, ScratchStack};
use local_runtime::LocalRuntime;
use local_runtime::lambda::Report;

const ROUNDS: usize = 5;
const GOAL_INIT_MS: f64 = 100.0;
/// Of the function's `MemorySize`.
const GOAL_MEMORY_SHARE: f64 = 0.5;
const INDEXING_WITHIN: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-lambda", run().await)
}

async fn run() -> Result<(), BenchError> {
    let photos = common::test_photos()?;
    let stack = ScratchStack::start("registry-local-lambda", None, |_, _| {}).await?;
    let result = measure(&stack, &photos).await;
    stack.stop().await?;
    result
}

async fn measure(stack: &ScratchStack, photos: &[Vec<u8>]) -> Result<(), BenchError> {
    let runtime = &stack.runtime;
    for round in 0..ROUNDS {
        runtime.lambda().shutdown().await;
        flow(stack, photos, round).await?;
    }
    println!(
        "cold starts and memory over {ROUNDS} rounds of the end-to-end flow, each function cold in each \
         (the functions' own release binaries; goals: init <= {GOAL_INIT_MS} ms, memory <= {:.0} % of MemorySize)",
        GOAL_MEMORY_SHARE * 100.0
    );
    println!(
        "{:<24} {:>6} {:>10} {:>10} {:>10} {:>8} {:>12} {:>9}",
        "function", "colds", "init p50", "init max", "goal", "memory", "max used", "goal"
    );
    for function in runtime.lambda().functions() {
        let reports = function.reports();
        print_row(&function.spec.logical_id, function.spec.memory_mb, &reports);
    }
    Ok(())
}

/// One round: what an operator and the photo events make the functions do.
async fn flow(stack: &ScratchStack, photos: &[Vec<u8>], round: usize) -> Result<(), BenchError> {
    let runtime = &stack.runtime;
    let http = reqwest::Client::new();
    let token = common::admin_token(runtime)?;
    let gateway = runtime.gateway_url();
    let photo = &photos[round % photos.len()];
    let enrolled = common::enrol(&http, &gateway, &token, "Lambda", round, photo).await?;
    common::wait_until_indexed(&stack.pool, &enrolled.key, INDEXING_WITHIN).await?;
    let get = |path: &str| {
        http.get(format!("{gateway}{path}"))
            .bearer_auth(&token)
            .send()
    };
    expect_ok(get("/api/faces").await?, "GET /api/faces").await?;
    expect_ok(get("/api/faces/1").await?, "GET /api/faces/1").await?;
    let search = http
        .post(format!("{gateway}/api/search"))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(photo.clone())
        .send()
        .await?;
    expect_ok(search, "POST /api/search").await?;
    expect_ok(
        http.get(format!("{gateway}/healthz")).send().await?,
        "GET /healthz",
    )
    .await?;
    reconcile(runtime).await
}

async fn expect_ok(response: reqwest::Response, what: &str) -> Result<(), BenchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!("{what}: {status} {body}").into())
}

async fn reconcile(runtime: &LocalRuntime) -> Result<(), BenchError> {
    let event = std::fs::read_to_string("events/scheduled.json")?;
    local_runtime::runtime::invoke_event(
        runtime,
        "ReconcileFunction",
        serde_json::from_str(&event)?,
    )
    .await?;
    Ok(())
}

fn print_row(id: &str, memory_size_mb: u32, reports: &[Report]) {
    let mut inits: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.init_duration)
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    inits.sort_by(f64::total_cmp);
    let max_used = reports
        .iter()
        .map(|r| r.max_memory_used_mb)
        .max()
        .unwrap_or(0);
    let memory_goal = (f64::from(memory_size_mb) * GOAL_MEMORY_SHARE) as u64;
    let (p50, max) = match (inits.get(inits.len() / 2), inits.last()) {
        (Some(p50), Some(max)) => (format!("{p50:.1} ms"), format!("{max:.1} ms")),
        _ => ("-".to_owned(), "-".to_owned()),
    };
    let init_met = inits.last().is_some_and(|max| *max <= GOAL_INIT_MS);
    println!(
        "{:<24} {:>6} {:>10} {:>10} {:>10} {:>8} {:>12} {:>9}",
        id,
        inits.len(),
        p50,
        max,
        format!(
            "{} {GOAL_INIT_MS:.0}",
            if init_met { "<=" } else { "MISSED" }
        ),
        format!("{memory_size_mb} MB"),
        format!("{max_used} MB"),
        format!(
            "{} {memory_goal}",
            if max_used <= memory_goal {
                "<="
            } else {
                "MISSED"
            }
        ),
    );
}
