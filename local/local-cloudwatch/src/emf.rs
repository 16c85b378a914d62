//! Embedded Metric Format: the JSON log lines CloudWatch Logs turns into
//! metrics. A document is read as AWS's specification says
//! (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//! an `_aws` object with a `Timestamp` in milliseconds and `CloudWatchMetrics`
//! directives (`Namespace`, `Dimensions`: sets of root member names whose
//! values are strings, `Metrics`: up to 100 `{Name, Unit}`), each metric's
//! value being the root member of its name, a number or up to 100 numbers.
//! A document that breaks a rule yields no metric at all (CloudWatch Logs
//! keeps the line and counts an `EMFValidationErrors`); the error says why.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::metric::{Datum, MetricId, UNITS};

/// The specification's limits.
const MAX_METRICS: usize = 100;
const MAX_VALUES: usize = 100;
const MAX_DIMENSIONS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmfError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("no _aws metadata object")]
    NoMetadata,
    #[error("_aws.Timestamp is missing or not a number")]
    NoTimestamp,
    #[error("_aws.CloudWatchMetrics is missing or not an array")]
    NoDirectives,
    #[error("a directive's {0}")]
    Directive(String),
    #[error("metric {name}: {reason}")]
    Metric { name: String, reason: String },
}

/// Whether a log line is meant as an EMF document (it has `_aws`); other
/// lines are plain logs.
pub fn is_emf(line: &str) -> bool {
    line.trim_start().starts_with('{') && line.contains("\"_aws\"")
}

/// The data a document carries.
pub fn parse(line: &str) -> Result<Vec<Datum>, EmfError> {
    let root: Value = serde_json::from_str(line).map_err(|_| EmfError::NotAnObject)?;
    let root = root.as_object().ok_or(EmfError::NotAnObject)?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or(EmfError::NoMetadata)?;
    let timestamp_ms = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or(EmfError::NoTimestamp)?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or(EmfError::NoDirectives)?;
    let mut data = Vec::new();
    for directive in directives {
        data.extend(directive_data(root, directive, timestamp_ms)?);
    }
    Ok(data)
}

fn directive_data(
    root: &Map<String, Value>,
    directive: &Value,
    timestamp_ms: i64,
) -> Result<Vec<Datum>, EmfError> {
    let invalid = |reason: &str| EmfError::Directive(reason.to_owned());
    let namespace = directive
        .get("Namespace")
        .and_then(Value::as_str)
        .filter(|n| (1..=255).contains(&n.len()) && !n.starts_with(':'))
        .ok_or_else(|| invalid("Namespace is missing or invalid"))?;
    let dimension_sets = dimension_sets(root, directive)?;
    let metrics = directive
        .get("Metrics")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Metrics is missing"))?;
    if metrics.len() > MAX_METRICS {
        return Err(invalid(&format!(
            "Metrics has {} entries; at most {MAX_METRICS}",
            metrics.len()
        )));
    }
    let mut data = Vec::new();
    for definition in metrics {
        let name = definition
            .get("Name")
            .and_then(Value::as_str)
            .filter(|n| (1..=255).contains(&n.len()))
            .ok_or_else(|| invalid("metric has no Name"))?;
        let wrong = |reason: String| EmfError::Metric {
            name: name.to_owned(),
            reason,
        };
        let unit = match definition.get("Unit") {
            None => "None",
            Some(unit) => unit
                .as_str()
                .filter(|u| UNITS.contains(u))
                .ok_or_else(|| wrong(format!("{unit} is not a CloudWatch unit")))?,
        };
        let values = values(root.get(name)).map_err(wrong)?;
        for dimensions in &dimension_sets {
            for value in &values {
                data.push(Datum {
                    metric: MetricId {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                        dimensions: dimensions.clone(),
                    },
                    timestamp_ms,
                    value: *value,
                    unit: unit.to_owned(),
                });
            }
        }
    }
    Ok(data)
}

/// Each dimension set, with the values the root gives its keys.
fn dimension_sets(
    root: &Map<String, Value>,
    directive: &Value,
) -> Result<Vec<BTreeMap<String, String>>, EmfError> {
    let invalid = |reason: String| EmfError::Directive(reason);
    let sets = directive
        .get("Dimensions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Dimensions is missing".into()))?;
    if sets.is_empty() {
        return Ok(vec![BTreeMap::new()]);
    }
    sets.iter()
        .map(|set| {
            let keys = set
                .as_array()
                .ok_or_else(|| invalid("dimension set is not an array".into()))?;
            if keys.len() > MAX_DIMENSIONS {
                return Err(invalid(format!(
                    "dimension set has {} keys; at most {MAX_DIMENSIONS}",
                    keys.len()
                )));
            }
            keys.iter()
                .map(|key| {
                    let key = key
                        .as_str()
                        .ok_or_else(|| invalid("dimension key is not a string".into()))?;
                    let value = root.get(key).and_then(Value::as_str).ok_or_else(|| {
                        invalid(format!("dimension {key} has no string value at the root"))
                    })?;
                    Ok((key.to_owned(), value.to_owned()))
                })
                .collect()
        })
        .collect()
}

/// A metric's target member: a number, or an array of numbers.
fn values(member: Option<&Value>) -> Result<Vec<f64>, String> {
    match member {
        None => Err("has no value at the root".into()),
        Some(Value::Number(n)) => Ok(vec![n.as_f64().unwrap_or_default()]),
        Some(Value::Array(items)) if items.len() <= MAX_VALUES => items
            .iter()
            .map(|v| v.as_f64().ok_or_else(|| format!("{v} is not a number")))
            .collect(),
        Some(Value::Array(items)) => {
            Err(format!("has {} values; at most {MAX_VALUES}", items.len()))
        }
        Some(other) => Err(format!("{other} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = r#"{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"FaceRegistry","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"PhotosIndexed","Unit":"Count"},{"Name":"IndexingDuration","Unit":"Milliseconds"}]}]},"FunctionName":"dev-indexer","PhotosIndexed":2,"IndexingDuration":[120.5,80],"RequestId":"r"}"#;

    #[test]
    fn reads_each_value_with_its_dimensions_and_unit() {
        let data = parse(DOCUMENT).expect("valid");
        assert_eq!(data.len(), 3);
        let indexed = &data[0];
        assert_eq!(
            indexed.metric,
            MetricId::new(
                "FaceRegistry",
                "PhotosIndexed",
                [("FunctionName", "dev-indexer")]
            )
        );
        assert_eq!((indexed.value, indexed.unit.as_str()), (2.0, "Count"));
        assert_eq!(indexed.timestamp_ms, 1_700_000_000_000);
        let durations: Vec<f64> = data[1..].iter().map(|d| d.value).collect();
        assert_eq!(durations, [120.5, 80.0]);
        assert_eq!(data[1].unit, "Milliseconds");
    }

    #[test]
    fn a_document_that_breaks_a_rule_yields_nothing() {
        let without_dimension = DOCUMENT.replace(r#""FunctionName":"dev-indexer","#, "");
        assert!(matches!(
            parse(&without_dimension),
            Err(EmfError::Directive(reason)) if reason.contains("FunctionName")
        ));
        let bad_unit = DOCUMENT.replace(r#""Unit":"Count""#, r#""Unit":"Photos""#);
        assert!(
            matches!(parse(&bad_unit), Err(EmfError::Metric { name, .. }) if name == "PhotosIndexed")
        );
        let no_value = DOCUMENT.replace(r#""PhotosIndexed":2,"#, "");
        assert!(parse(&no_value).is_err());
        let no_timestamp = DOCUMENT.replace(r#""Timestamp":1700000000000,"#, "");
        assert_eq!(parse(&no_timestamp), Err(EmfError::NoTimestamp));
        assert!(!is_emf(r#"{"level":"INFO","fields":{"message":"hello"}}"#));
        assert!(is_emf(DOCUMENT));
    }
}
