//! The `reconcile` function: run by EventBridge Scheduler (and on demand),
//! it compares the table, the collection and the bucket, repairs what is
//! safe (see [`registry::reconcile`]) and publishes what it found.

use std::time::{Duration, Instant, SystemTime};

use registry::audit::{Actor, AuditContext};
use registry::ports::{FaceIndex, PersonStore, PhotoStore, PortError, ReconcileStore};
pub use registry::reconcile::{RebuildReport, ReconcileReport};
use registry::reconcile::{ReconcileSettings, Reconciler};
use serde::{Deserialize, Serialize};

use crate::metrics;

/// Time kept back from the invocation's deadline: the page under way ends
/// and its checkpoint is saved before Lambda stops the function.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// What was repaired stays repaired; the next run goes on from the checkpoints.
    #[error("reconcile stopped: {0}")]
    Port(#[from] PortError),
}

impl From<ReconcileError> for lambda_runtime::Diagnostic {
    fn from(error: ReconcileError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "Reconcile.Stopped".to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// What an invocation asks for: the schedule sends `{}`, a run; an
/// operator may ask for `{"rebuildCollection": true}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReconcileRequest {
    #[serde(default)]
    pub rebuild_collection: bool,
}

/// The invocation's answer: the report of what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ReconcileAnswer {
    Reconciled(ReconcileReport),
    Rebuilt(RebuildReport),
}

pub struct ReconcileFn<P, S, F> {
    pub people: P,
    pub photos: S,
    pub faces: F,
    pub settings: ReconcileSettings,
}

impl<P, S, F> ReconcileFn<P, S, F>
where
    P: PersonStore + ReconcileStore,
    S: PhotoStore,
    F: FaceIndex,
{
    /// One run; `deadline_ms` is the invocation's (Lambda's context, in
    /// milliseconds since the epoch).
    pub async fn handle(
        &self,
        request: ReconcileRequest,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<ReconcileAnswer, ReconcileError> {
        let audit = AuditContext {
            actor: Actor::registry(),
            request_id: request_id.to_owned(),
        };
        let reconciler = Reconciler {
            people: &self.people,
            photos: &self.photos,
            faces: &self.faces,
            settings: self.settings,
            audit: &audit,
        };
        let deadline = working_deadline(deadline_ms);
        if request.rebuild_collection {
            let report = reconciler.rebuild_collection(deadline).await?;
            tracing::info!(
                photos_checked = report.photos_checked,
                photos_redriven = report.photos_redriven,
                complete = report.complete,
                "collection rebuild"
            );
            metrics::per_run("PhotosRedriven", report.photos_redriven);
            return Ok(ReconcileAnswer::Rebuilt(report));
        }
        let report = reconciler.run(deadline).await?;
        self.observe(&report);
        Ok(ReconcileAnswer::Reconciled(report))
    }

    fn observe(&self, report: &ReconcileReport) {
        tracing::info!(
            drift = report.drift(),
            repaired = report.repaired(),
            faces_checked = report.faces_checked,
            photos_checked = report.photos_checked,
            orphan_faces_found = report.orphan_faces_found,
            orphan_faces_deleted = report.orphan_faces_deleted,
            unindexed_photos_found = report.unindexed_photos_found,
            photos_redriven = report.photos_redriven,
            pending_expired = report.pending_expired,
            photos_gone = report.photos_gone,
            unfinished_erasures_found = report.unfinished_erasures_found,
            erasures_finished = report.erasures_finished,
            unfinished_moves_found = report.unfinished_moves_found,
            moves_finished = report.moves_finished,
            retired_faces_deleted = report.retired_faces_deleted,
            faces_pass_complete = report.faces_pass_complete,
            photos_pass_complete = report.photos_pass_complete,
            "reconciled"
        );
        for (name, value) in [
            ("ReconcileDrift", report.drift()),
            ("ReconcileRepaired", report.repaired()),
            ("OrphanFacesFound", report.orphan_faces_found),
            ("OrphanFacesDeleted", report.orphan_faces_deleted),
            ("UnindexedPhotosFound", report.unindexed_photos_found),
            ("PhotosRedriven", report.photos_redriven),
            ("PendingExpired", report.pending_expired),
            ("PhotosGone", report.photos_gone),
            ("UnfinishedErasuresFound", report.unfinished_erasures_found),
            ("ErasuresFinished", report.erasures_finished),
            ("UnfinishedMovesFound", report.unfinished_moves_found),
            ("MovesFinished", report.moves_finished),
            ("RetiredFacesDeleted", report.retired_faces_deleted),
        ] {
            metrics::per_run(name, value);
        }
    }
}

/// When a run stops taking new pages: the invocation's deadline less the
/// margin (at least half of what remains).
fn working_deadline(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    let working = remaining.saturating_sub(DEADLINE_MARGIN).max(remaining / 2);
    Instant::now() + working
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_a_margin_before_the_deadline() {
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let start = Instant::now();
        let long = working_deadline(now_ms + 300_000) - start;
        assert!(long <= Duration::from_secs(281) && long > Duration::from_secs(270));
        let short = working_deadline(now_ms + 10_000) - start;
        assert!(short <= Duration::from_secs(6) && short > Duration::from_secs(3));
        // A deadline already past: no time at all.
        assert!(working_deadline(now_ms.saturating_sub(1000)) <= Instant::now());
    }
}
