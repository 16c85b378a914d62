//! One execution environment: the function's process, its Runtime API,
//! its limits.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{oneshot, watch};

use crate::memory::ProcessMemory;
use crate::report::Report;
use crate::runtime_api::{Answer, Pending, RuntimeApi};

/// Where a function's output goes, a line at a time (Lambda sends stdout
/// and stderr to the function's log group).
pub type LogSink = Arc<dyn Fn(&str) + Send + Sync>;

/// How often a working process's memory is read. Between two readings the
/// kernel's high-water mark (`VmHWM`) still shows a peak that came and went.
const MEMORY_POLL: Duration = Duration::from_millis(5);

/// Lambda's `PATH` for a `provided` runtime.
const LAMBDA_PATH: &str = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";

/// What a function is run with.
pub struct FunctionConfig {
    pub arn: String,
    /// Its binary (what `sam build` zips as `bootstrap`).
    pub executable: PathBuf,
    /// Its variables, Lambda's own among them; the Runtime API's address is
    /// added per environment.
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u64,
    pub timeout: Duration,
    pub log: LogSink,
}

/// A failed invocation, as Lambda reports it (`errorType`, `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

impl FunctionError {
    pub fn new(error_type: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.to_owned(),
            message: message.into(),
        }
    }

    /// The environment ended under the invocation (Lambda's wording, as its
    /// Go runtime interface words the process's end).
    fn exited(request_id: &str, how: &str) -> Self {
        Self::new(
            "Runtime.ExitError",
            format!("RequestId: {request_id} Error: Runtime exited with error: {how}"),
        )
    }

    /// Lambda's cgroup ended the process: the invocation's error type is
    /// `Runtime.OutOfMemory` (the Telemetry API's `platform.runtimeDone`
    /// says the same), its message the kill.
    fn out_of_memory(request_id: &str) -> Self {
        Self::new(
            "Runtime.OutOfMemory",
            format!("RequestId: {request_id} Error: Runtime exited with error: signal: killed"),
        )
    }

    fn timed_out(timeout: Duration) -> Self {
        Self::new(
            "Sandbox.Timedout",
            format!("Task timed out after {:.2} seconds", timeout.as_secs_f64()),
        )
    }

    /// Whether the environment is gone with this error.
    fn ends_environment(&self) -> bool {
        matches!(
            self.error_type.as_str(),
            "Runtime.ExitError" | "Runtime.OutOfMemory" | "Sandbox.Timedout"
        )
    }
}

/// One invocation's outcome and its report.
#[derive(Debug)]
pub struct Invocation {
    pub outcome: Result<Bytes, FunctionError>,
    pub report: Report,
}

/// A function's process, between its start and its end.
pub struct ExecutionEnvironment {
    config: Arc<FunctionConfig>,
    api: RuntimeApi,
    pid: u32,
    /// `None` when its `/proc` folder could not be opened.
    memory: Option<Arc<ProcessMemory>>,
    /// Dropping it ends the process.
    _kill: oneshot::Sender<()>,
    /// How the process ended, once it has.
    exit: watch::Receiver<Option<String>>,
    peak_kib: Arc<AtomicU64>,
    /// Reported with the first invocation.
    init_duration: Option<Duration>,
    alive: bool,
}

impl ExecutionEnvironment {
    /// Starts the function's process and waits for its init to end (its
    /// first request for an event). `request_id` is the invocation that
    /// starts it, which an init failure fails.
    pub async fn start(config: Arc<FunctionConfig>, request_id: &str) -> Result<Self, Invocation> {
        let started = Instant::now();
        let report = |error: &FunctionError| Report {
            request_id: request_id.to_owned(),
            duration: Duration::ZERO,
            memory_size_mb: config.memory_mb,
            max_memory_used_mb: 0,
            init_duration: Some(started.elapsed()),
            error_type: Some(error.error_type.clone()),
        };
        let fail = |error: FunctionError| Invocation {
            report: report(&error),
            outcome: Err(error),
        };
        let api = RuntimeApi::start().await.map_err(|e| {
            fail(FunctionError::new(
                "Runtime.Unknown",
                format!("the Runtime API: {e}"),
            ))
        })?;
        let mut child = command(&config, &api).spawn().map_err(|e| {
            fail(FunctionError::new(
                "Runtime.InvalidEntrypoint",
                format!("{}: {e}", config.executable.display()),
            ))
        })?;
        let pid = child.id().unwrap_or_default();
        let memory = ProcessMemory::of(pid).map(Arc::new);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(forward_lines(stream, Arc::clone(&config.log)));
        }
        let (kill, killed) = oneshot::channel::<()>();
        let (exited, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = killed => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            exited.send_replace(Some(match status {
                Ok(status) => describe(status),
                Err(error) => error.to_string(),
            }));
        });
        let mut environment = Self {
            config: Arc::clone(&config),
            api,
            pid,
            memory,
            _kill: kill,
            exit,
            peak_kib: Arc::new(AtomicU64::new(0)),
            init_duration: None,
            alive: true,
        };
        match environment.init(request_id).await {
            Ok(()) => {
                environment.init_duration = Some(started.elapsed());
                Ok(environment)
            }
            Err(error) => {
                let mut invocation = fail(error);
                invocation.report.max_memory_used_mb = environment.peak_mib();
                Err(invocation)
            }
        }
    }

    async fn init(&mut self, request_id: &str) -> Result<(), FunctionError> {
        let mut ready = self.api.ready.clone();
        let mut exit = self.exit.clone();
        let limit_kib = self.config.memory_mb * 1024;
        // Lambda retries an init that outlasts its 10 s within the
        // invocation, under the function's timeout: the longer of the two.
        let init_limit = self.config.timeout.max(Duration::from_secs(10));
        tokio::select! {
            biased;
            error = &mut self.api.init_error => {
                let error = error.unwrap_or_default();
                Err(FunctionError::new(&error.error_type, error.error_message))
            }
            _ = ready.wait_for(|ready| *ready) => Ok(()),
            how = exit.wait_for(Option::is_some) => {
                let how = how.map(|h| h.clone().unwrap_or_default()).unwrap_or_default();
                Err(FunctionError::exited(request_id, &how))
            }
            () = over_memory(self.memory.clone(), limit_kib, Arc::clone(&self.peak_kib)) => {
                Err(FunctionError::out_of_memory(request_id))
            }
            () = tokio::time::sleep(init_limit) => Err(FunctionError::timed_out(init_limit)),
        }
        .inspect_err(|_| self.alive = false)
    }

    /// Whether it can take another invocation.
    pub fn is_alive(&self) -> bool {
        self.alive && self.exit.borrow().is_none()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// One event: its answer (or error) and its report. After an error
    /// that ends the environment (memory, timeout, exit), it is not alive.
    pub async fn invoke(&mut self, request_id: &str, payload: Bytes) -> Invocation {
        let started = Instant::now();
        let deadline = SystemTime::now() + self.config.timeout;
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            request_id: request_id.to_owned(),
            deadline_ms: deadline
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            function_arn: self.config.arn.clone(),
            payload,
            answer,
        };
        let outcome = if self.api.events.send(pending).await.is_err() {
            Err(FunctionError::exited(
                request_id,
                "the Runtime API is closed",
            ))
        } else {
            self.wait(request_id, answered).await
        };
        let error_type = match &outcome {
            Err(error) if error.ends_environment() => {
                self.alive = false;
                Some(error.error_type.clone())
            }
            _ => None,
        };
        if let Some(memory) = self.memory.as_deref().and_then(ProcessMemory::read) {
            self.peak_kib.fetch_max(memory.peak_kib, Ordering::Relaxed);
        }
        let max_memory_used_mb = match &error_type {
            Some(kind) if kind == "Runtime.OutOfMemory" => self.config.memory_mb,
            _ => self.peak_mib(),
        };
        Invocation {
            outcome,
            report: Report {
                request_id: request_id.to_owned(),
                duration: started.elapsed(),
                memory_size_mb: self.config.memory_mb,
                max_memory_used_mb,
                init_duration: self.init_duration.take(),
                error_type,
            },
        }
    }

    async fn wait(
        &self,
        request_id: &str,
        answered: oneshot::Receiver<Answer>,
    ) -> Result<Bytes, FunctionError> {
        let mut exit = self.exit.clone();
        let limit_kib = self.config.memory_mb * 1024;
        tokio::select! {
            biased;
            answer = answered => match answer {
                Ok(Answer::Response(body)) if body.len() > crate::MAX_PAYLOAD_BYTES => Err(FunctionError::new(
                    "Function.ResponseSizeTooLarge",
                    format!("Response payload size exceeded maximum allowed payload size ({} bytes).", crate::MAX_PAYLOAD_BYTES),
                )),
                Ok(Answer::Response(body)) => Ok(body),
                Ok(Answer::Error(error)) => Err(FunctionError::new(&error.error_type, error.error_message)),
                Err(_) => Err(FunctionError::exited(request_id, "the Runtime API is closed")),
            },
            () = over_memory(self.memory.clone(), limit_kib, Arc::clone(&self.peak_kib)) => {
                Err(FunctionError::out_of_memory(request_id))
            }
            how = exit.wait_for(Option::is_some) => {
                let how = how.map(|h| h.clone().unwrap_or_default()).unwrap_or_default();
                Err(FunctionError::exited(request_id, &how))
            }
            () = tokio::time::sleep(self.config.timeout) => Err(FunctionError::timed_out(self.config.timeout)),
        }
    }

    /// The peak in whole MiB, rounded up as Lambda's report rounds it.
    fn peak_mib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed).div_ceil(1024)
    }
}

fn command(config: &FunctionConfig, api: &RuntimeApi) -> tokio::process::Command {
    let task_root = config
        .executable
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut command = tokio::process::Command::new(&config.executable);
    command
        .env_clear()
        .envs(&config.environment)
        .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
        // Each environment writes a log stream of its own.
        .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name())
        .env("_HANDLER", "bootstrap")
        .env("LAMBDA_TASK_ROOT", &task_root)
        .env("LAMBDA_RUNTIME_DIR", &task_root)
        .env("PATH", LAMBDA_PATH)
        .env("TZ", ":UTC")
        .env("LANG", "en_US.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `2026/12/07/[$LATEST]<32 hex digits>`, as Lambda names a stream.
fn log_stream_name() -> String {
    format!(
        "{}/[$LATEST]{}",
        chrono::Utc::now().format("%Y/%m/%d"),
        uuid::Uuid::new_v4().simple()
    )
}

/// Resolves once the process's memory is over `limit_kib` (its resident
/// set now, or its high-water mark since the last reading). A process that
/// has ended has no memory: its end is told apart.
async fn over_memory(memory: Option<Arc<ProcessMemory>>, limit_kib: u64, peak_kib: Arc<AtomicU64>) {
    loop {
        if let Some(reading) = memory.as_deref().and_then(ProcessMemory::read) {
            peak_kib.fetch_max(reading.peak_kib, Ordering::Relaxed);
            if reading.resident_kib > limit_kib || reading.peak_kib > limit_kib {
                return;
            }
        }
        tokio::time::sleep(MEMORY_POLL).await;
    }
}

async fn forward_lines(stream: impl AsyncRead + Unpin, log: LogSink) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log(&line);
    }
}

/// A process's end as Lambda's runtime interface words it (Go's
/// `ExitError` strings): `exit status 1`, `signal: killed`.
fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!(
            "signal: {}",
            match signal {
                6 => "aborted",
                9 => "killed",
                11 => "segmentation fault",
                15 => "terminated",
                _ => return format!("signal: {signal}"),
            }
        ),
        (None, None) => status.to_string(),
    }
}
