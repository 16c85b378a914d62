//! The metrics received, kept in memory by metric and appended to a file
//! (a JSON line per datum), so that the dashboard shows the last runs'
//! figures after the stack has stopped. CloudWatch keeps minute data for
//! 15 days; here a day is read back.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::metric::{Datum, MetricId};

const KEPT_MS: i64 = 24 * 3600 * 1000;
/// How much older than a day a metric's oldest datum may get before its
/// old data are dropped from memory (in one pass, not at every datum).
const PRUNE_AFTER_MS: i64 = 3600 * 1000;

/// One datum of a metric.
#[derive(Debug, Clone)]
struct Sample {
    timestamp_ms: i64,
    value: f64,
    unit: String,
}

#[derive(Debug, Default)]
pub struct MetricStore {
    /// Each metric's data, in the order they came (time order).
    data: Mutex<BTreeMap<MetricId, Vec<Sample>>>,
    /// The file the data are appended to, open while the store is.
    file: Option<(PathBuf, Mutex<File>)>,
}

/// `data` as JSON lines.
fn lines<'a>(data: impl IntoIterator<Item = &'a Datum>) -> String {
    let mut text = String::new();
    for datum in data {
        text.push_str(&serde_json::to_string(datum).unwrap_or_default());
        text.push('\n');
    }
    text
}

impl MetricStore {
    /// A store that keeps nothing on disk.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A store kept in `path`, with the last day's data read back.
    pub fn open(path: &Path, now_ms: i64) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut kept = Vec::new();
        let mut dropped = false;
        if let Ok(file) = File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                match serde_json::from_str::<Datum>(&line?) {
                    Ok(datum) if now_ms - datum.timestamp_ms < KEPT_MS => kept.push(datum),
                    _ => dropped = true,
                }
            }
        }
        // Older data dropped from the file too (only then is it rewritten:
        // `make invoke` may be appending to it beside `make dev`).
        if dropped {
            std::fs::write(path, lines(&kept))?;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)?;
        let store = Self {
            data: Mutex::default(),
            file: Some((path.to_owned(), Mutex::new(file))),
        };
        store.keep(kept);
        Ok(store)
    }

    pub fn put(&self, data: Vec<Datum>) {
        if data.is_empty() {
            return;
        }
        if let Some((path, file)) = &self.file {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(error) = file.write_all(lines(&data).as_bytes()) {
                tracing::warn!(path = %path.display(), %error, "metrics not kept on disk");
            }
        }
        self.keep(data);
    }

    /// Keeps `data` in memory; a long run keeps a day, not everything
    /// since it began.
    fn keep(&self, data: Vec<Datum>) {
        let mut kept = self.data.lock().unwrap_or_else(|e| e.into_inner());
        for datum in data {
            let samples = kept.entry(datum.metric).or_default();
            let now_ms = datum.timestamp_ms;
            if samples
                .first()
                .is_some_and(|s| now_ms - s.timestamp_ms > KEPT_MS + PRUNE_AFTER_MS)
            {
                samples.retain(|s| now_ms - s.timestamp_ms < KEPT_MS);
            }
            samples.push(Sample {
                timestamp_ms: datum.timestamp_ms,
                value: datum.value,
                unit: datum.unit,
            });
        }
    }

    /// The data of `metric` in `[from_ms, to_ms)`, of `unit` when one is
    /// named: (time, value).
    pub fn samples(
        &self,
        metric: &MetricId,
        unit: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<(i64, f64)> {
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        data.get(metric)
            .into_iter()
            .flatten()
            .filter(|s| (from_ms..to_ms).contains(&s.timestamp_ms))
            .filter(|s| unit.is_none_or(|u| s.unit == u))
            .map(|s| (s.timestamp_ms, s.value))
            .collect()
    }

    /// The values of `metric` in `[from_ms, to_ms)`, of `unit` when one is
    /// named.
    pub fn values(
        &self,
        metric: &MetricId,
        unit: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<f64> {
        self.samples(metric, unit, from_ms, to_ms)
            .into_iter()
            .map(|(_, value)| value)
            .collect()
    }

    /// Every metric received, with each unit it came in.
    pub fn metrics(&self) -> BTreeSet<(MetricId, String)> {
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        data.iter()
            .flat_map(|(metric, samples)| samples.iter().map(|s| (metric.clone(), s.unit.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(value: f64, timestamp_ms: i64) -> Datum {
        Datum {
            metric: MetricId::new("AWS/Lambda", "Errors", [("FunctionName", "f")]),
            timestamp_ms,
            value,
            unit: "Count".into(),
        }
    }

    #[test]
    fn keeps_the_last_day_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("metrics.jsonl");
        let now = 10 * KEPT_MS;
        let store = MetricStore::open(&path, now).expect("open");
        store.put(vec![datum(1.0, now - KEPT_MS - 1), datum(2.0, now - 5)]);
        let metric = datum(0.0, 0).metric;
        assert_eq!(store.values(&metric, None, 0, now).len(), 2);
        assert_eq!(
            store.values(&metric, Some("Seconds"), 0, now),
            Vec::<f64>::new()
        );
        let reopened = MetricStore::open(&path, now).expect("reopen");
        assert_eq!(reopened.values(&metric, Some("Count"), 0, now), [2.0]);
        // A day and more later, memory holds the last day only.
        let later = now + KEPT_MS + PRUNE_AFTER_MS + 1;
        reopened.put(vec![datum(3.0, later)]);
        assert_eq!(reopened.values(&metric, None, 0, later + 1), [3.0]);
    }
}
