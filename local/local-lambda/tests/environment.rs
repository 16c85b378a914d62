//! Execution environments of a real Runtime API client (the fixture
//! function, `examples/fixture-function.rs`): warm reuse, the report, and
//! the limits that end an environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use local_lambda::{ExecutionEnvironment, FunctionConfig, Invocation};
use serde_json::{Value, json};

/// The fixture, which `cargo test` builds beside this test's binary.
fn fixture() -> PathBuf {
    let exe = std::env::current_exe().expect("this test");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("examples/fixture-function")
}

struct Function {
    config: Arc<FunctionConfig>,
    logs: Arc<Mutex<Vec<String>>>,
}

fn function(memory_mb: u64, timeout: Duration, init: Option<&str>) -> Function {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&logs);
    // What Lambda sets for every function (the Runtime API's own apart).
    let mut environment: BTreeMap<String, String> = [
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "fixture".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fixture".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(init) = init {
        environment.insert("FIXTURE_INIT".into(), init.into());
    }
    Function {
        config: Arc::new(FunctionConfig {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:fixture".into(),
            executable: fixture(),
            environment,
            memory_mb,
            timeout,
            log: Arc::new(move |line| sink.lock().unwrap().push(line.to_owned())),
        }),
        logs,
    }
}

async fn start(function: &Function) -> ExecutionEnvironment {
    ExecutionEnvironment::start(Arc::clone(&function.config), "cold")
        .await
        .map_err(|failed| failed.outcome)
        .expect("started")
}

async fn invoke(environment: &mut ExecutionEnvironment, id: &str, event: Value) -> Invocation {
    environment.invoke(id, Bytes::from(event.to_string())).await
}

fn answer(invocation: &Invocation) -> Value {
    let body = invocation.outcome.as_ref().expect("an answer");
    serde_json::from_slice(body).expect("JSON")
}

#[tokio::test]
async fn a_warm_environment_serves_the_next_event_and_reports_its_init_once() {
    let function = function(128, Duration::from_secs(5), None);
    let mut environment = start(&function).await;
    let pid = environment.pid();

    let first = invoke(&mut environment, "r-1", json!({"n": 1})).await;
    assert_eq!(answer(&first)["echo"], json!({"n": 1}));
    assert_eq!(answer(&first)["request_id"], "r-1");
    assert_eq!(answer(&first)["memory"], "128");
    assert!(first.report.init_duration.is_some());
    assert!(first.report.max_memory_used_mb > 0);
    assert!(
        first
            .report
            .to_string()
            .starts_with("REPORT RequestId: r-1\tDuration: ")
    );

    let second = invoke(&mut environment, "r-2", json!({"n": 2})).await;
    assert_eq!(answer(&second)["request_id"], "r-2");
    assert_eq!(second.report.init_duration, None);
    assert_eq!(environment.pid(), pid, "the same process");
    assert!(environment.is_alive());

    let logs = function.logs.lock().unwrap().clone();
    assert!(logs.contains(&"init done".to_owned()), "{logs:?}");
    assert!(logs.contains(&"handled r-2".to_owned()), "{logs:?}");
}

#[tokio::test]
async fn a_handler_error_is_the_invocation_error_and_the_environment_stays() {
    let function = function(128, Duration::from_secs(5), None);
    let mut environment = start(&function).await;
    let failed = invoke(&mut environment, "r-1", json!({"fail": "no such person"})).await;
    let error = failed.outcome.expect_err("an error");
    assert_eq!(error.message, "no such person");
    assert!(!error.error_type.is_empty());
    assert_eq!(failed.report.error_type, None);
    assert!(environment.is_alive());
    assert!(
        invoke(&mut environment, "r-2", json!({}))
            .await
            .outcome
            .is_ok()
    );
}

#[tokio::test]
async fn more_memory_than_its_size_ends_the_environment_as_lambda_does() {
    let function = function(128, Duration::from_secs(10), None);
    let mut environment = start(&function).await;
    let within = invoke(&mut environment, "r-1", json!({"allocate_mib": 48})).await;
    assert!(within.outcome.is_ok());
    assert!(within.report.max_memory_used_mb >= 48, "{}", within.report);

    let over = invoke(
        &mut environment,
        "r-2",
        json!({"allocate_mib": 200, "sleep_ms": 2000}),
    )
    .await;
    let error = over.outcome.expect_err("killed");
    assert_eq!(error.error_type, "Runtime.OutOfMemory");
    assert_eq!(
        error.message,
        "RequestId: r-2 Error: Runtime exited with error: signal: killed"
    );
    assert_eq!(over.report.max_memory_used_mb, 128);
    assert!(
        over.report
            .to_string()
            .ends_with("Status: error\tError Type: Runtime.OutOfMemory")
    );
    assert!(!environment.is_alive());
}

#[tokio::test]
async fn past_its_timeout_the_environment_is_ended() {
    let function = function(128, Duration::from_secs(1), None);
    let mut environment = start(&function).await;
    let slow = invoke(&mut environment, "r-1", json!({"sleep_ms": 5000})).await;
    let error = slow.outcome.expect_err("timed out");
    assert_eq!(error.error_type, "Sandbox.Timedout");
    assert_eq!(error.message, "Task timed out after 1.00 seconds");
    assert!(!environment.is_alive());
}

#[tokio::test]
async fn a_process_that_exits_fails_its_invocation_or_its_init() {
    let function = function(128, Duration::from_secs(5), None);
    let mut environment = start(&function).await;
    let exited = invoke(&mut environment, "r-1", json!({"exit": 7})).await;
    let error = exited.outcome.expect_err("exited");
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert_eq!(
        error.message,
        "RequestId: r-1 Error: Runtime exited with error: exit status 7"
    );
    assert!(!environment.is_alive());

    let failing = self::function(128, Duration::from_secs(5), Some("exit"));
    let failed = ExecutionEnvironment::start(Arc::clone(&failing.config), "cold")
        .await
        .err()
        .expect("init failed");
    let error = failed.outcome.expect_err("an error");
    assert_eq!(
        error.message,
        "RequestId: cold Error: Runtime exited with error: exit status 3"
    );
    assert!(failed.report.init_duration.is_some());

    let hungry = self::function(128, Duration::from_secs(5), Some("allocate"));
    let failed = ExecutionEnvironment::start(Arc::clone(&hungry.config), "cold")
        .await
        .err()
        .expect("init over memory");
    assert_eq!(
        failed.outcome.expect_err("an error").error_type,
        "Runtime.OutOfMemory"
    );
}

#[tokio::test]
async fn a_missing_binary_is_an_invalid_entrypoint() {
    let mut function = function(128, Duration::from_secs(5), None);
    Arc::get_mut(&mut function.config)
        .expect("one owner")
        .executable = PathBuf::from("/nonexistent/bootstrap");
    let failed = ExecutionEnvironment::start(Arc::clone(&function.config), "cold")
        .await
        .err()
        .expect("no binary");
    assert_eq!(
        failed.outcome.expect_err("an error").error_type,
        "Runtime.InvalidEntrypoint"
    );
}
