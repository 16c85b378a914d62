//! The metrics AWS samples rather than counts: a queue's depth and the age
//! of its oldest message (SQS publishes them every minute), a database
//! cluster's connections and CPU (RDS, every minute). Here they are
//! sampled every few seconds while the stack runs, and when a test asks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use local_cloudwatch::CloudWatch;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::datum;
use crate::rds::LocalRds;
use crate::sqs::Queue;

/// Locally sooner than AWS's minute, so that a short run has figures.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// Linux's clock ticks per second (`USER_HZ`), the unit of `/proc/<pid>/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

pub struct Sampler {
    pub cloudwatch: Arc<CloudWatch>,
    pub queues: Vec<Arc<Queue>>,
    pub rds: LocalRds,
    /// (DBClusterIdentifier, its database).
    pub clusters: Vec<(String, String)>,
    /// The server's CPU time at the last sample.
    cpu: Mutex<Option<(f64, Instant)>>,
}

impl Sampler {
    pub fn new(
        cloudwatch: Arc<CloudWatch>,
        queues: Vec<Arc<Queue>>,
        rds: LocalRds,
        clusters: Vec<(String, String)>,
    ) -> Self {
        Self {
            cloudwatch,
            queues,
            rds,
            clusters,
            cpu: Mutex::new(None),
        }
    }

    /// Samples every metric once.
    pub async fn sample(&self) {
        let now_ms = local_cloudwatch::now_ms();
        let mut data = Vec::new();
        for queue in &self.queues {
            let at = ("QueueName", queue.spec.name.as_str());
            let (visible, in_flight) = queue.counts();
            let oldest = queue
                .messages()
                .iter()
                .map(|m| m.sent_at_ms)
                .min()
                .map_or(0.0, |sent| ((now_ms - sent).max(0) / 1000) as f64);
            data.extend([
                datum(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesVisible",
                    at,
                    visible as f64,
                    "Count",
                ),
                datum(
                    "AWS/SQS",
                    "ApproximateNumberOfMessagesNotVisible",
                    at,
                    in_flight as f64,
                    "Count",
                ),
                datum(
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    at,
                    oldest,
                    "Seconds",
                ),
            ]);
        }
        let cpu = self.cpu_percent().await;
        for (identifier, database) in &self.clusters {
            let at = ("DBClusterIdentifier", identifier.as_str());
            match self.rds.connections(database).await {
                Ok(count) => data.push(datum(
                    "AWS/RDS",
                    "DatabaseConnections",
                    at,
                    count as f64,
                    "Count",
                )),
                Err(error) => {
                    tracing::debug!(%error, "the database's connections were not counted")
                }
            }
            if let Some(percent) = cpu {
                data.push(datum("AWS/RDS", "CPUUtilization", at, percent, "Percent"));
            }
        }
        self.cloudwatch.put(data);
    }

    /// The server's CPU use since the last sample, in percent of this
    /// machine's cores; none at the first sample or when the server is not
    /// a process of this machine.
    async fn cpu_percent(&self) -> Option<f64> {
        let pid = self.rds.server_pid().await?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command's closing parenthesis; utime and stime
        // are the 14th and 15th of the line.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        let seconds = ticks / TICKS_PER_SECOND;
        let now = Instant::now();
        let previous = self
            .cpu
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace((seconds, now));
        let (before, then) = previous?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let elapsed = now.duration_since(then).as_secs_f64();
        (elapsed > 0.0).then(|| ((seconds - before) / elapsed / cores * 100.0).clamp(0.0, 100.0))
    }

    /// Samples every `SAMPLE_INTERVAL`, and evaluates the alarms every
    /// `EVALUATION_INTERVAL`, until `stop`.
    pub async fn run(self: Arc<Self>, stop: WaitForCancellationFutureOwned) -> std::io::Result<()> {
        let work = async {
            let mut sampled = tokio::time::interval(SAMPLE_INTERVAL);
            let mut evaluated = tokio::time::interval(super::EVALUATION_INTERVAL);
            loop {
                tokio::select! {
                    _ = sampled.tick() => self.sample().await,
                    _ = evaluated.tick() => {
                        self.cloudwatch.evaluate_alarms(local_cloudwatch::now_ms());
                    }
                }
            }
        };
        tokio::select! {
            () = work => Ok(()),
            () = stop => Ok(()),
        }
    }
}
