//! The metrics received, kept in memory and appended to a file (a JSON
//! line per datum), so that the dashboard shows the last runs' figures
//! after the stack has stopped. CloudWatch keeps minute data for 15 days;
//! here a day is read back.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::metric::{Datum, MetricId};

const KEPT_MS: i64 = 24 * 3600 * 1000;
/// How much older than a day the oldest datum may get before the old ones
/// are dropped from memory (in one pass, not at every datum).
const PRUNE_AFTER_MS: i64 = 3600 * 1000;

#[derive(Debug, Default)]
pub struct MetricStore {
    data: Mutex<Vec<Datum>>,
    file: Option<PathBuf>,
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
        let mut data = Vec::new();
        let mut dropped = false;
        if let Ok(file) = std::fs::File::open(path) {
            for line in std::io::BufReader::new(file).lines() {
                match serde_json::from_str::<Datum>(&line?) {
                    Ok(datum) if now_ms - datum.timestamp_ms < KEPT_MS => data.push(datum),
                    _ => dropped = true,
                }
            }
        }
        // Older data dropped from the file too (only then is it rewritten:
        // `make invoke` may be appending to it beside `make dev`).
        if dropped {
            let mut text = String::new();
            for datum in &data {
                text.push_str(&serde_json::to_string(datum).unwrap_or_default());
                text.push('\n');
            }
            std::fs::write(path, text)?;
        }
        Ok(Self {
            data: Mutex::new(data),
            file: Some(path.to_owned()),
        })
    }

    pub fn put(&self, data: Vec<Datum>) {
        if data.is_empty() {
            return;
        }
        let mut kept = self.data.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.file {
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut file| {
                    let mut text = String::new();
                    for datum in &data {
                        text.push_str(&serde_json::to_string(datum).unwrap_or_default());
                        text.push('\n');
                    }
                    file.write_all(text.as_bytes())
                });
            if let Err(error) = appended {
                tracing::warn!(path = %path.display(), %error, "metrics not kept on disk");
            }
        }
        kept.extend(data);
        // A long run keeps a day in memory, not everything since it began
        // (data arrive in time order, the oldest first).
        let now_ms = kept.last().map_or(0, |d| d.timestamp_ms);
        if kept
            .first()
            .is_some_and(|d| now_ms - d.timestamp_ms > KEPT_MS + PRUNE_AFTER_MS)
        {
            kept.retain(|d| now_ms - d.timestamp_ms < KEPT_MS);
        }
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
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        data.iter()
            .filter(|d| &d.metric == metric && (from_ms..to_ms).contains(&d.timestamp_ms))
            .filter(|d| unit.is_none_or(|u| d.unit == u))
            .map(|d| d.value)
            .collect()
    }

    /// Every metric received, with each unit it came in.
    pub fn metrics(&self) -> BTreeSet<(MetricId, String)> {
        let data = self.data.lock().unwrap_or_else(|e| e.into_inner());
        data.iter()
            .map(|d| (d.metric.clone(), d.unit.clone()))
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
