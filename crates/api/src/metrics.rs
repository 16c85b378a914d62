//! Custom metrics in CloudWatch Embedded Metric Format: one JSON line on
//! standard output, which CloudWatch Logs turns into metrics. Off Lambda
//! (the local runtime, tests, benchmarks) the same documents go to `tracing`
//! instead, where they do not mix with what the terminal shows.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Where the documents go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Standard output, which CloudWatch Logs reads in Lambda.
    Stdout,
    /// `debug` events of the `metrics` target.
    Tracing,
}

#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    function_name: String,
    cold: AtomicBool,
    sink: Sink,
}

impl Metrics {
    /// Metrics on standard output, for Lambda. `function_name` is the
    /// dimension; Lambda's own name wins when set.
    pub fn new(namespace: impl Into<String>, function_name: &str) -> Self {
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| function_name.to_owned());
        Self {
            namespace: namespace.into(),
            function_name,
            cold: AtomicBool::new(true),
            sink: Sink::Stdout,
        }
    }

    /// The same documents as `debug` events of the `metrics` target
    /// (`RUST_LOG=metrics=debug` shows them).
    pub fn traced(namespace: impl Into<String>, function_name: &str) -> Self {
        Self::to(Sink::Tracing, namespace, function_name)
    }

    pub fn to(sink: Sink, namespace: impl Into<String>, function_name: &str) -> Self {
        Self {
            sink,
            ..Self::new(namespace, function_name)
        }
    }

    /// `ColdStart` = 1 on the first invocation of this instance only.
    pub fn cold_start(&self) {
        if self.cold.swap(false, Ordering::Relaxed) {
            self.emit(&[("ColdStart", 1.0, Unit::Count)]);
        }
    }

    pub fn emit(&self, values: &[(&str, f64, Unit)]) {
        let line = self.document(values, chrono::Utc::now().timestamp_millis());
        match self.sink {
            Sink::Stdout => {
                // One write per line so concurrent invocations do not interleave.
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            Sink::Tracing => tracing::debug!(target: "metrics", emf = %line),
        }
    }

    fn document(&self, values: &[(&str, f64, Unit)], timestamp_ms: i64) -> Value {
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit.as_str() }))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }]
            }),
        );
        root.insert("FunctionName".into(), json!(self.function_name));
        for (name, value, _) in values {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let metrics = Metrics {
            namespace: "FaceRegistry".into(),
            function_name: "indexer".into(),
            cold: AtomicBool::new(true),
            sink: Sink::Stdout,
        };
        let doc = metrics.document(
            &[
                ("PhotosIndexed", 2.0, Unit::Count),
                ("IndexingDuration", 12.5, Unit::Milliseconds),
            ],
            1700000000000,
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1700000000000i64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "FaceRegistry");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "IndexingDuration", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["FunctionName"], "indexer");
        assert_eq!(doc["PhotosIndexed"], 2.0);
    }

    #[test]
    fn cold_start_is_counted_once() {
        let metrics = Metrics::traced("FaceRegistry", "health");
        assert_eq!(metrics.sink, Sink::Tracing);
        metrics.cold_start();
        assert!(!metrics.cold.load(Ordering::Relaxed));
    }
}
