//! Lambda's `REPORT` line: what one invocation took.

use std::fmt;
use std::time::Duration;

/// One invocation's report, as Lambda writes it at the end of the log of
/// each invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub request_id: String,
    /// The handler's time (init apart).
    pub duration: Duration,
    pub memory_size_mb: u64,
    /// The environment's peak resident memory so far.
    pub max_memory_used_mb: u64,
    /// On a cold start: the process's start up to its first request for an
    /// event.
    pub init_duration: Option<Duration>,
    /// `Runtime.OutOfMemory`, `Sandbox.Timedout`, ... when it failed as an
    /// environment fails (not a handler's own error).
    pub error_type: Option<String>,
}

impl Report {
    /// Billed in whole milliseconds, the init of a `provided` runtime
    /// included.
    pub fn billed_ms(&self) -> u128 {
        let init = self.init_duration.unwrap_or_default();
        (self.duration + init).as_micros().div_ceil(1000)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            self.request_id,
            ms(self.duration),
            self.billed_ms(),
            self.memory_size_mb,
            self.max_memory_used_mb
        )?;
        if let Some(init) = self.init_duration {
            write!(f, "\tInit Duration: {:.2} ms", ms(init))?;
        }
        if let Some(error_type) = &self.error_type {
            let status = if error_type == "Sandbox.Timedout" {
                "timeout"
            } else {
                "error"
            };
            write!(f, "\tStatus: {status}\tError Type: {error_type}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_start_reports_its_init_and_bills_it() {
        let report = Report {
            request_id: "r-1".into(),
            duration: Duration::from_micros(12_345),
            memory_size_mb: 256,
            max_memory_used_mb: 31,
            init_duration: Some(Duration::from_micros(40_100)),
            error_type: None,
        };
        assert_eq!(
            report.to_string(),
            "REPORT RequestId: r-1\tDuration: 12.35 ms\tBilled Duration: 53 ms\tMemory Size: 256 MB\tMax Memory Used: 31 MB\tInit Duration: 40.10 ms"
        );
        let killed = Report {
            init_duration: None,
            error_type: Some("Runtime.OutOfMemory".into()),
            ..report
        };
        assert!(
            killed.to_string().ends_with(
                "Max Memory Used: 31 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
            )
        );
    }
}
