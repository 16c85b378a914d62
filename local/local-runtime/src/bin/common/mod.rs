//! What the local runtime's benchmarks share: their inputs (the models and
//! test photos `make bench-*` point at), a state folder, the browser's PUT
//! of a photo to its upload URL, and how a failure ends the program.

#![allow(dead_code)] // Not every benchmark uses every helper.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use local_runtime::{Group, LocalRuntime, RuntimeOptions, ScratchDatabase, StatePaths};
use serde_json::{Value, json};

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// The test photos enrolled, in turn.
pub const PHOTOS: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];

/// A bearer token of the admins' group, valid an hour: the benchmarks'
/// caller.
pub fn admin_token(runtime: &LocalRuntime) -> Result<String, BenchError> {
    Ok(runtime
        .tokens()
        .issue(Group::Admins, Duration::from_secs(3600))?
        .token)
}

/// The program's exit: its error, if any, on standard error.
pub fn exit(program: &str, outcome: Result<(), BenchError>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// The face models' folder (`FACE_ENGINE_MODELS_DIR`).
pub fn models_dir() -> PathBuf {
    env_path("FACE_ENGINE_MODELS_DIR", ".local/models")
}

/// The bytes of each of [`PHOTOS`] (`REGISTRY_TEST_IMAGES`).
pub fn test_photos() -> Result<Vec<Vec<u8>>, BenchError> {
    let images = env_path("REGISTRY_TEST_IMAGES", ".local/test-images");
    PHOTOS
        .iter()
        .map(|name| {
            std::fs::read(images.join(name)).map_err(|e| {
                format!(
                    "{}: {e} (run `make test-images`)",
                    images.join(name).display()
                )
                .into()
            })
        })
        .collect()
}

/// A fresh state folder for the runtime, under the system's temporary one.
pub fn state_dir(program: &str) -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("{program}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The PUT a browser makes to an upload ticket's URL, with its signed headers.
pub async fn put_photo(
    http: &reqwest::Client,
    ticket: &Value,
    photo: &[u8],
) -> Result<(), BenchError> {
    let mut put = http
        .put(ticket["uploadUrl"].as_str().ok_or("no upload URL")?)
        .body(photo.to_vec());
    for (name, value) in ticket["headers"].as_object().ok_or("no signed headers")? {
        // The client sets these itself.
        if name != "host" && name != "content-length" {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
    }
    put.send().await?.error_for_status()?;
    Ok(())
}

/// What one enrolment's client saw.
pub struct Enrolled {
    pub key: String,
    /// Requests for an upload URL that failed before one succeeded.
    pub retries: usize,
}

/// Asks for an upload URL as an admin (again while the registry answers
/// 5xx or not at all) and PUTs `photo` to it.
pub async fn enrol(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
    lastname: &str,
    n: usize,
    photo: &[u8],
) -> Result<Enrolled, BenchError> {
    // A client tries again when the registry is unavailable, as the page
    // does, with the request's idempotency key: a retry whose first reply
    // was lost answers the person the first request created.
    let mut retries = 0;
    let idempotency_key = format!("bench-{lastname}-{n}");
    let ticket: Value = loop {
        let answer = http
            .post(format!("{gateway}/api/uploads"))
            .bearer_auth(token)
            .header("idempotency-key", &idempotency_key)
            .json(&json!({
                "lastname": lastname,
                "firstname": format!("Person {n}"),
                "contentType": "image/jpeg",
                "contentLength": photo.len(),
            }))
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => break response.json().await?,
            Ok(response) if response.status().is_server_error() => {}
            Ok(response) => return Err(format!("POST /api/uploads: {}", response.status()).into()),
            Err(_) => {}
        }
        retries += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let key = ticket["key"].as_str().ok_or("no key")?.to_owned();
    put_photo(http, &ticket, photo).await?;
    Ok(Enrolled { key, retries })
}

/// The database server where scratch databases are made.
/// Waits until the photo at `key` is indexed (an error when it is rejected
/// or still pending after `give_up_after`).
pub async fn wait_until_indexed(
    pool: &sqlx::MySqlPool,
    key: &str,
    give_up_after: Duration,
) -> Result<(), BenchError> {
    let began = std::time::Instant::now();
    loop {
        let status: Option<String> =
            sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM person WHERE object_key = ?")
                .bind(key)
                .fetch_optional(pool)
                .await?;
        match status.as_deref() {
            Some("indexed") => return Ok(()),
            Some("rejected") => return Err(format!("{key} was rejected").into()),
            _ if began.elapsed() > give_up_after => {
                return Err(format!("{key} not indexed after {give_up_after:?}").into());
            }
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

/// The stack's photo bucket (the one whose name ends in `-photos`).
pub fn photo_bucket(runtime: &LocalRuntime) -> Result<String, BenchError> {
    Ok(runtime
        .stack()
        .buckets
        .iter()
        .find(|b| b.name.ends_with("-photos"))
        .ok_or("the template has no photo bucket")?
        .name
        .clone())
}

pub fn database_url() -> Result<String, BenchError> {
    Ok(std::env::var("DATABASE_URL").map_err(
        |_| "DATABASE_URL is not set (`make bench-load` and `make bench-faults` set it)",
    )?)
}

/// The whole runtime on a scratch database and state folder of its own.
pub struct ScratchStack {
    pub runtime: LocalRuntime,
    /// The scratch database, as its owner (rows are read and seeded through it).
    pub pool: sqlx::MySqlPool,
    scratch: ScratchDatabase,
    options: RuntimeOptions,
}

impl ScratchStack {
    /// Starts the stack of `template.yaml` for `program`, its functions
    /// reaching the database server of `DATABASE_URL`, or
    /// `functions_database_url` (a relay in front of it); `configure` sets
    /// further options.
    pub async fn start(
        program: &str,
        functions_database_url: Option<&str>,
        configure: impl FnOnce(&mut RuntimeOptions, &std::path::Path),
    ) -> Result<Self, BenchError> {
        let server_url = database_url()?;
        let ca = std::env::var("DATABASE_TLS_CA").map_err(
            |_| "DATABASE_TLS_CA is not set (`make bench-load` and `make bench-faults` set it)",
        )?;
        let scratch = ScratchDatabase::create(&server_url, &program.replace('-', "_")).await?;
        let state = state_dir(program)?;
        let mut options = RuntimeOptions::new(
            "template.yaml",
            &state,
            models_dir(),
            functions_database_url.unwrap_or(&server_url),
            ca,
        )
        .with_ephemeral_ports();
        options.use_scratch_database(scratch.name());
        // The functions' own binaries, built beside this one.
        options.functions_dir = std::env::current_exe()?.parent().map(PathBuf::from);
        configure(&mut options, &state);
        let runtime = LocalRuntime::start(options.clone()).await?;
        let pool = sqlx::MySqlPool::connect(scratch.url()).await?;
        Ok(Self {
            runtime,
            pool,
            scratch,
            options,
        })
    }

    /// Its state folder.
    pub fn state(&self) -> &Path {
        &self.options.state.root
    }

    /// Stops the runtime, runs `while_stopped` on its state folder, and
    /// starts it again on the same database and state, which it loads as a
    /// restarted `make dev` does. On a failure the database is dropped.
    pub async fn restart(
        self,
        while_stopped: impl FnOnce(&StatePaths) -> Result<(), BenchError>,
    ) -> Result<Self, BenchError> {
        let Self {
            runtime,
            pool,
            scratch,
            options,
        } = self;
        runtime.shutdown().await;
        let restarted = async {
            while_stopped(&options.state)?;
            Ok::<_, BenchError>(LocalRuntime::start(options.clone()).await?)
        }
        .await;
        match restarted {
            Ok(runtime) => Ok(Self {
                runtime,
                pool,
                scratch,
                options,
            }),
            Err(error) => {
                pool.close().await;
                let _ = scratch.drop_database().await;
                let _ = std::fs::remove_dir_all(&options.state.root);
                Err(error)
            }
        }
    }

    /// Stops the stack and removes its database, users and state folder.
    pub async fn stop(self) -> Result<(), BenchError> {
        self.pool.close().await;
        let _ = self.runtime.drop_database_users().await;
        self.runtime.shutdown().await;
        self.scratch.drop_database().await?;
        let _ = std::fs::remove_dir_all(&self.options.state.root);
        Ok(())
    }
}
