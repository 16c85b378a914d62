//! The local CloudWatch's pages and JSON: `/` lists the dashboards,
//! `/dashboards/{name}` draws one (`?start=-PT1H&period=60` to look at
//! another window), `/alarms` answers the alarms' states (evaluated now)
//! and `/metrics` every metric received, as `ListMetrics` would.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::page::{self, View, escape};
use crate::service::CloudWatch;

/// The window a dashboard without `start` shows, as CloudWatch's console.
const DEFAULT_WINDOW: &str = "-PT3H";

pub fn router(cloudwatch: Arc<CloudWatch>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/dashboards/{name}", get(dashboard))
        .route("/alarms", get(alarms))
        .route("/metrics", get(metrics))
        .with_state(cloudwatch)
}

async fn index(State(cloudwatch): State<Arc<CloudWatch>>) -> Response {
    match cloudwatch.dashboards() {
        [only] => Redirect::to(&format!("/dashboards/{}", only.name)).into_response(),
        dashboards => {
            let items: String = dashboards
                .iter()
                .map(|d| {
                    format!(
                        r#"<li><a href="/dashboards/{0}">{0}</a></li>"#,
                        escape(&d.name)
                    )
                })
                .collect();
            Html(format!(
                "<!doctype html><title>Dashboards</title><ul>{items}</ul>"
            ))
            .into_response()
        }
    }
}

#[derive(Deserialize)]
struct Window {
    start: Option<String>,
    period: Option<u32>,
}

async fn dashboard(
    State(cloudwatch): State<Arc<CloudWatch>>,
    Path(name): Path<String>,
    Query(window): Query<Window>,
) -> Response {
    let Some(dashboard) = cloudwatch.dashboards().iter().find(|d| d.name == name) else {
        return (StatusCode::NOT_FOUND, format!("no dashboard {name}")).into_response();
    };
    let start = window
        .start
        .or_else(|| dashboard.start.clone())
        .unwrap_or_else(|| DEFAULT_WINDOW.to_owned());
    let Some(window_ms) = page::duration_ms(&start).filter(|ms| *ms > 0) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("start {start} is not an ISO 8601 duration such as -PT1H"),
        )
            .into_response();
    };
    if window
        .period
        .is_some_and(|p| p == 0 || (p > 30 && p % 60 != 0))
    {
        return (
            StatusCode::BAD_REQUEST,
            "period must be 1 to 30 seconds or whole minutes",
        )
            .into_response();
    }
    let now_ms = crate::now_ms();
    cloudwatch.evaluate_alarms(now_ms);
    let view = View {
        now_ms,
        window_ms,
        period_s: window.period,
    };
    Html(page::render(&cloudwatch, dashboard, &view)).into_response()
}

async fn alarms(State(cloudwatch): State<Arc<CloudWatch>>) -> Json<serde_json::Value> {
    let alarms = cloudwatch.evaluate_alarms(crate::now_ms());
    Json(json!({ "MetricAlarms": alarms }))
}

async fn metrics(State(cloudwatch): State<Arc<CloudWatch>>) -> Json<serde_json::Value> {
    let metrics: Vec<_> = cloudwatch
        .store
        .metrics()
        .into_iter()
        .map(|(metric, unit)| json!({"Namespace": metric.namespace, "MetricName": metric.name, "Dimensions": metric.dimensions, "Unit": unit}))
        .collect();
    Json(json!({ "Metrics": metrics }))
}
