//! A function's custom metrics, recorded in-process. In Lambda each
//! function is a process whose `metrics` recorder is
//! `metrics_cloudwatch_embedded`'s collector, which writes an EMF document
//! to standard output after each invocation. Here every function shares
//! one process, so each gets a recorder of its own, made current while its
//! invocation is polled (`metrics::with_local_recorder`), and flushed as
//! the collector flushes: counters sent when they moved since the last
//! flush, gauges every time, histograms with the values recorded since;
//! the units those `describe_*` gave; the namespace and the `FunctionName`
//! dimension the function's configuration names. The document then goes
//! where the function's log line would: to the local CloudWatch.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::{Map, Value, json};

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(value);
    }
}

#[derive(Default)]
struct Registered {
    counters: BTreeMap<String, Arc<AtomicU64>>,
    gauges: BTreeMap<String, Arc<AtomicU64>>,
    histograms: BTreeMap<String, Arc<Samples>>,
    units: BTreeMap<String, Unit>,
}

pub struct FunctionRecorder {
    namespace: String,
    function_name: String,
    registered: Mutex<Registered>,
}

impl FunctionRecorder {
    pub fn new(namespace: &str, function_name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            function_name: function_name.to_owned(),
            registered: Mutex::new(Registered::default()),
        }
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.registered.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `future` with this recorder as the one its metrics go to.
    pub fn recording<F: Future>(self: &Arc<Self>, future: F) -> Recording<F> {
        Recording {
            recorder: Arc::clone(self),
            future: Box::pin(future),
        }
    }

    /// Runs `f` with this recorder current (the handlers' `describe_*`).
    pub fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self, f)
    }

    /// The EMF document of what was recorded since the last flush, if any.
    pub fn flush(&self, timestamp_ms: i64) -> Option<String> {
        let registered = self.registered();
        let mut definitions = Vec::new();
        let mut root = Map::new();
        let mut add = |name: &str, value: Value| {
            let mut definition = json!({ "Name": name });
            if let Some(unit) = registered.units.get(name) {
                definition["Unit"] = json!(emf_unit(*unit));
            }
            definitions.push(definition);
            root.insert(name.to_owned(), value);
        };
        for (name, counter) in &registered.counters {
            let value = counter.swap(0, Ordering::Relaxed);
            if value != 0 {
                add(name, json!(value));
            }
        }
        for (name, gauge) in &registered.gauges {
            add(name, json!(f64::from_bits(gauge.load(Ordering::Relaxed))));
        }
        for (name, samples) in &registered.histograms {
            let values = std::mem::take(&mut *samples.0.lock().unwrap_or_else(|e| e.into_inner()));
            if !values.is_empty() {
                add(name, json!(values));
            }
        }
        if definitions.is_empty() {
            return None;
        }
        root.insert("FunctionName".into(), json!(self.function_name));
        root.insert(
            "_aws".into(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                "Namespace": self.namespace, "Dimensions": [["FunctionName"]], "Metrics": definitions
            }]}),
        );
        Some(Value::Object(root).to_string())
    }

    /// The one-metric document a new instance writes (`ColdStart`, as the
    /// collector's `write_single`).
    pub fn single(&self, name: &str, unit: &str, value: u64, timestamp_ms: i64) -> String {
        json!({
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                "Namespace": self.namespace, "Dimensions": [["FunctionName"]],
                "Metrics": [{"Name": name, "Unit": unit}]}]},
            "FunctionName": self.function_name,
            name: value,
        })
        .to_string()
    }
}

/// `metrics::Unit` as the collector names it in EMF (its `unit_to_str`,
/// nanoseconds included, which CloudWatch does not know).
fn emf_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Nanoseconds => "Nanoseconds",
        Unit::Tebibytes => "Terabytes",
        Unit::Gibibytes => "Gigabytes",
        Unit::Mebibytes => "Megabytes",
        Unit::Kibibytes => "Kilobytes",
        Unit::Bytes => "Bytes",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::CountPerSecond => "Count/Second",
    }
}

impl Recorder for FunctionRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut registered = self.registered();
        Counter::from_arc(Arc::clone(
            registered
                .counters
                .entry(key.name().to_owned())
                .or_default(),
        ))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut registered = self.registered();
        Gauge::from_arc(Arc::clone(
            registered.gauges.entry(key.name().to_owned()).or_default(),
        ))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut registered = self.registered();
        Histogram::from_arc(Arc::clone(
            registered
                .histograms
                .entry(key.name().to_owned())
                .or_default(),
        ))
    }
}

impl FunctionRecorder {
    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            self.registered()
                .units
                .insert(key.as_str().to_owned(), unit);
        }
    }
}

/// A future polled with its function's recorder current.
pub struct Recording<F: Future> {
    recorder: Arc<FunctionRecorder>,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Recording<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let recorder = Arc::clone(&this.recorder);
        metrics::with_local_recorder(&*recorder, || this.future.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flushes_as_the_lambda_collector_does() {
        let recorder = Arc::new(FunctionRecorder::new("FaceRegistry", "dev-indexer"));
        recorder.with(|| {
            metrics::describe_counter!("PhotosIndexed", Unit::Count, "");
            metrics::describe_histogram!("IndexingDuration", Unit::Milliseconds, "");
        });
        recorder
            .recording(async {
                metrics::counter!("PhotosIndexed").increment(2);
                tokio::task::yield_now().await;
                metrics::histogram!("IndexingDuration").record(12.5);
                metrics::gauge!("ReconcileDrift").set(0.0);
            })
            .await;
        let document = recorder.flush(1_000).expect("something recorded");
        let data = local_cloudwatch::emf::parse(&document).expect("valid EMF");
        let found: Vec<(&str, f64, &str)> = data
            .iter()
            .map(|d| (d.metric.name.as_str(), d.value, d.unit.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("PhotosIndexed", 2.0, "Count"),
                ("ReconcileDrift", 0.0, "None"),
                ("IndexingDuration", 12.5, "Milliseconds")
            ]
        );
        assert!(
            data.iter()
                .all(|d| d.metric.dimensions["FunctionName"] == "dev-indexer")
        );
        // Counters that did not move are left out; gauges are sent again.
        let next = recorder.flush(2_000).expect("the gauge");
        assert!(!next.contains("PhotosIndexed") && next.contains("ReconcileDrift"));
    }
}
