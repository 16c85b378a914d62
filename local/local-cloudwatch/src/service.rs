//! The local CloudWatch of one stack: its metrics, its alarms with their
//! states, its dashboards, and what the runtime cannot measure.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::alarm::{AlarmState, MetricAlarm};
use crate::dashboard::{Dashboard, Series, WidgetContent};
use crate::emf::{self, EmfError};
use crate::metric::{Datum, MetricId};
use crate::store::MetricStore;

/// A metric AWS publishes that nothing here can stand for, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unmeasured {
    pub namespace: &'static str,
    pub name: &'static str,
    pub reason: &'static str,
}

/// An alarm's state, as `DescribeAlarms` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmStatus {
    pub alarm: MetricAlarm,
    pub state: AlarmState,
    pub reason: String,
    pub updated_ms: i64,
    /// Each period's statistic at the last evaluation, newest first.
    pub datapoints: Vec<Option<f64>>,
}

pub struct CloudWatch {
    pub store: MetricStore,
    alarms: Mutex<BTreeMap<String, AlarmStatus>>,
    dashboards: Vec<Dashboard>,
    unmeasured: Vec<Unmeasured>,
}

impl CloudWatch {
    /// Alarms start as CloudWatch creates them: `INSUFFICIENT_DATA`.
    pub fn new(
        store: MetricStore,
        alarms: Vec<MetricAlarm>,
        dashboards: Vec<Dashboard>,
        unmeasured: Vec<Unmeasured>,
        now_ms: i64,
    ) -> Self {
        let alarms = alarms
            .into_iter()
            .map(|alarm| {
                let status = AlarmStatus {
                    state: AlarmState::InsufficientData,
                    reason: "Unchecked: Initial alarm creation".into(),
                    updated_ms: now_ms,
                    datapoints: Vec::new(),
                    alarm,
                };
                (status.alarm.name.clone(), status)
            })
            .collect();
        Self {
            store,
            alarms: Mutex::new(alarms),
            dashboards,
            unmeasured,
        }
    }

    pub fn put(&self, data: Vec<Datum>) {
        self.store.put(data);
    }

    /// A function's log line: an EMF document becomes metrics (how many
    /// values it carried); another line is left alone (`None`).
    pub fn put_log_line(&self, line: &str) -> Option<Result<usize, EmfError>> {
        if !emf::is_emf(line) {
            return None;
        }
        Some(emf::parse(line).map(|data| {
            let count = data.len();
            self.put(data);
            count
        }))
    }

    /// Evaluates every alarm at `now_ms`, as CloudWatch does each minute;
    /// a change of state is logged.
    pub fn evaluate_alarms(&self, now_ms: i64) -> Vec<AlarmStatus> {
        let mut alarms = self.alarms.lock().unwrap_or_else(|e| e.into_inner());
        for status in alarms.values_mut() {
            let alarm = &status.alarm;
            let datapoints = alarm
                .periods(now_ms)
                .into_iter()
                .map(|(from, to)| {
                    let values = self
                        .store
                        .values(&alarm.metric, alarm.unit.as_deref(), from, to);
                    alarm.statistic.of(&values)
                })
                .collect();
            let evaluation = alarm.evaluate(datapoints, status.state);
            if evaluation.state != status.state {
                // Into or out of ALARM is news; the first evaluations of a
                // new stack (INSUFFICIENT_DATA to OK) are not.
                if AlarmState::Alarm == evaluation.state || AlarmState::Alarm == status.state {
                    tracing::info!(alarm = %alarm.name, from = status.state.as_str(), to = evaluation.state.as_str(), reason = %evaluation.reason, "alarm state changed");
                } else {
                    tracing::debug!(alarm = %alarm.name, to = evaluation.state.as_str(), "alarm state changed");
                }
                status.state = evaluation.state;
                status.updated_ms = now_ms;
            }
            status.reason = evaluation.reason;
            status.datapoints = evaluation.datapoints;
        }
        alarms.values().cloned().collect()
    }

    /// The alarms' states at their last evaluation.
    pub fn alarms(&self) -> Vec<AlarmStatus> {
        let alarms = self.alarms.lock().unwrap_or_else(|e| e.into_inner());
        alarms.values().cloned().collect()
    }

    pub fn dashboards(&self) -> &[Dashboard] {
        &self.dashboards
    }

    pub fn unmeasured(&self) -> &[Unmeasured] {
        &self.unmeasured
    }

    /// Why `metric` has no data here, when it is one of those.
    pub fn why_unmeasured(&self, metric: &MetricId) -> Option<&'static str> {
        self.unmeasured
            .iter()
            .find(|u| u.namespace == metric.namespace && u.name == metric.name)
            .map(|u| u.reason)
    }

    /// What the alarms and the dashboards read that no datum has come for
    /// (of the unit an alarm names), leaving out what cannot be measured
    /// here: one line each, naming the reader. An alarm on a metric nobody
    /// sends never fires; a graph of one stays empty.
    pub fn silent_metrics(&self) -> Vec<String> {
        let received = self.store.metrics();
        let has_data = |metric: &MetricId, unit: Option<&str>| {
            received
                .iter()
                .any(|(m, u)| m == metric && unit.is_none_or(|unit| u == unit))
        };
        let mut silent = Vec::new();
        for status in self.alarms() {
            let alarm = &status.alarm;
            if !has_data(&alarm.metric, alarm.unit.as_deref())
                && self.why_unmeasured(&alarm.metric).is_none()
            {
                let unit = alarm
                    .unit
                    .as_deref()
                    .map(|u| format!(" in {u}"))
                    .unwrap_or_default();
                silent.push(format!("alarm {} reads {}{unit}", alarm.name, alarm.metric));
            }
        }
        for dashboard in &self.dashboards {
            for widget in &dashboard.widgets {
                let WidgetContent::Metrics { series, .. } = &widget.content else {
                    continue;
                };
                for line in series {
                    if !has_data(&line.metric, None) && self.why_unmeasured(&line.metric).is_none()
                    {
                        silent.push(format!(
                            "dashboard {} widget {:?} reads {}",
                            dashboard.name, widget.title, line.metric
                        ));
                    }
                }
            }
        }
        silent
    }

    /// A series' statistic for each of its periods in `[from_ms, to_ms)`
    /// that has data: (period start, value).
    pub fn points(
        &self,
        series: &Series,
        period_s: u32,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<(i64, f64)> {
        let period_ms = i64::from(period_s.max(1)) * 1000;
        let first = from_ms - from_ms.rem_euclid(period_ms);
        // The window's data read once, then put in their periods.
        let mut periods: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for (at, value) in self.store.samples(&series.metric, None, first, to_ms) {
            periods
                .entry(at - at.rem_euclid(period_ms))
                .or_default()
                .push(value);
        }
        periods
            .into_iter()
            .filter_map(|(start, values)| Some((start, series.stat.of(&values)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_what_an_alarm_or_a_widget_reads_that_nobody_sends() {
        let properties = json!({
            "Namespace": "AWS/ApiGateway", "MetricName": "5XXError",
            "Dimensions": [{"Name": "ApiId", "Value": "a1"}], "Statistic": "Sum",
            "Period": 300, "EvaluationPeriods": 1, "Threshold": 5,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold"
        });
        let alarm =
            MetricAlarm::from_properties("api-5xx", "arn:a", properties.as_object().unwrap())
                .expect("valid");
        let dashboard = Dashboard::parse(
            "d",
            r#"{"widgets":[{"type":"metric","properties":{"title":"API","metrics":[["AWS/ApiGateway","5xx","ApiId","a1"],["AWS/RDS","ServerlessDatabaseCapacity","DBClusterIdentifier","c"]]}}]}"#,
        )
        .expect("valid");
        let unmeasured = Unmeasured {
            namespace: "AWS/RDS",
            name: "ServerlessDatabaseCapacity",
            reason: "no ACUs",
        };
        let cloudwatch = CloudWatch::new(
            MetricStore::in_memory(),
            vec![alarm],
            vec![dashboard],
            vec![unmeasured],
            0,
        );
        cloudwatch.put(vec![Datum {
            metric: MetricId::new("AWS/ApiGateway", "5xx", [("ApiId", "a1")]),
            timestamp_ms: 1,
            value: 0.0,
            unit: "Count".into(),
        }]);
        // The API publishes `5xx`; `5XXError` is REST APIs' name.
        assert_eq!(
            cloudwatch.silent_metrics(),
            ["alarm api-5xx reads AWS/ApiGateway 5XXError {ApiId=a1}"]
        );
    }
}
