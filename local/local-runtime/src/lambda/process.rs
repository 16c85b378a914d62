//! A function run as Lambda runs it: its own binary in execution
//! environments (`local_lambda`), started on a cold start, reused while
//! warm, one invocation at a time each, as many as invocations run at
//! once. Its output is its log: EMF documents become metrics, every line is
//! logged under the function's name, and so is each invocation's REPORT.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use local_cloudwatch::CloudWatch;
use local_lambda::{ExecutionEnvironment, FunctionConfig, Report};
use serde_json::Value;
use tokio::sync::Mutex;

use super::FunctionError;
use crate::vpc_proxy::VpcProxy;

/// The reports kept per function (the latest), for benchmarks and tests.
const REPORTS_KEPT: usize = 1000;

/// A function's binary and its warm environments.
pub(super) struct Processes {
    pub(super) executable: PathBuf,
    /// Its VPC, which its requests pass through.
    proxy: VpcProxy,
    idle: Mutex<Vec<ExecutionEnvironment>>,
    reports: std::sync::Mutex<VecDeque<Report>>,
    /// Read once, when a version is published.
    code_sha256: std::sync::OnceLock<String>,
}

impl Processes {
    pub(super) fn new(executable: PathBuf, proxy: VpcProxy) -> Self {
        Self {
            executable,
            proxy,
            idle: Mutex::new(Vec::new()),
            reports: std::sync::Mutex::new(VecDeque::new()),
            code_sha256: std::sync::OnceLock::new(),
        }
    }

    /// The binary's SHA-256 (Lambda's `CodeSha256`).
    pub(super) fn code_sha256(&self) -> std::io::Result<String> {
        if let Some(digest) = self.code_sha256.get() {
            return Ok(digest.clone());
        }
        let digest = crate::build::sha256_of(&self.executable)?;
        Ok(self.code_sha256.get_or_init(|| digest).clone())
    }

    /// What an environment of `function` starts with: its variables, and
    /// its network as the proxy of its HTTP clients.
    pub(super) fn config(
        &self,
        function: &super::LocalFunction,
        cloudwatch: Arc<CloudWatch>,
    ) -> Arc<FunctionConfig> {
        let mut environment = function.environment();
        for name in ["HTTP_PROXY", "http_proxy"] {
            environment.insert(name.to_owned(), self.proxy.url());
        }
        let logical_id = function.spec.logical_id.clone();
        Arc::new(FunctionConfig {
            arn: function.spec.arn.clone(),
            executable: self.executable.clone(),
            environment,
            memory_mb: u64::from(function.spec.memory_mb),
            timeout: function.spec.timeout,
            log: Arc::new(move |line| log_line(&cloudwatch, &logical_id, line)),
        })
    }

    /// One invocation in a warm environment, or a new one; the answer and
    /// the handler's duration.
    pub(super) async fn invoke(
        &self,
        config: impl FnOnce() -> Arc<FunctionConfig>,
        logical_id: &str,
        payload: &Value,
        request_id: &str,
    ) -> (Result<Value, FunctionError>, std::time::Duration) {
        // A warm environment whose process ended meanwhile is gone.
        let warm = {
            let mut idle = self.idle.lock().await;
            idle.retain(ExecutionEnvironment::is_alive);
            idle.pop()
        };
        let mut environment = match warm {
            Some(environment) => environment,
            None => match ExecutionEnvironment::start(config(), request_id).await {
                Ok(environment) => environment,
                Err(failed) => {
                    self.keep(logical_id, failed.report);
                    return (
                        failed.outcome.map(|_| Value::Null),
                        std::time::Duration::ZERO,
                    );
                }
            },
        };
        let invocation = environment
            .invoke(request_id, Bytes::from(payload.to_string()))
            .await;
        if environment.is_alive() {
            self.idle.lock().await.push(environment);
        }
        let duration = invocation.report.duration;
        self.keep(logical_id, invocation.report);
        let answer = invocation.outcome.map(|body| {
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        });
        (answer, duration)
    }

    fn keep(&self, logical_id: &str, report: Report) {
        tracing::info!(function = %logical_id, "{report}");
        let mut reports = self
            .reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if reports.len() == REPORTS_KEPT {
            reports.pop_front();
        }
        reports.push_back(report);
    }

    /// The latest invocations' reports, oldest first.
    pub(super) fn reports(&self) -> Vec<Report> {
        self.reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Ends every warm environment.
    pub(super) async fn end_all(&self) {
        self.idle.lock().await.clear();
    }
}

/// A line of a function's log: an EMF document becomes metrics; every line
/// is logged under the function's name.
fn log_line(cloudwatch: &CloudWatch, logical_id: &str, line: &str) {
    match cloudwatch.put_log_line(line) {
        Some(Ok(_)) => {}
        Some(Err(error)) => {
            tracing::warn!(function = %logical_id, %error, "an EMF document CloudWatch would not read");
        }
        None => tracing::info!(function = %logical_id, "{line}"),
    }
}
