//! The stack's CloudWatch, locally: the template's alarms and dashboards,
//! the functions' EMF documents (`recorder`), and the metrics AWS itself
//! publishes for what the alarms and the dashboard watch, synthesised from
//! what the runtime observes, with AWS's namespaces, names, dimensions and
//! units:
//!
//! - `AWS/Lambda` (`FunctionName`): `Invocations`, `Errors`, `Throttles`,
//!   `Duration` (ms), one datum per invocation, zeros included, as Lambda
//!   publishes them.
//! - `AWS/ApiGateway` (`ApiId`): `Count`, `4xx`, `5xx`, `Latency` and
//!   `IntegrationLatency` (ms), per request the gateway answers.
//! - `AWS/ApplicationELB` (`LoadBalancer`, the ALB's full name):
//!   `RequestCount`, `HTTPCode_Target_5XX_Count`, `HTTPCode_ELB_5XX_Count`,
//!   `TargetResponseTime` (s).
//! - `AWS/SQS` (`QueueName`), sampled (`sampler`):
//!   `ApproximateNumberOfMessagesVisible`, `...NotVisible`,
//!   `ApproximateAgeOfOldestMessage` (s).
//! - `AWS/RDS` (`DBClusterIdentifier`), sampled: `DatabaseConnections` (the
//!   connections to the cluster's database) and `CPUUtilization` (the
//!   MariaDB server's own CPU time, when it runs on this machine).
//!
//! What cannot be measured here is listed in [`UNMEASURED`], with why.

mod recorder;
mod sampler;

use std::sync::Arc;
use std::time::Duration;

use local_cloudwatch::{
    CloudWatch, Dashboard, Datum, MetricAlarm, MetricId, MetricStore, Unmeasured,
};
use local_stack::LocalStack;

pub use recorder::FunctionRecorder;
pub use sampler::Sampler;

use crate::runtime::{StartError, StatePaths};

/// How often CloudWatch evaluates alarms.
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(60);

/// Metrics the template reads that nothing on one machine stands for.
pub const UNMEASURED: [Unmeasured; 1] = [Unmeasured {
    namespace: "AWS/RDS",
    name: "ServerlessDatabaseCapacity",
    reason: "Aurora Serverless v2 capacity units (ACUs) exist only on Aurora; a MariaDB server has a fixed size",
}];

/// The stack's CloudWatch: its alarms checked as `PutMetricAlarm` checks
/// them, its dashboards as `PutDashboard` does (either failing the start,
/// as the deploy would fail), its metrics kept in the state folder.
pub fn cloudwatch(stack: &LocalStack, state: &StatePaths) -> Result<Arc<CloudWatch>, StartError> {
    let invalid = |what: &str, reason: String| StartError::Resource {
        what: what.to_owned(),
        reason,
    };
    let alarms = stack
        .alarms
        .iter()
        .map(|a| {
            MetricAlarm::from_properties(&a.name, &a.arn, &a.properties)
                .map_err(|e| invalid(&a.logical_id, e.reason))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dashboards = stack
        .dashboards
        .iter()
        .map(|d| Dashboard::parse(&d.name, &d.body).map_err(|e| invalid(&d.logical_id, e.reason)))
        .collect::<Result<Vec<_>, _>>()?;
    let now = local_cloudwatch::now_ms();
    let path = state.metrics(&stack.name);
    let store = MetricStore::open(&path, now)
        .map_err(|e| invalid("the local CloudWatch", format!("{}: {e}", path.display())))?;
    Ok(Arc::new(CloudWatch::new(
        store,
        alarms,
        dashboards,
        UNMEASURED.to_vec(),
        now,
    )))
}

fn datum(namespace: &str, name: &str, dimension: (&str, &str), value: f64, unit: &str) -> Datum {
    Datum {
        metric: MetricId::new(namespace, name, [dimension]),
        timestamp_ms: local_cloudwatch::now_ms(),
        value,
        unit: unit.to_owned(),
    }
}

/// One invocation of `function`, as Lambda counts it.
pub fn invocation(cloudwatch: &CloudWatch, function: &str, duration: Duration, failed: bool) {
    let at = ("FunctionName", function);
    cloudwatch.put(vec![
        datum("AWS/Lambda", "Invocations", at, 1.0, "Count"),
        datum(
            "AWS/Lambda",
            "Errors",
            at,
            f64::from(u8::from(failed)),
            "Count",
        ),
        datum("AWS/Lambda", "Throttles", at, 0.0, "Count"),
        datum(
            "AWS/Lambda",
            "Duration",
            at,
            duration.as_secs_f64() * 1000.0,
            "Milliseconds",
        ),
    ]);
}

/// One request API Gateway answered with `status`.
pub fn api_request(
    cloudwatch: &CloudWatch,
    api_id: &str,
    status: u16,
    latency: Duration,
    integration: Option<Duration>,
) {
    let at = ("ApiId", api_id);
    let class = |hundred: u16| f64::from(u8::from(status / 100 == hundred));
    let mut data = vec![
        datum("AWS/ApiGateway", "Count", at, 1.0, "Count"),
        datum("AWS/ApiGateway", "4xx", at, class(4), "Count"),
        datum("AWS/ApiGateway", "5xx", at, class(5), "Count"),
        datum(
            "AWS/ApiGateway",
            "Latency",
            at,
            latency.as_secs_f64() * 1000.0,
            "Milliseconds",
        ),
    ];
    if let Some(integration) = integration {
        data.push(datum(
            "AWS/ApiGateway",
            "IntegrationLatency",
            at,
            integration.as_secs_f64() * 1000.0,
            "Milliseconds",
        ));
    }
    cloudwatch.put(data);
}

/// One request the load balancer answered: `target` when a target (a
/// function) answered, with its status; otherwise the balancer's own.
pub fn alb_request(
    cloudwatch: &CloudWatch,
    load_balancer: &str,
    status: u16,
    target: Option<Duration>,
) {
    let at = ("LoadBalancer", load_balancer);
    let server_error = f64::from(u8::from(status >= 500));
    let mut data = vec![datum(
        "AWS/ApplicationELB",
        "RequestCount",
        at,
        1.0,
        "Count",
    )];
    match target {
        Some(elapsed) => data.extend([
            datum(
                "AWS/ApplicationELB",
                "TargetResponseTime",
                at,
                elapsed.as_secs_f64(),
                "Seconds",
            ),
            datum(
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                at,
                server_error,
                "Count",
            ),
        ]),
        None => data.push(datum(
            "AWS/ApplicationELB",
            "HTTPCode_ELB_5XX_Count",
            at,
            server_error,
            "Count",
        )),
    }
    cloudwatch.put(data);
}
