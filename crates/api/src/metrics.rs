//! The functions' custom metrics. Handlers record them through the `metrics`
//! facade; `metrics_cloudwatch_embedded` writes them in CloudWatch Embedded
//! Metric Format: in Lambda on standard output after each invocation (the
//! mains run their handler with its `MetricsLayer`), with the function's
//! name as the `FunctionName` dimension the dashboard and alarms name.
//! Without a collector installed (tests, benchmarks) recording costs
//! nothing and goes nowhere.

use metrics::Unit;
use metrics_cloudwatch_embedded::Builder;

pub use metrics_cloudwatch_embedded::{Collector, Error as MetricsError};

/// Counted once by each new instance, on its first invocation.
pub const COLD_START: &str = "ColdStart";

/// Every metric the handlers record, with its unit.
const METRICS: [(&str, Unit); 21] = [
    (COLD_START, Unit::Count),
    ("UploadUrlsIssued", Unit::Count),
    ("PeopleErased", Unit::Count),
    ("PhotosIndexed", Unit::Count),
    ("PhotosRejected", Unit::Count),
    ("IndexingErrors", Unit::Count),
    ("IndexingDuration", Unit::Milliseconds),
    ("EventsIgnored", Unit::Count),
    ("ReconcileDrift", Unit::Count),
    ("ReconcileRepaired", Unit::Count),
    ("OrphanFacesFound", Unit::Count),
    ("OrphanFacesDeleted", Unit::Count),
    ("UnindexedPhotosFound", Unit::Count),
    ("PhotosRedriven", Unit::Count),
    ("PendingExpired", Unit::Count),
    ("PhotosGone", Unit::Count),
    ("UnfinishedErasuresFound", Unit::Count),
    ("ErasuresFinished", Unit::Count),
    ("UnfinishedMovesFound", Unit::Count),
    ("MovesFinished", Unit::Count),
    ("RetiredFacesDeleted", Unit::Count),
];

/// Installs the process's collector: `namespace`, and `function_name` as
/// the `FunctionName` dimension of every metric. Once per process.
pub fn collector(namespace: &str, function_name: &str) -> Result<&'static Collector, MetricsError> {
    let collector = Builder::new()
        .cloudwatch_namespace(namespace.to_owned())
        .with_dimension("FunctionName", function_name.to_owned())
        .lambda_cold_start_metric(COLD_START)
        .init()?;
    describe();
    Ok(collector)
}

/// Gives the current recorder every metric's unit (the collector writes
/// them in each document).
pub fn describe() {
    for (name, unit) in METRICS {
        if unit == Unit::Milliseconds {
            metrics::describe_histogram!(name, unit, "");
        } else {
            metrics::describe_counter!(name, unit, "");
            metrics::describe_gauge!(name, unit, "");
        }
    }
}

/// Counts `n` of `name`.
pub fn count(name: &'static str, n: u64) {
    metrics::counter!(name).increment(n);
}

/// One duration of `name`, in milliseconds.
pub fn milliseconds(name: &'static str, value: f64) {
    metrics::histogram!(name).record(value);
}

/// What one run measured: sent by every flush that follows, zero included
/// (an alarm on the minimum of a run's figure needs its zeros).
pub fn per_run(name: &'static str, value: u64) {
    metrics::gauge!(name).set(value as f64);
}
