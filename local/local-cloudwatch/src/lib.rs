//! A local CloudWatch, for a stack on one machine: the functions' Embedded
//! Metric Format documents and the service metrics the local runtime
//! observes (AWS's namespaces, names, dimensions and units) become metrics;
//! the template's alarms are checked as `PutMetricAlarm` checks them and
//! evaluated as CloudWatch evaluates them; its dashboards are drawn at a
//! local page from the last runs' figures.
//!
//! It knows CloudWatch's behaviour, not the registry's: which metrics the
//! runtime synthesises is the runtime's business.

pub mod alarm;
pub mod dashboard;
pub mod emf;
pub mod metric;
mod page;
pub mod server;
mod service;
pub mod statistic;
mod store;

pub use alarm::{AlarmError, AlarmState, MetricAlarm};
pub use dashboard::{Dashboard, DashboardError};
pub use metric::{Datum, MetricId};
pub use service::{AlarmStatus, CloudWatch, Unmeasured};
pub use statistic::Statistic;
pub use store::MetricStore;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
