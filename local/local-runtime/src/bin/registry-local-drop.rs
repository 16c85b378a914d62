//! A bulk drop, measured, as `make bench-drop` builds it (optimised, the
//! functions' own binaries beside it): [`PHOTOS`] photos PUT straight into
//! the bucket under the plain `lastname_firstname.jpg` convention, as `aws
//! s3 sync` would, [`IN_FLIGHT`] at a time, by the operator. No operator
//! acts after that: S3's events go through IndexQueue to the indexer, at
//! most its `MaximumConcurrency` at once.
//!
//! Prints how long the drop took (goal: within a minute), how many S3
//! events each photo made (stripping a photo's metadata writes it again,
//! which S3 notifies too), how long until every photo was indexed or
//! rejected, photos per second, and the dead letters (goal: none). Asserts
//! nothing.
//!
//! Needs DATABASE_URL, DATABASE_TLS_CA, the models and the test photos
//! (`make bench-drop` sets them).

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::{BenchError, ScratchStack};
use futures::StreamExt;

const PHOTOS: usize = 2_000;
const IN_FLIGHT: usize = 16;
const GOAL_DROP: Duration = Duration::from_secs(60);
const GIVE_UP_AFTER: Duration = Duration::from_secs(1800);

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-drop", run().await)
}

async fn run() -> Result<(), BenchError> {
    let photos = common::test_photos()?;
    let stack = ScratchStack::start("registry-local-drop", None, |options, state| {
        options.record_events = Some(state.join("events"));
    })
    .await?;
    let result = measure(&stack, &photos).await;
    stack.stop().await?;
    result
}

async fn measure(stack: &ScratchStack, photos: &[Vec<u8>]) -> Result<(), BenchError> {
    let runtime = &stack.runtime;
    let sdk = runtime.operator_sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = common::photo_bucket(runtime)?;
    let concurrency = runtime
        .stack()
        .functions
        .iter()
        .find(|f| f.logical_id == "IndexerFunction")
        .and_then(|f| f.queue_sources.first())
        .and_then(|source| source.maximum_concurrency)
        .map_or_else(|| "none".to_owned(), |n| n.to_string());

    let started = Instant::now();
    let puts = futures::stream::iter(0..PHOTOS)
        .map(|n| {
            let s3 = s3.clone();
            let bucket = bucket.clone();
            let body = photos[n % photos.len()].clone();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("drop-{n:04}_person.jpg"))
                    .content_type("image/jpeg")
                    .body(ByteStream::from(body))
                    .send()
                    .await
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let dropped = started.elapsed();
    if let Some(Err(error)) = puts.into_iter().find(Result::is_err) {
        return Err(format!("PUT: {}", aws_sdk_s3::error::DisplayErrorContext(error)).into());
    }

    let settled = loop {
        let (total, pending): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(status = 'pending'), 0) AS SIGNED) FROM person",
        )
        .fetch_one(&stack.pool)
        .await?;
        if total == PHOTOS as i64 && pending == 0 {
            break started.elapsed();
        }
        if started.elapsed() > GIVE_UP_AFTER {
            return Err(
                format!("{total} people, {pending} pending after {GIVE_UP_AFTER:?}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let outcomes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CAST(status AS CHAR), COUNT(*) FROM person GROUP BY status ORDER BY status",
    )
    .fetch_all(&stack.pool)
    .await?;
    let events = std::fs::read_dir(stack.state().join("events")).map_or(0, Iterator::count);
    let dead_letters = runtime.dead_letters().map_or(0, |d| d.list().len());

    println!(
        "bulk drop: {PHOTOS} photos PUT straight into the bucket, {IN_FLIGHT} at a time \
         (the indexer's MaximumConcurrency: {concurrency})"
    );
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "  dropped in {:.1} s (goal <= {} s: {})",
        dropped.as_secs_f64(),
        GOAL_DROP.as_secs(),
        verdict(dropped <= GOAL_DROP)
    );
    println!(
        "  S3 events delivered: {events} ({:.2} per photo: the PUT, and the rewrite without metadata)",
        events as f64 / PHOTOS as f64
    );
    println!(
        "  every photo settled {:.1} s after the drop began: {:.1} photos/s; {}",
        settled.as_secs_f64(),
        PHOTOS as f64 / settled.as_secs_f64(),
        outcomes
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  dead letters: {dead_letters} (goal 0: {})",
        verdict(dead_letters == 0)
    );
    Ok(())
}
