//! A person store that fails on purpose: in front of a real one, it makes
//! the next writes fail before they reach it, or reach it and then lose
//! the reply (committed, then the connection dropped), as a network does.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use registry::audit::AuditContext;
use registry::duplicates::{Resolution, Resolved};
use registry::erasure::{Erasure, ErasureBegun, ErasureFinished, ErasureReceipt};
use registry::person::{Person, PersonId};
use registry::ports::{
    CreatedOnce, IndexingRecord, KeyMove, ListFilter, NewPerson, PersonStore, PortError,
    RecordOutcome, RequestKey,
};

/// `store`, with faults injected into `record_indexing` (the write the
/// indexer's promises rest on); every other call passes through.
pub struct FaultyPersonStore<S> {
    pub store: S,
    failing_before: AtomicUsize,
    losing_replies: AtomicUsize,
}

fn connection_lost() -> PortError {
    PortError::Transient("database: connection reset by peer".into())
}

/// Takes one of `counter`'s faults, if any are left.
fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

impl<S> FaultyPersonStore<S> {
    pub fn new(store: S) -> Self {
        Self {
            store,
            failing_before: AtomicUsize::new(0),
            losing_replies: AtomicUsize::new(0),
        }
    }

    /// The next `count` records fail without reaching the store.
    pub fn fail_next_records(&self, count: usize) {
        self.failing_before.store(count, Ordering::SeqCst);
    }

    /// The next `count` records are committed, then their reply is lost.
    pub fn lose_next_record_replies(&self, count: usize) {
        self.losing_replies.store(count, Ordering::SeqCst);
    }
}

#[async_trait]
impl<S: PersonStore> PersonStore for FaultyPersonStore<S> {
    async fn record_indexing(
        &self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, PortError> {
        if take(&self.failing_before) {
            return Err(connection_lost());
        }
        let outcome = self.store.record_indexing(record, audit).await?;
        if take(&self.losing_replies) {
            return Err(connection_lost());
        }
        Ok(outcome)
    }

    async fn create_pending(
        &self,
        person: &NewPerson,
        audit: &AuditContext,
    ) -> Result<Person, PortError> {
        self.store.create_pending(person, audit).await
    }

    async fn rename_with_key(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        to_key: &str,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        self.store
            .rename_with_key(id, lastname, firstname, to_key, audit)
            .await
    }

    async fn unfinished_move(&self, id: PersonId) -> Result<Option<KeyMove>, PortError> {
        self.store.unfinished_move(id).await
    }

    async fn forget_move(&self, id: PersonId) -> Result<(), PortError> {
        self.store.forget_move(id).await
    }

    async fn create_pending_once(
        &self,
        person: &NewPerson,
        request: &RequestKey,
        audit: &AuditContext,
    ) -> Result<CreatedOnce, PortError> {
        self.store.create_pending_once(person, request, audit).await
    }

    async fn mark_pending(
        &self,
        id: PersonId,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        self.store.mark_pending(id, audit).await
    }

    async fn rename(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        self.store.rename(id, lastname, firstname, audit).await
    }

    async fn get(&self, id: PersonId) -> Result<Option<Person>, PortError> {
        self.store.get(id).await
    }

    async fn find_by_key(&self, object_key: &str) -> Result<Option<Person>, PortError> {
        self.store.find_by_key(object_key).await
    }

    async fn find_by_identities(&self, face_ids: &[String]) -> Result<Vec<Person>, PortError> {
        self.store.find_by_identities(face_ids).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Person>, PortError> {
        self.store.list(filter).await
    }

    async fn begin_erasure(&self, id: PersonId) -> Result<ErasureBegun, PortError> {
        self.store.begin_erasure(id).await
    }

    async fn finish_erasure(
        &self,
        erasure: &Erasure,
        receipt: &ErasureReceipt,
        audit: &AuditContext,
    ) -> Result<ErasureFinished, PortError> {
        self.store.finish_erasure(erasure, receipt, audit).await
    }

    async fn resolve_duplicate(
        &self,
        id: PersonId,
        resolution: Resolution,
        audit: &AuditContext,
    ) -> Result<Resolved, PortError> {
        self.store.resolve_duplicate(id, resolution, audit).await
    }

    async fn ruled_out_duplicates(&self, id: PersonId) -> Result<Vec<PersonId>, PortError> {
        self.store.ruled_out_duplicates(id).await
    }

    async fn faces_ever(&self, id: PersonId) -> Result<Vec<String>, PortError> {
        self.store.faces_ever(id).await
    }

    async fn retired_faces(&self, limit: u32) -> Result<Vec<String>, PortError> {
        self.store.retired_faces(limit).await
    }

    async fn forget_retired_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        self.store.forget_retired_faces(face_ids).await
    }

    async fn set_faces_aside(&self, face_ids: &[String]) -> Result<(), PortError> {
        self.store.set_faces_aside(face_ids).await
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.store.ping().await
    }
}
