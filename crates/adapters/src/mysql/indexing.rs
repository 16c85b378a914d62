//! An indexing outcome recorded: the person's row, its audit entry and a
//! face set aside, in one transaction.
use registry::Sequencer;
use registry::audit::{AuditAction, AuditContext, detail};
use registry::ports::{IndexingRecord, RecordOutcome};

use super::*;

impl MysqlPersonStore {
    pub(super) async fn record_once(
        &self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, sqlx::Error> {
        let mut tx = self.database.run(|pool| pool.begin()).await?;
        // Make sure the row exists, then lock it: concurrent events for one
        // key serialise here.
        sqlx::query(
            "INSERT INTO person (lastname, firstname, object_key, status) VALUES (?, ?, ?, 'pending') \
             ON DUPLICATE KEY UPDATE id = id",
        )
        .bind(&record.lastname)
        .bind(&record.firstname)
        .bind(&record.object_key)
        .execute(&mut *tx)
        .await?;
        let current = fetch_by_key(&mut tx, &record.object_key, true)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        if let Some(recorded) = &current.object_sequencer
            && Sequencer::new(recorded.clone()) >= Sequencer::new(record.object_sequencer.clone())
        {
            let recorded_sequencer = recorded.clone();
            tx.rollback().await?;
            return Ok(RecordOutcome::Stale { recorded_sequencer });
        }
        // An erasure locks the person's row before it is recorded, so this
        // read (the transaction's first consistent read, taken after the
        // lock) sees any erasure of the person; and one finished earlier,
        // whose row is gone, by the key's digest.
        let marks: Vec<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT completed_at FROM erasure WHERE key_digest = ?")
                .bind(key_digest(&record.object_key).as_slice())
                .fetch_all(&mut *tx)
                .await?;
        if marks.into_iter().any(|completed_at| {
            ErasureMark { completed_at }.covers(&record.object_key, record.object_created_at)
        }) {
            tx.rollback().await?;
            return Ok(RecordOutcome::Erased);
        }
        let face = record.face_box;
        let duplicate = record.possible_duplicate;
        sqlx::query(
            "UPDATE person SET status = ?, status_reason = ?, identity = ?, object_etag = ?, \
             object_sequencer = ?, photo_sha256 = ?, face_confidence = ?, face_left = ?, face_top = ?, face_width = ?, \
             face_height = ?, duplicate_of = ?, duplicate_similarity = ? WHERE id = ?",
        )
        .bind(record.status.as_str())
        .bind(&record.status_reason)
        .bind(&record.identity)
        .bind(&record.object_etag)
        .bind(&record.object_sequencer)
        .bind(&record.photo_sha256)
        .bind(record.face_confidence)
        .bind(face.map(|f| f.left))
        .bind(face.map(|f| f.top))
        .bind(face.map(|f| f.width))
        .bind(face.map(|f| f.height))
        .bind(duplicate.map(|d| d.person_id.0))
        .bind(duplicate.map(|d| d.similarity))
        .bind(current.id.0)
        .execute(&mut *tx)
        .await?;
        let retired_face = current
            .identity
            .filter(|old| Some(old) != record.identity.as_ref());
        if let Some(old) = &retired_face {
            sqlx::query(RETIRE_FACE).bind(old).execute(&mut *tx).await?;
        }
        for face in &record.discarded_faces {
            sqlx::query(RETIRE_FACE)
                .bind(face)
                .execute(&mut *tx)
                .await?;
        }
        // Every face ever recorded for the person stays known (erasure).
        if let Some(face) = &record.identity {
            sqlx::query("INSERT IGNORE INTO person_face (face_id, person_id) VALUES (?, ?)")
                .bind(face)
                .bind(current.id.0)
                .execute(&mut *tx)
                .await?;
        }
        append_audit(
            &mut tx,
            AuditAction::Indexing,
            Some(current.id),
            audit,
            &detail::indexing(record, retired_face.as_deref()),
        )
        .await?;
        let person = fetch_by_key(&mut tx, &record.object_key, false)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(RecordOutcome::Recorded {
            person: Box::new(person),
            retired_face,
        })
    }
}
