//! Metric alarms (`AWS::CloudWatch::Alarm`), checked as `PutMetricAlarm`
//! checks them when CloudFormation creates one, and evaluated as
//! CloudWatch evaluates them: the statistic of each of the last
//! `EvaluationPeriods` periods compared with the threshold, `ALARM` when
//! `DatapointsToAlarm` of them breach, periods without data treated as
//! `TreatMissingData` says.
//!
//! The periods end at the moment of evaluation: the last `Period` seconds,
//! the `Period` before them, and so on, as an alarm evaluated each minute
//! looks back over its trailing periods (locally without CloudWatch's short
//! wait for late data), so a fault shows as soon as its datum arrives and
//! a burst is never split by a clock boundary.
//! Metric-math alarms and anomaly-detection bands are refused: nothing here
//! evaluates them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::metric::{MetricId, UNITS};
use crate::statistic::Statistic;

/// `PutMetricAlarm`'s limits: periods of 10, 20 or 30 s (high resolution)
/// or whole minutes; `Period` × `EvaluationPeriods` at most a day when the
/// period is under an hour, seven days otherwise.
const HIGH_RESOLUTION_PERIODS: [u32; 3] = [10, 20, 30];
const MAX_RANGE_SHORT_PERIODS_S: u32 = 86_400;
const MAX_RANGE_S: u32 = 604_800;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alarm {alarm}: {reason}")]
pub struct AlarmError {
    pub alarm: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => ">=",
            Self::GreaterThanThreshold => ">",
            Self::LessThanThreshold => "<",
            Self::LessThanOrEqualToThreshold => "<=",
        }
    }

    fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MissingData {
    Breaching,
    NotBreaching,
    Ignore,
    Missing,
}

impl MissingData {
    fn as_str(self) -> &'static str {
        match self {
            Self::Breaching => "breaching",
            Self::NotBreaching => "notBreaching",
            Self::Ignore => "ignore",
            Self::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm of the template.
#[derive(Debug, Clone, Serialize)]
pub struct MetricAlarm {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub metric: MetricId,
    /// As the template names it (`Sum`, `p99`).
    pub statistic_name: String,
    #[serde(skip)]
    pub statistic: Statistic,
    pub unit: Option<String>,
    pub period_s: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub missing_data: MissingData,
}

/// What one evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub state: AlarmState,
    pub reason: String,
    /// Each period's statistic, newest first; `None` where no data came.
    pub datapoints: Vec<Option<f64>>,
}

impl MetricAlarm {
    /// The alarm `AlarmName` names, from its resolved properties.
    pub fn from_properties(
        name: &str,
        arn: &str,
        properties: &Map<String, Value>,
    ) -> Result<Self, AlarmError> {
        let invalid = |reason: String| AlarmError {
            alarm: name.to_owned(),
            reason,
        };
        let text = |key: &str| properties.get(key).and_then(Value::as_str);
        let number = |key: &str| -> Result<Option<f64>, AlarmError> {
            properties.get(key).map_or(Ok(None), |v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{key} {v} is not a number")))
            })
        };
        let whole = |key: &str| -> Result<Option<u32>, AlarmError> {
            number(key)?.map_or(Ok(None), |n| {
                (n.fract() == 0.0 && n >= 1.0 && n <= f64::from(u32::MAX))
                    .then_some(Some(n as u32))
                    .ok_or_else(|| {
                        invalid(format!("{key} must be a positive whole number, not {n}"))
                    })
            })
        };
        if properties.contains_key("Metrics") {
            return Err(invalid(
                "metric-math alarms (Metrics) are not evaluated locally".into(),
            ));
        }
        if name.is_empty() || name.len() > 255 {
            return Err(invalid("AlarmName must be 1 to 255 characters".into()));
        }
        let required = |key: &str| {
            text(key)
                .filter(|t| (1..=255).contains(&t.len()))
                .ok_or_else(|| invalid(format!("{key} is required")))
        };
        let metric = MetricId {
            namespace: required("Namespace")?.to_owned(),
            name: required("MetricName")?.to_owned(),
            dimensions: dimensions(properties.get("Dimensions")).map_err(invalid)?,
        };
        let (statistic_name, statistic) =
            statistic(text("Statistic"), text("ExtendedStatistic")).map_err(invalid)?;
        let unit = text("Unit").map(str::to_owned);
        if let Some(unit) = unit.as_ref().filter(|u| !UNITS.contains(&u.as_str())) {
            return Err(invalid(format!("Unit {unit} is not a CloudWatch unit")));
        }
        let period_s = whole("Period")?.ok_or_else(|| invalid("Period is required".into()))?;
        if !HIGH_RESOLUTION_PERIODS.contains(&period_s) && period_s % 60 != 0 {
            return Err(invalid(format!(
                "Period {period_s} must be 10, 20, 30 or a multiple of 60"
            )));
        }
        let evaluation_periods = whole("EvaluationPeriods")?
            .ok_or_else(|| invalid("EvaluationPeriods is required".into()))?;
        let range = u64::from(period_s) * u64::from(evaluation_periods);
        let limit = if period_s < 3600 {
            MAX_RANGE_SHORT_PERIODS_S
        } else {
            MAX_RANGE_S
        };
        if range > u64::from(limit) {
            return Err(invalid(format!(
                "Period × EvaluationPeriods is {range} s; CloudWatch allows {limit} s for this period"
            )));
        }
        let datapoints_to_alarm = whole("DatapointsToAlarm")?.unwrap_or(evaluation_periods);
        if datapoints_to_alarm > evaluation_periods {
            return Err(invalid(format!(
                "DatapointsToAlarm {datapoints_to_alarm} exceeds EvaluationPeriods {evaluation_periods}"
            )));
        }
        let threshold = number("Threshold")?.ok_or_else(|| {
            invalid("Threshold is required (threshold metrics are not evaluated locally)".into())
        })?;
        let comparison = match text("ComparisonOperator") {
            Some("GreaterThanOrEqualToThreshold") => Comparison::GreaterThanOrEqualToThreshold,
            Some("GreaterThanThreshold") => Comparison::GreaterThanThreshold,
            Some("LessThanThreshold") => Comparison::LessThanThreshold,
            Some("LessThanOrEqualToThreshold") => Comparison::LessThanOrEqualToThreshold,
            other => {
                return Err(invalid(format!(
                    "ComparisonOperator {other:?} is not one evaluated here"
                )));
            }
        };
        let missing_data = match text("TreatMissingData").unwrap_or("missing") {
            "breaching" => MissingData::Breaching,
            "notBreaching" => MissingData::NotBreaching,
            "ignore" => MissingData::Ignore,
            "missing" => MissingData::Missing,
            other => {
                return Err(invalid(format!(
                    "TreatMissingData {other} must be breaching, notBreaching, ignore or missing"
                )));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            arn: arn.to_owned(),
            description: text("AlarmDescription").map(str::to_owned),
            metric,
            statistic_name,
            statistic,
            unit,
            period_s,
            evaluation_periods,
            datapoints_to_alarm,
            threshold,
            comparison,
            missing_data,
        })
    }

    /// Each period evaluated at `now_ms`, newest first: the newest ends
    /// with `now_ms` (included).
    pub fn periods(&self, now_ms: i64) -> Vec<(i64, i64)> {
        let period_ms = i64::from(self.period_s) * 1000;
        (0..i64::from(self.evaluation_periods))
            .map(|k| {
                let end = now_ms + 1 - k * period_ms;
                (end - period_ms, end)
            })
            .collect()
    }

    /// The state the periods' statistics give, from `current`.
    pub fn evaluate(&self, datapoints: Vec<Option<f64>>, current: AlarmState) -> Evaluation {
        let present: Vec<f64> = datapoints.iter().flatten().copied().collect();
        let breaching = present
            .iter()
            .filter(|v| self.comparison.breaches(**v, self.threshold))
            .count();
        let missing = datapoints.len() - present.len();
        let bad = breaching
            + match self.missing_data {
                MissingData::Breaching => missing,
                _ => 0,
            };
        let state = if bad >= self.datapoints_to_alarm as usize {
            AlarmState::Alarm
        } else if present.is_empty() {
            match self.missing_data {
                MissingData::Missing => AlarmState::InsufficientData,
                MissingData::Ignore => current,
                MissingData::NotBreaching | MissingData::Breaching => AlarmState::Ok,
            }
        } else {
            AlarmState::Ok
        };
        let shown: Vec<String> = present.iter().map(|v| format!("{v}")).collect();
        let reason = format!(
            "{bad} of the last {} periods breached {} {} {}; {missing} without data (TreatMissingData {}); values [{}]",
            self.evaluation_periods,
            self.statistic_name,
            self.comparison.symbol(),
            self.threshold,
            self.missing_data.as_str(),
            shown.join(", ")
        );
        Evaluation {
            state,
            reason,
            datapoints,
        }
    }
}

fn dimensions(value: Option<&Value>) -> Result<std::collections::BTreeMap<String, String>, String> {
    let items = match value {
        None => return Ok(Default::default()),
        Some(Value::Array(items)) if items.len() <= 30 => items,
        Some(_) => return Err("Dimensions must be a list of at most 30".into()),
    };
    items
        .iter()
        .map(|d| {
            let name = d.get("Name").and_then(Value::as_str);
            let value = d.get("Value").and_then(Value::as_str);
            match (name, value) {
                (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
                    Ok((n.to_owned(), v.to_owned()))
                }
                _ => Err(format!("dimension {d} needs a Name and a non-empty Value")),
            }
        })
        .collect()
}

/// `Statistic` (one of the five) or `ExtendedStatistic` (a percentile),
/// never both.
fn statistic(plain: Option<&str>, extended: Option<&str>) -> Result<(String, Statistic), String> {
    match (plain, extended) {
        (Some(_), Some(_)) => Err("Statistic and ExtendedStatistic exclude each other".into()),
        (None, None) => Err("Statistic or ExtendedStatistic is required".into()),
        (Some(name), None) => match name.parse() {
            Ok(Statistic::Percentile(_)) | Err(_) => Err(format!(
                "Statistic {name} must be SampleCount, Average, Sum, Minimum or Maximum"
            )),
            Ok(statistic) => Ok((name.to_owned(), statistic)),
        },
        (None, Some(name)) => match name.parse() {
            Ok(statistic @ Statistic::Percentile(_)) => Ok((name.to_owned(), statistic)),
            _ => Err(format!(
                "ExtendedStatistic {name} is not a percentile (p0..p100) evaluated here"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alarm(edit: impl FnOnce(&mut Map<String, Value>)) -> Result<MetricAlarm, AlarmError> {
        let mut properties = json!({
            "Namespace": "AWS/Lambda", "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": "dev-upload"}],
            "Statistic": "Sum", "Period": 300, "EvaluationPeriods": 2,
            "Threshold": "1", "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching"
        })
        .as_object()
        .cloned()
        .expect("an object");
        edit(&mut properties);
        MetricAlarm::from_properties("dev-upload-errors", "arn", &properties)
    }

    #[test]
    fn refuses_what_put_metric_alarm_refuses() {
        assert!(alarm(|_| {}).is_ok());
        let refused = |edit: fn(&mut Map<String, Value>), words: &str| {
            let error = alarm(edit).expect_err(words);
            assert!(error.reason.contains(words), "{error}");
        };
        refused(
            |p| {
                p.insert("Period".into(), json!(90));
            },
            "multiple of 60",
        );
        refused(
            |p| {
                p.insert("EvaluationPeriods".into(), json!(300));
            },
            "86400",
        );
        refused(
            |p| {
                p.insert("ExtendedStatistic".into(), json!("p99"));
            },
            "exclude",
        );
        refused(
            |p| {
                p.insert("Statistic".into(), json!("p99"));
            },
            "Statistic p99",
        );
        refused(
            |p| {
                p.insert("DatapointsToAlarm".into(), json!(3));
            },
            "exceeds",
        );
        refused(
            |p| {
                p.insert("TreatMissingData".into(), json!("zero"));
            },
            "TreatMissingData",
        );
        refused(
            |p| {
                p.insert("Unit".into(), json!("Photos"));
            },
            "unit",
        );
        refused(
            |p| {
                p.remove("Threshold");
            },
            "Threshold",
        );
    }

    #[test]
    fn evaluates_as_cloudwatch_does() {
        let errors = alarm(|_| {}).expect("valid");
        let state = |points: Vec<Option<f64>>| errors.evaluate(points, AlarmState::Ok).state;
        // Two of two periods must breach.
        assert_eq!(state(vec![Some(1.0), Some(4.0)]), AlarmState::Alarm);
        assert_eq!(state(vec![Some(1.0), None]), AlarmState::Ok);
        assert_eq!(state(vec![Some(0.0), Some(0.0)]), AlarmState::Ok);
        // notBreaching: no data is a good sign.
        assert_eq!(state(vec![None, None]), AlarmState::Ok);
        let strict = alarm(|p| {
            p.insert("TreatMissingData".into(), json!("missing"));
            p.insert("DatapointsToAlarm".into(), json!(2));
        })
        .expect("valid");
        let evaluate = |points, current| strict.evaluate(points, current).state;
        assert_eq!(
            evaluate(vec![None, None], AlarmState::Ok),
            AlarmState::InsufficientData
        );
        assert_eq!(
            evaluate(vec![Some(3.0), None], AlarmState::Ok),
            AlarmState::Ok
        );
        assert_eq!(
            evaluate(vec![Some(3.0), Some(1.0)], AlarmState::Ok),
            AlarmState::Alarm
        );
        let ignore = alarm(|p| {
            p.insert("TreatMissingData".into(), json!("ignore"));
        })
        .expect("valid");
        assert_eq!(
            ignore.evaluate(vec![None, None], AlarmState::Alarm).state,
            AlarmState::Alarm
        );
        let breaching = alarm(|p| {
            p.insert("TreatMissingData".into(), json!("breaching"));
        })
        .expect("valid");
        assert_eq!(
            breaching.evaluate(vec![None, None], AlarmState::Ok).state,
            AlarmState::Alarm
        );
    }

    #[test]
    fn periods_end_at_the_evaluation() {
        let errors = alarm(|_| {}).expect("valid");
        assert_eq!(
            errors.periods(700_000),
            [(400_001, 700_001), (100_001, 400_001)]
        );
    }
}
