//! A dashboard's body, read as `PutDashboard` reads it (the dashboard body
//! structure in CloudWatch's API reference): widgets on a 24-column grid;
//! a metric widget's rows are `[Namespace, MetricName, DimName, DimValue,
//! ..., {options}]`, where `"."` repeats the previous row's value at that
//! place and a leading `"..."` repeats all of the previous row but the
//! values that follow it. A body CloudWatch would refuse fails the deploy.

use serde_json::{Map, Value};

use crate::metric::MetricId;
use crate::statistic::Statistic;

/// Widgets' defaults when the body names none.
const DEFAULT_PERIOD_S: u32 = 300;
const DEFAULT_STAT: &str = "Average";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dashboard {dashboard}: {reason}")]
pub struct DashboardError {
    pub dashboard: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    pub name: String,
    /// The body's `start` (`-PT6H`): how far back the graphs reach.
    pub start: Option<String>,
    pub widgets: Vec<Widget>,
}

#[derive(Debug, Clone)]
pub struct Widget {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub content: WidgetContent,
}

#[derive(Debug, Clone)]
pub enum WidgetContent {
    Metrics {
        series: Vec<Series>,
        /// Horizontal lines: (label, value).
        annotations: Vec<(String, f64)>,
    },
    /// The alarms' ARNs.
    Alarms(Vec<String>),
    /// A Logs Insights query.
    Log(String),
    Text(String),
}

/// One line of a graph.
#[derive(Debug, Clone)]
pub struct Series {
    pub metric: MetricId,
    pub stat_name: String,
    pub stat: Statistic,
    pub period_s: u32,
    pub label: Option<String>,
    pub right_axis: bool,
}

impl Dashboard {
    pub fn parse(name: &str, body: &str) -> Result<Self, DashboardError> {
        let invalid = |reason: String| DashboardError {
            dashboard: name.to_owned(),
            reason,
        };
        let body: Value = serde_json::from_str(body)
            .map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
        let widgets = body
            .get("widgets")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("the body has no widgets array".into()))?;
        Ok(Self {
            name: name.to_owned(),
            start: body.get("start").and_then(Value::as_str).map(str::to_owned),
            widgets: widgets
                .iter()
                .enumerate()
                .map(|(i, w)| widget(w).map_err(|e| invalid(format!("widget {i}: {e}"))))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Every series of every metric widget.
    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.widgets.iter().flat_map(|w| match &w.content {
            WidgetContent::Metrics { series, .. } => series.as_slice(),
            _ => &[],
        })
    }
}

fn widget(value: &Value) -> Result<Widget, String> {
    let place = |key: &str, default: u32| -> Result<u32, String> {
        value.get(key).map_or(Ok(default), |v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{key} {v} is not a whole number"))
        })
    };
    let (x, width) = (place("x", 0)?, place("width", 6)?);
    if !(1..=24).contains(&width) || x + width > 24 {
        return Err(format!("x {x} and width {width} leave the 24 columns"));
    }
    let properties = value
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let title = properties
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let content = match value.get("type").and_then(Value::as_str) {
        Some("metric") => metric_content(&properties)?,
        Some("alarm") => WidgetContent::Alarms(strings(properties.get("alarms"))),
        Some("log") => WidgetContent::Log(
            properties
                .get("query")
                .and_then(Value::as_str)
                .ok_or("a log widget needs a query")?
                .to_owned(),
        ),
        Some("text") => WidgetContent::Text(
            properties
                .get("markdown")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        other => return Err(format!("type {other:?} is not a widget type drawn here")),
    };
    Ok(Widget {
        x,
        y: place("y", 0)?,
        width,
        height: place("height", 6)?,
        title,
        content,
    })
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn metric_content(properties: &Map<String, Value>) -> Result<WidgetContent, String> {
    let period_s = match properties.get("period") {
        None => DEFAULT_PERIOD_S,
        Some(v) => period(v)?,
    };
    let stat = properties
        .get("stat")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_STAT);
    let rows = properties
        .get("metrics")
        .and_then(Value::as_array)
        .ok_or("a metric widget needs metrics")?;
    let mut previous: Vec<String> = Vec::new();
    let mut series = Vec::new();
    for row in rows {
        let row = row.as_array().ok_or("a metrics row is not an array")?;
        let (values, options) = match row.last() {
            Some(Value::Object(options)) => (&row[..row.len() - 1], Some(options)),
            _ => (&row[..], None),
        };
        let values = expand(values, &previous)?;
        series.push(row_series(&values, options, stat, period_s)?);
        previous = values;
    }
    let annotations = properties
        .get("annotations")
        .and_then(|a| a.get("horizontal"))
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .filter_map(|line| {
                    let value = line.get("value")?.as_f64()?;
                    let label = line
                        .get("label")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    Some((label.to_owned(), value))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(WidgetContent::Metrics {
        series,
        annotations,
    })
}

fn period(value: &Value) -> Result<u32, String> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|p| [1, 5, 10, 20, 30].contains(p) || p % 60 == 0)
        .ok_or_else(|| format!("period {value} must be 1, 5, 10, 20, 30 or a multiple of 60"))
}

/// A row with its `"..."` and `"."` replaced by the previous row's values.
fn expand(values: &[Value], previous: &[String]) -> Result<Vec<String>, String> {
    let texts: Vec<String> = values
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or(format!("{v} in a metrics row is not a string"))
        })
        .collect::<Result<_, _>>()?;
    let mut expanded = match texts.split_first() {
        Some((first, rest)) if first == "..." => {
            let kept = previous
                .len()
                .checked_sub(rest.len())
                .ok_or("\"...\" with more values than the row above")?;
            previous[..kept].iter().chain(rest).cloned().collect()
        }
        _ => texts,
    };
    for (i, value) in expanded.iter_mut().enumerate() {
        if value == "." {
            *value = previous
                .get(i)
                .cloned()
                .ok_or("\".\" where the row above has no value")?;
        }
    }
    Ok(expanded)
}

fn row_series(
    values: &[String],
    options: Option<&Map<String, Value>>,
    widget_stat: &str,
    widget_period: u32,
) -> Result<Series, String> {
    let [namespace, name, dimensions @ ..] = values else {
        return Err(format!("the row {values:?} names no namespace and metric"));
    };
    if dimensions.len() % 2 != 0 {
        return Err(format!(
            "the row {values:?} has a dimension without a value"
        ));
    }
    let option = |key: &str| options.and_then(|o| o.get(key));
    let stat_name = option("stat")
        .and_then(Value::as_str)
        .unwrap_or(widget_stat)
        .to_owned();
    let stat = stat_name.parse().map_err(|e| format!("{e}"))?;
    Ok(Series {
        metric: MetricId {
            namespace: namespace.clone(),
            name: name.clone(),
            dimensions: dimensions
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect(),
        },
        stat_name,
        stat,
        period_s: option("period").map_or(Ok(widget_period), period)?,
        label: option("label").and_then(Value::as_str).map(str::to_owned),
        right_axis: option("yAxis").and_then(Value::as_str) == Some("right"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_the_shorthands_of_metric_rows() {
        let body = r#"{"start":"-PT6H","widgets":[
          {"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"title":"Errors","stat":"Sum","period":300,
            "metrics":[["AWS/Lambda","Errors","FunctionName","a"],["...","b"],[".","Throttles",".","."],["...",{"stat":"p99","label":"slow"}]]}},
          {"type":"alarm","x":12,"y":0,"width":12,"height":6,"properties":{"alarms":["arn:1"]}}]}"#;
        let dashboard = Dashboard::parse("d", body).expect("valid");
        let series: Vec<&Series> = dashboard.series().collect();
        let names: Vec<(String, String, String)> = series
            .iter()
            .map(|s| {
                (
                    s.metric.name.clone(),
                    s.metric.dimensions["FunctionName"].clone(),
                    s.stat_name.clone(),
                )
            })
            .collect();
        let expected = [
            ("Errors", "a", "Sum"),
            ("Errors", "b", "Sum"),
            ("Throttles", "b", "Sum"),
            ("Throttles", "b", "p99"),
        ];
        assert_eq!(
            names,
            expected.map(|(n, f, s)| (n.to_owned(), f.to_owned(), s.to_owned()))
        );
        assert_eq!(series[3].label.as_deref(), Some("slow"));
        assert!(
            matches!(&dashboard.widgets[1].content, WidgetContent::Alarms(a) if a == &["arn:1"])
        );
    }

    #[test]
    fn refuses_what_put_dashboard_refuses() {
        let refused = |body: &str| Dashboard::parse("d", body).expect_err(body).reason;
        assert!(refused("{").contains("not JSON"));
        assert!(
            refused(
                r#"{"widgets":[{"type":"metric","x":20,"width":8,"properties":{"metrics":[]}}]}"#
            )
            .contains("24 columns")
        );
        assert!(
            refused(r#"{"widgets":[{"type":"metric","properties":{"metrics":[["...","b"]]}}]}"#)
                .contains("...")
        );
        assert!(refused(r#"{"widgets":[{"type":"metric","properties":{"stat":"Mean","metrics":[["N","M"]]}}]}"#).contains("Mean"));
        assert!(refused(r#"{"widgets":[{"type":"metric","properties":{"period":90,"metrics":[["N","M"]]}}]}"#).contains("period"));
    }
}
