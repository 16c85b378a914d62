//! The whole local runtime under load, as `make bench-load` builds it (release):
//!
//! - indexing: PUT end -> `indexed` in the table, one photo at a time, and
//!   photos per second with 4 uploads in flight (S3 event, indexer, face
//!   engine, database);
//! - listing: `GET /api/faces` through the gateway on 100,000 people, the
//!   authorizer and each function's own credentials on, a fixed number of
//!   requests at a fixed concurrency, driven by the `rlt` load generator.
//!
//! Prints each figure beside its goal; asserts nothing. Needs DATABASE_URL
//! (a server where a scratch database may be created), DATABASE_TLS_CA, the
//! models (`make models`) and the test photos (`make test-images`).

mod common;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{BenchError, ScratchStack};
use futures::StreamExt;
use local_runtime::LocalRuntime;
use rlt::{BenchSuite, IterInfo, IterReport};
use serde_json::Value;

/// Enrolments timed one at a time, after one that warms up.
const ONE_AT_A_TIME: usize = 5;
/// Enrolments through the registry with [`IN_FLIGHT`] at once.
const THROUGHPUT_ENROLMENTS: usize = 40;
const IN_FLIGHT: usize = 4;
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

const PEOPLE: usize = 100_000;
const REQUESTS: u64 = 20_000;
const CONCURRENCY: u32 = 32;
const WARM_UP_REQUESTS: u64 = 500;

const GOAL_INDEXING_SECONDS: f64 = 0.3;
const GOAL_REQUESTS_PER_SECOND: f64 = 2_000.0;
const GOAL_P99_MS: f64 = 50.0;

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-load", run().await)
}

async fn run() -> Result<(), BenchError> {
    let photos = common::test_photos()?;
    let stack = ScratchStack::start("registry-local-load", None, |_, _| {}).await?;
    let result = measure(&stack.runtime, &photos, &stack.pool, stack.state()).await;
    stack.stop().await?;
    result
}

async fn measure(
    runtime: &LocalRuntime,
    photos: &[Vec<u8>],
    pool: &sqlx::MySqlPool,
    state: &Path,
) -> Result<(), BenchError> {
    let http = reqwest::Client::new();
    let token = common::admin_token(runtime)?;
    let gateway = runtime.gateway_url();
    // The time from the end of the PUT to `indexed`, and how often the
    // client had to ask for an upload URL again (an error of the registry).
    let enrol_and_wait = async |n: usize| -> Result<(Duration, usize), BenchError> {
        let photo = &photos[n % photos.len()];
        let enrolled = common::enrol(&http, &gateway, &token, "Load", n, photo).await?;
        let put_done = Instant::now();
        common::wait_until_indexed(pool, &enrolled.key, GIVE_UP_AFTER).await?;
        Ok((put_done.elapsed(), enrolled.retries))
    };

    // One at a time; the first warms the pools and the engine up.
    enrol_and_wait(0).await?;
    let indexer = runtime
        .lambda()
        .function("IndexerFunction")
        .ok_or("the template has no IndexerFunction")?;
    let mut latencies = Vec::new();
    let mut invocations = Vec::new();
    let mut retries = 0;
    for n in 1..=ONE_AT_A_TIME {
        let reported = indexer.reports().len();
        let (latency, retried) = enrol_and_wait(n).await?;
        latencies.push(latency);
        retries += retried;
        // The photo's indexing: its longest invocation (the event of the
        // rewrite without metadata finds the photo recorded).
        let indexing = indexer.reports()[reported..]
            .iter()
            .map(|report| report.duration)
            .max()
            .unwrap_or_default();
        invocations.push(indexing);
    }
    latencies.sort();
    invocations.sort();
    let median = latencies[latencies.len() / 2];
    println!(
        "Indexing, PUT end -> indexed in the table (release runtime, {ONE_AT_A_TIME} photos one at a time):"
    );
    println!(
        "  median {:>7.0} ms   min {:.0} ms   max {:.0} ms      (goal: at most {:.0} ms)",
        ms(median),
        ms(latencies[0]),
        ms(latencies[latencies.len() - 1]),
        GOAL_INDEXING_SECONDS * 1000.0
    );
    println!(
        "  of which the indexer's invocation (its REPORT's Duration, the face engine's IndexFaces in it): median {:.0} ms",
        ms(invocations[invocations.len() / 2]),
    );

    let began = Instant::now();
    let done: Vec<Result<(Duration, usize), BenchError>> =
        futures::stream::iter(100..100 + THROUGHPUT_ENROLMENTS)
            .map(&enrol_and_wait)
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
    let elapsed = began.elapsed();
    let done = done.into_iter().collect::<Result<Vec<_>, _>>()?;
    retries += done.iter().map(|(_, retried)| retried).sum::<usize>();
    let mut each: Vec<Duration> = done.into_iter().map(|(latency, _)| latency).collect();
    each.sort();
    println!("Indexing with {IN_FLIGHT} uploads in flight ({THROUGHPUT_ENROLMENTS} photos):");
    println!(
        "  {:>7.2} photos/s   PUT end -> indexed: median {:.0} ms, max {:.0} ms",
        THROUGHPUT_ENROLMENTS as f64 / elapsed.as_secs_f64(),
        ms(each[each.len() / 2]),
        ms(each[each.len() - 1])
    );
    println!("  {retries:>7} upload-URL requests retried      (goal: 0)");

    let seeding = Instant::now();
    registry_testkit::seed::people(pool, PEOPLE).await?;
    println!(
        "Listing: seeded {PEOPLE} more people in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let report = state.join("listing-load.json");
    let cli = <rlt::cli::BenchCli as clap::Parser>::try_parse_from([
        "registry-local-load",
        "--concurrency",
        &CONCURRENCY.to_string(),
        "--iterations",
        &REQUESTS.to_string(),
        "--warmup",
        &WARM_UP_REQUESTS.to_string(),
        "--quiet",
        "--output",
        "json",
        "--output-file",
        report
            .to_str()
            .ok_or("the state folder's path is not UTF-8")?,
    ])?;
    let suite = ListFaces {
        client: http.clone(),
        url: format!("{gateway}/api/faces"),
        token: token.clone(),
    };
    rlt::cli::run(cli, suite).await?;
    let report: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
    print_listing(&report)
}

/// One request of the listing's load: an admin's first page of people.
#[derive(Clone)]
struct ListFaces {
    client: reqwest::Client,
    url: String,
    token: String,
}

#[async_trait]
impl BenchSuite for ListFaces {
    type WorkerState = ();

    async fn state(&self, _worker: u32) -> anyhow::Result<()> {
        Ok(())
    }

    async fn bench(&mut self, _: &mut (), _: &IterInfo) -> anyhow::Result<IterReport> {
        let began = Instant::now();
        let response = self
            .client
            .get(&self.url)
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status().into();
        let bytes = response.bytes().await?.len() as u64;
        Ok(IterReport {
            duration: began.elapsed(),
            status,
            bytes,
            items: 1,
        })
    }
}

/// The figures of rlt's JSON report, beside their goals.
fn print_listing(report: &Value) -> Result<(), BenchError> {
    let number = |pointer: &str| {
        report
            .pointer(pointer)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("the load report has no {pointer}"))
    };
    let requests = number("/summary/iters/total")?;
    let rate = number("/summary/iters/rate")?;
    let p50 = number("/latency/percentiles/p50")? * 1000.0;
    let p99 = number("/latency/percentiles/p99")? * 1000.0;
    let failed_statuses: u64 = report["status"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(status, _)| !status.starts_with("Success"))
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    let failed_requests: u64 = report["errors"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, count)| count.as_u64())
        .sum();
    println!(
        "  GET /api/faces through the gateway, {requests:.0} requests, {CONCURRENCY} at a time, \
         page of 50 with presigned photo URLs:"
    );
    println!("  {rate:>9.0} requests/s      (goal: at least {GOAL_REQUESTS_PER_SECOND:.0})");
    println!("  p50 {p50:>7.2} ms");
    println!("  p99 {p99:>7.2} ms            (goal: under {GOAL_P99_MS:.0} ms)");
    println!(
        "  {:>9} errors          (goal: 0)",
        failed_statuses + failed_requests
    );
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
