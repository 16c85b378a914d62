//! A dashboard drawn as one HTML page: each metric widget an SVG graph of
//! its series over the window, each alarm widget the alarms' states, each
//! log widget its query (Logs Insights runs on AWS only). The page reloads
//! itself every minute.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::alarm::AlarmState;
use crate::dashboard::{Dashboard, Series, Widget, WidgetContent};
use crate::service::CloudWatch;

/// The series' colours, as CloudWatch's graphs cycle them.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 52.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// What the page shows: a window ending now, and its periods.
pub(crate) struct View {
    pub now_ms: i64,
    pub window_ms: i64,
    /// Every graph's period, when the reader chose one.
    pub period_s: Option<u32>,
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `-PT6H`, `-PT30M`, `-P1D`: how far back an ISO 8601 duration reaches.
pub(crate) fn duration_ms(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('-').unwrap_or(text).strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((days, time)) => (days, time),
        None => (rest, ""),
    };
    let mut total = match days {
        "" => 0,
        d => d.strip_suffix('D')?.parse::<i64>().ok()? * 86_400,
    };
    let mut number = String::new();
    for c in time.chars() {
        match c {
            '0'..='9' => number.push(c),
            'H' | 'M' | 'S' => {
                let n: i64 = std::mem::take(&mut number).parse().ok()?;
                total += n * match c {
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
            }
            _ => return None,
        }
    }
    Some(total * 1000)
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

pub(crate) fn render(cloudwatch: &CloudWatch, dashboard: &Dashboard, view: &View) -> String {
    let mut html = String::new();
    let name = escape(&dashboard.name);
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="60"><title>{name}</title><style>{STYLE}</style></head><body><header><h1>{name}</h1><p>Local CloudWatch: the template's dashboard with the figures of the runs on this machine, times in UTC, until {until}. {windows}</p></header><main>"#,
        until = time(view.now_ms),
        windows = windows(view),
    );
    for widget in &dashboard.widgets {
        let _ = write!(
            html,
            r#"<section style="grid-column:{} / span {};grid-row:{} / span {}"><h2>{}</h2>"#,
            widget.x + 1,
            widget.width,
            widget.y + 1,
            widget.height,
            escape(&widget.title)
        );
        html.push_str(&widget_html(cloudwatch, widget, view));
        html.push_str("</section>");
    }
    html.push_str("</main></body></html>");
    html
}

fn windows(view: &View) -> String {
    let choices = [
        ("15 minutes", "-PT15M", 60),
        ("1 hour", "-PT1H", 60),
        ("6 hours", "-PT6H", 300),
        ("1 day", "-P1D", 900),
    ];
    let links: Vec<String> = choices
        .iter()
        .map(|(label, start, period)| {
            let chosen = duration_ms(start) == Some(view.window_ms)
                && view.period_s.is_none_or(|p| p == *period);
            if chosen {
                format!("<strong>{label}</strong>")
            } else {
                format!(r#"<a href="?start={start}&amp;period={period}">{label}</a>"#)
            }
        })
        .collect();
    format!("Window: {}.", links.join(" · "))
}

fn widget_html(cloudwatch: &CloudWatch, widget: &Widget, view: &View) -> String {
    match &widget.content {
        WidgetContent::Metrics {
            series,
            annotations,
        } => graph(cloudwatch, series, annotations, view),
        WidgetContent::Alarms(arns) => {
            let alarms = cloudwatch.alarms();
            let rows: String = arns
                .iter()
                .map(|arn| match alarms.iter().find(|a| &a.alarm.arn == arn) {
                    Some(status) => {
                        let class = match status.state {
                            AlarmState::Ok => "ok",
                            AlarmState::Alarm => "alarm",
                            AlarmState::InsufficientData => "none",
                        };
                        format!(
                            r#"<li class="{class}" title="{}"><b>{}</b> {}</li>"#,
                            escape(&status.reason),
                            status.state.as_str(),
                            escape(&status.alarm.name)
                        )
                    }
                    None => format!(r#"<li class="none">no such alarm: {}</li>"#, escape(arn)),
                })
                .collect();
            format!(r#"<ul class="alarms">{rows}</ul>"#)
        }
        WidgetContent::Log(query) => format!(
            r#"<p class="note">A Logs Insights query: it runs on AWS, over the functions' log groups. Locally the same lines are in <code>make dev</code>'s output.</p><pre>{}</pre>"#,
            escape(query)
        ),
        WidgetContent::Text(markdown) => format!("<pre>{}</pre>", escape(markdown)),
    }
}

fn graph(
    cloudwatch: &CloudWatch,
    series: &[Series],
    annotations: &[(String, f64)],
    view: &View,
) -> String {
    let from = view.now_ms - view.window_ms;
    let lines: Vec<(&Series, Vec<(i64, f64)>)> = series
        .iter()
        .map(|s| {
            let period = view.period_s.unwrap_or(s.period_s);
            (s, cloudwatch.points(s, period, from, view.now_ms))
        })
        .collect();
    let top = |right: bool| {
        let highest = lines
            .iter()
            .filter(|(s, _)| s.right_axis == right)
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .chain(annotations.iter().filter(|_| !right).map(|a| a.1))
            .fold(0.0_f64, f64::max);
        nice_ceiling(highest)
    };
    let (left_top, right_top) = (top(false), top(true));
    let x = |ms: i64| LEFT + (ms - from) as f64 / view.window_ms as f64 * (WIDTH - LEFT - RIGHT);
    let y = |value: f64, top: f64| TOP + (1.0 - value / top) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><line class="axis" x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}"/>"#,
        b = HEIGHT - BOTTOM,
        r = WIDTH - RIGHT,
    );
    for (value, label) in [(left_top, left_top), (left_top / 2.0, left_top / 2.0)] {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            y(value, left_top) + 4.0,
            figure(label)
        );
    }
    if lines.iter().any(|(s, _)| s.right_axis) {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="tick">{}</text>"#,
            WIDTH - RIGHT + 4.0,
            TOP + 4.0,
            figure(right_top)
        );
    }
    for (ms, anchor) in [
        (from, "start"),
        (from + view.window_ms / 2, "middle"),
        (view.now_ms, "end"),
    ] {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" class="tick" text-anchor="{anchor}">{}</text>"#,
            x(ms),
            HEIGHT - 6.0,
            time(ms)
        );
    }
    for (label, value) in annotations {
        let at = y(*value, left_top);
        let _ = write!(
            svg,
            r#"<line class="annotation" x1="{LEFT}" y1="{at}" x2="{}" y2="{at}"/><text x="{}" y="{}" class="tick" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            WIDTH - RIGHT,
            at - 3.0,
            escape(label)
        );
    }
    let labels = labels(series);
    let mut legend = String::new();
    for (i, (series, points)) in lines.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let top = if series.right_axis {
            right_top
        } else {
            left_top
        };
        let coordinates: Vec<String> = points
            .iter()
            .map(|(ms, value)| format!("{:.1},{:.1}", x(*ms), y(*value, top)))
            .collect();
        if !coordinates.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                coordinates.join(" ")
            );
            for point in &coordinates {
                let (cx, cy) = point.split_once(',').unwrap_or_default();
                let _ = write!(
                    svg,
                    r#"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>"#
                );
            }
        }
        let latest = match (points.last(), cloudwatch.why_unmeasured(&series.metric)) {
            (Some((_, value)), _) => figure(*value),
            (None, Some(why)) => format!(r#"<i title="{}">not measured locally</i>"#, escape(why)),
            (None, None) => "<i>no data</i>".to_owned(),
        };
        let _ = write!(
            legend,
            r#"<li><span style="background:{colour}"></span>{} <b>{latest}</b></li>"#,
            escape(&labels[i])
        );
    }
    svg.push_str("</svg>");
    format!(r#"{svg}<ul class="legend">{legend}</ul>"#)
}

/// The top of an axis: the next 1, 2 or 5 times a power of ten above the
/// highest value.
fn nice_ceiling(highest: f64) -> f64 {
    if highest <= 0.0 || !highest.is_finite() {
        return 1.0;
    }
    let power = 10_f64.powf(highest.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|top| *top >= highest)
        .unwrap_or(10.0 * power)
}

/// Each series' label: its own, or what tells it from the others of its
/// graph (the metric's name, its dimensions' values, its statistic), as
/// CloudWatch's legends do.
fn labels(series: &[Series]) -> Vec<String> {
    let differ =
        |part: &dyn Fn(&Series) -> String| series.iter().any(|s| part(s) != part(&series[0]));
    let name = |s: &Series| s.metric.name.clone();
    let values = |s: &Series| {
        s.metric
            .dimensions
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let stat = |s: &Series| s.stat_name.clone();
    let parts: Vec<&dyn Fn(&Series) -> String> = vec![&name, &values, &stat];
    let shown: Vec<&&dyn Fn(&Series) -> String> =
        parts.iter().filter(|part| differ(**part)).collect();
    series
        .iter()
        .map(|s| {
            s.label.clone().unwrap_or_else(|| {
                if shown.is_empty() {
                    return format!("{} {}", s.metric.name, s.stat_name);
                }
                let words: Vec<String> = shown.iter().map(|part| part(s)).collect();
                words.join(" ")
            })
        })
        .collect()
}

/// A figure as a graph's reader wants it: few digits.
fn figure(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0;background:#f2f3f3;color:#16191f}\
header{padding:8px 16px;background:#232f3e;color:#fff}header h1{font-size:18px;margin:4px 0}header p{margin:4px 0;color:#d5dbdb}header a{color:#fff}\
main{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:34px;gap:8px;padding:8px}\
section{background:#fff;border:1px solid #d5dbdb;border-radius:4px;padding:6px 10px;overflow:hidden}\
h2{font-size:14px;margin:0 0 4px}svg{width:100%;height:70%}.axis{stroke:#879596}.annotation{stroke:#d13212;stroke-dasharray:4 3}\
.tick{font-size:10px;fill:#545b64}.legend{list-style:none;padding:0;margin:0;font-size:11px;columns:2}.legend span{display:inline-block;width:10px;height:10px;margin-right:4px}\
.alarms{list-style:none;padding:0;margin:0;columns:4;font-size:12px}.alarms li{padding:2px 4px}.alarms .ok b{color:#1d8102}.alarms .alarm b{color:#d13212}.alarms .none b{color:#879596}\
pre{white-space:pre-wrap;font-size:11px;background:#f2f3f3;padding:4px}.note{font-size:11px;color:#545b64;margin:0}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iso_durations() {
        assert_eq!(duration_ms("-PT6H"), Some(6 * 3_600_000));
        assert_eq!(duration_ms("-PT15M"), Some(900_000));
        assert_eq!(duration_ms("-P1D"), Some(86_400_000));
        assert_eq!(duration_ms("-PT1H30M"), Some(5_400_000));
        assert_eq!(duration_ms("6 hours"), None);
    }

    #[test]
    fn axes_end_at_round_figures() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(44.0), 50.0);
        assert_eq!(nice_ceiling(385.0), 500.0);
        assert_eq!(nice_ceiling(0.16), 0.2);
    }
}
