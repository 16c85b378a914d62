//! Time from the end of the photo's PUT to `indexed` in the table, through
//! the whole local runtime (S3 event, indexer, face engine, database).
//!
//! Needs DATABASE_URL (a server where a scratch database may be created),
//! the models (`make models`) and the test photos (`make test-images`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use registry_local::{Group, LocalRuntime, RuntimeOptions, ScratchDatabase};
use serde_json::{Value, json};

const ENROLMENTS: usize = 5;
const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

type BenchError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("registry-local-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

async fn run() -> Result<(), BenchError> {
    let server_url = std::env::var("DATABASE_URL")
        .map_err(|_| "DATABASE_URL is not set (run `make bench-local`)")?;
    let models = env_path("FACE_ENGINE_MODELS_DIR", ".local/models");
    let images = env_path("REGISTRY_TEST_IMAGES", ".local/test-images");
    let photos = PHOTOS
        .iter()
        .map(|name| {
            std::fs::read(images.join(name)).map_err(|e| {
                format!(
                    "{}: {e} (run `make test-images`)",
                    images.join(name).display()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let ca = std::env::var("DATABASE_TLS_CA")
        .map_err(|_| "DATABASE_TLS_CA is not set (run `make bench-local`)")?;
    let scratch = ScratchDatabase::create(&server_url, "registry_bench").await?;
    let state = tempfile_dir()?;
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

fn tempfile_dir() -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!(
        "registry-local-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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
        let mut put = http
            .put(ticket["uploadUrl"].as_str().ok_or("no upload URL")?)
            .body(photo.clone());
        for (name, value) in ticket["headers"].as_object().ok_or("no signed headers")? {
            if name != "host" && name != "content-length" {
                put = put.header(name, value.as_str().unwrap_or_default());
            }
        }
        put.send().await?.error_for_status()?;
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
