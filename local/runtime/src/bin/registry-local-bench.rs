//! Time from the end of the photo's PUT to `indexed` in the table, through
//! the whole local runtime (S3 event, indexer, face engine, database).
//!
//! Needs DATABASE_URL (a server where a scratch database may be created),
//! the models (`make models`) and the test photos (`make test-images`).

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{BenchError, PHOTOS};
use registry_local::{Group, LocalRuntime, RuntimeOptions, ScratchDatabase};
use serde_json::{Value, json};

const ENROLMENTS: usize = 5;
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-bench", run().await)
}

async fn run() -> Result<(), BenchError> {
    let server_url = std::env::var("DATABASE_URL")
        .map_err(|_| "DATABASE_URL is not set (run `make bench-local`)")?;
    let models = common::models_dir();
    let photos = common::test_photos()?;

    let ca = std::env::var("DATABASE_TLS_CA")
        .map_err(|_| "DATABASE_TLS_CA is not set (run `make bench-local`)")?;
    let scratch = ScratchDatabase::create(&server_url, "registry_bench").await?;
    let state = common::state_dir("registry-local-bench")?;
    let mut options = RuntimeOptions::new("template.yaml", &state, models, &server_url, ca)
        .with_ephemeral_ports();
    options.use_scratch_database(scratch.name());
    let runtime = LocalRuntime::start(options).await?;
    let pool = sqlx::MySqlPool::connect(scratch.url()).await?;
    let result = measure(&runtime, &photos, &pool).await;
    pool.close().await;
    let _ = runtime.drop_database_users().await;
    runtime.shutdown().await;
    scratch.drop_database().await?;
    let _ = std::fs::remove_dir_all(&state);
    let timings = result?;

    let mut sorted = timings.clone();
    sorted.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "PUT end -> indexed in the table (in-process runtime, HOG detector, {ENROLMENTS} enrolments after one warm-up):"
    );
    for (i, t) in timings.iter().enumerate() {
        println!(
            "  enrolment {}  {:8.1} ms  ({})",
            i + 1,
            ms(*t),
            PHOTOS[(i + 1) % PHOTOS.len()]
        );
    }
    println!(
        "  median {:.1} ms   min {:.1} ms   max {:.1} ms",
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    );
    Ok(())
}

async fn measure(
    runtime: &LocalRuntime,
    photos: &[Vec<u8>],
    pool: &sqlx::MySqlPool,
) -> Result<Vec<Duration>, BenchError> {
    let http = reqwest::Client::new();
    let token = runtime
        .tokens()
        .issue(Group::Admins, Duration::from_secs(3600))?
        .token;
    let mut timings = Vec::new();
    // The first enrolment warms the pool and the engine up; it is not counted.
    for i in 0..=ENROLMENTS {
        let photo = &photos[i % photos.len()];
        let ticket: Value = http
            .post(format!("{}/api/uploads", runtime.gateway_url()))
            .bearer_auth(&token)
            .json(&json!({
                "lastname": "Bench",
                "firstname": format!("Person {i}"),
                "contentType": "image/jpeg",
                "contentLength": photo.len(),
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = ticket["key"]
            .as_str()
            .ok_or("no key in the upload ticket")?
            .to_owned();
        common::put_photo(&http, &ticket, photo).await?;
        let put_done = Instant::now();
        loop {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM person WHERE object_key = ?")
                    .bind(&key)
                    .fetch_optional(pool)
                    .await?;
            match status.as_deref() {
                Some("indexed") => break,
                Some("rejected") => return Err(format!("{key} was rejected").into()),
                _ if put_done.elapsed() > GIVE_UP_AFTER => {
                    return Err(format!("{key} not indexed after {GIVE_UP_AFTER:?}").into());
                }
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        if i > 0 {
            timings.push(put_done.elapsed());
        }
    }
    Ok(timings)
}
