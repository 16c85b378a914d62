//! What CloudWatch stores: a metric is its namespace, name and dimensions
//! (all three are its identity; a datum sent with one dimension more is
//! another metric), and each datum has a time, a value and a unit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A metric's identity, as `GetMetricData` and alarms name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

impl MetricId {
    pub fn new<const N: usize>(namespace: &str, name: &str, dimensions: [(&str, &str); N]) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: dimensions
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

impl std::fmt::Display for MetricId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.namespace, self.name)?;
        let dimensions: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, " {{{}}}", dimensions.join(", "))
    }
}

/// One value of a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datum {
    pub metric: MetricId,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    pub value: f64,
    /// CloudWatch's unit name (`Count`, `Milliseconds`, `Seconds`, `Percent`,
    /// `None`, ...): an alarm that names a unit sees only data of that unit.
    pub unit: String,
}

/// The units `PutMetricData` and EMF accept (`MetricDatum.Unit`).
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];
