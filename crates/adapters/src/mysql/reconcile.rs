//! What reconcile needs of the database.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::audit::{AuditAction, AuditContext, detail};
use registry::erasure::{Erasure, ErasureMark, key_digest};
use registry::person::{PersonId, Status};
use registry::ports::{
    Checkpoint, KeyMove, KeyedPerson, PortError, ReconcileStore, Scan, SightingKind,
};
use sqlx::{MySql, QueryBuilder};

use super::{MysqlPersonStore, RETIRE_FACE, append_audit, port_error, push_in_list, utf8};

/// The `kind` column's value.
fn kind_value(kind: SightingKind) -> &'static str {
    match kind {
        SightingKind::Face => "face",
        SightingKind::Photo => "photo",
    }
}

#[async_trait]
impl ReconcileStore for MysqlPersonStore {
    async fn unreferenced_faces(&self, face_ids: &[String]) -> Result<Vec<String>, PortError> {
        if face_ids.is_empty() {
            return Ok(Vec::new());
        }
        let referenced: Vec<String> = self
            .database
            .run(|pool| async move {
                let mut current =
                    QueryBuilder::<MySql>::new("SELECT identity FROM person WHERE identity");
                push_in_list(&mut current, face_ids);
                let mut found: Vec<String> = current.build_query_scalar().fetch_all(pool).await?;
                let mut retired =
                    QueryBuilder::<MySql>::new("SELECT face_id FROM retired_face WHERE face_id");
                push_in_list(&mut retired, face_ids);
                found.extend(
                    retired
                        .build_query_scalar::<String>()
                        .fetch_all(pool)
                        .await?,
                );
                Ok::<_, sqlx::Error>(found)
            })
            .await
            .map_err(port_error)?;
        let referenced: HashSet<&str> = referenced.iter().map(String::as_str).collect();
        Ok(face_ids
            .iter()
            .filter(|id| !referenced.contains(id.as_str()))
            .cloned()
            .collect())
    }

    async fn sight(
        &self,
        kind: SightingKind,
        subjects: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, PortError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let seen: Vec<(String, DateTime<Utc>)> = self
            .database
            .run(|pool| async move {
                let mut insert = QueryBuilder::<MySql>::new(
                    "INSERT INTO drift_sighting (kind, subject, first_seen_at, last_seen_at) ",
                );
                insert.push_values(subjects, |mut row, subject| {
                    row.push_bind(kind_value(kind))
                        .push_bind(subject)
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.push(" ON DUPLICATE KEY UPDATE last_seen_at = VALUES(last_seen_at)");
                insert.build().execute(pool).await?;
                let mut select = QueryBuilder::<MySql>::new(
                    "SELECT subject, first_seen_at FROM drift_sighting WHERE kind = ",
                );
                select.push_bind(kind_value(kind)).push(" AND subject");
                push_in_list(&mut select, subjects);
                select.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        // The column compares without case; subjects are kept as given.
        let seen: HashMap<String, DateTime<Utc>> = seen
            .into_iter()
            .map(|(subject, first)| (subject.to_ascii_lowercase(), first))
            .collect();
        // A sighting gone between the two statements was acted on and
        // forgotten by a concurrent run: for this run it is new.
        Ok(subjects
            .iter()
            .map(|subject| {
                seen.get(&subject.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(now)
            })
            .collect())
    }

    async fn forget_sightings(
        &self,
        kind: SightingKind,
        subjects: &[String],
    ) -> Result<(), PortError> {
        if subjects.is_empty() {
            return Ok(());
        }
        self.database
            .run(|pool| async move {
                let mut query =
                    QueryBuilder::<MySql>::new("DELETE FROM drift_sighting WHERE kind = ");
                query.push_bind(kind_value(kind)).push(" AND subject");
                push_in_list(&mut query, subjects);
                query.build().execute(pool).await
            })
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn forget_sightings_before(
        &self,
        kind: SightingKind,
        since: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let done = self
            .database
            .run(|pool| {
                sqlx::query("DELETE FROM drift_sighting WHERE kind = ? AND last_seen_at < ?")
                    .bind(kind_value(kind))
                    .bind(since)
                    .execute(pool)
            })
            .await
            .map_err(port_error)?;
        Ok(done.rows_affected())
    }

    async fn unfinished_moves(
        &self,
        moved_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(PersonId, KeyMove)>, PortError> {
        let rows: Vec<(u64, Vec<u8>, Vec<u8>)> = self
            .database
            .run(|pool| {
                sqlx::query_as(
                    "SELECT person_id, from_key, to_key FROM key_move WHERE moved_at < ? \
                     ORDER BY moved_at LIMIT ?",
                )
                .bind(moved_before)
                .bind(limit)
                .fetch_all(pool)
            })
            .await
            .map_err(port_error)?;
        rows.into_iter()
            .map(|(id, from, to)| {
                Ok((
                    PersonId(id),
                    KeyMove {
                        from: utf8(from)?,
                        to: utf8(to)?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(port_error)
    }

    async fn unfinished_erasures(
        &self,
        requested_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Erasure>, PortError> {
        self.database
            .run(|pool| async move {
                let rows: Vec<(u64, DateTime<Utc>, Vec<u8>, Option<String>)> = sqlx::query_as(
                    "SELECT e.person_id, e.requested_at, p.object_key, p.identity FROM erasure e \
                     JOIN person p ON p.id = e.person_id \
                     WHERE e.completed_at IS NULL AND e.requested_at < ? \
                     ORDER BY e.requested_at LIMIT ?",
                )
                .bind(requested_before)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                let mut erasures = Vec::with_capacity(rows.len());
                for (id, requested_at, key, identity) in rows {
                    let mut face_ids: Vec<String> = sqlx::query_scalar::<_, Vec<u8>>(
                        "SELECT face_id FROM person_face WHERE person_id = ? \
                         ORDER BY recorded_at, face_id",
                    )
                    .bind(id)
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .map(utf8)
                    .collect::<Result<_, _>>()?;
                    if let Some(current) = identity
                        && !face_ids.contains(&current)
                    {
                        face_ids.push(current);
                    }
                    erasures.push(Erasure {
                        person_id: PersonId(id),
                        object_key: utf8(key)?,
                        face_ids,
                        requested_at,
                    });
                }
                Ok::<_, sqlx::Error>(erasures)
            })
            .await
            .map_err(port_error)
    }

    async fn people_by_key(
        &self,
        after: Option<&str>,
        through: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyedPerson>, PortError> {
        let rows: Vec<(u64, Vec<u8>, String, bool, DateTime<Utc>, bool)> = self
            .database
            .run(|pool| async move {
                let mut query = QueryBuilder::<MySql>::new(
                    "SELECT p.id, p.object_key, p.status, p.identity IS NOT NULL, p.updated_at, \
                     e.person_id IS NOT NULL FROM person p \
                     LEFT JOIN erasure e ON e.person_id = p.id WHERE 1 = 1",
                );
                // The key's binary collation orders as S3 lists: by UTF-8 bytes.
                if let Some(after) = after {
                    query.push(" AND p.object_key > ").push_bind(after);
                }
                if let Some(through) = through {
                    query.push(" AND p.object_key <= ").push_bind(through);
                }
                query.push(" ORDER BY p.object_key LIMIT ").push_bind(limit);
                query.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        rows.into_iter()
            .map(|(id, key, status, has_face, updated_at, erasing)| {
                Ok(KeyedPerson {
                    id: PersonId(id),
                    object_key: utf8(key).map_err(port_error)?,
                    status: status
                        .parse::<Status>()
                        .map_err(|e| PortError::Permanent(format!("database: {e}")))?,
                    has_face,
                    updated_at,
                    erasing,
                })
            })
            .collect()
    }

    async fn erasure_marks(&self, keys: &[String]) -> Result<Vec<Option<ErasureMark>>, PortError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let digests: Vec<[u8; 32]> = keys.iter().map(|key| key_digest(key)).collect();
        let rows: Vec<(Vec<u8>, Option<DateTime<Utc>>)> = self
            .database
            .run(|pool| {
                let digests = &digests;
                async move {
                    let mut query = QueryBuilder::<MySql>::new(
                        "SELECT key_digest, completed_at FROM erasure WHERE key_digest IN (",
                    );
                    let mut separated = query.separated(", ");
                    for digest in digests {
                        separated.push_bind(digest.as_slice());
                    }
                    query.push(")");
                    query.build_query_as().fetch_all(pool).await
                }
            })
            .await
            .map_err(port_error)?;
        // A plain key may have been erased more than once: the erasure still
        // running covers everything, otherwise the latest finished one.
        Ok(digests
            .iter()
            .map(|digest| {
                let marks = rows.iter().filter(|(d, _)| d.as_slice() == digest);
                marks.fold(None, |best: Option<ErasureMark>, (_, completed_at)| {
                    let mark = ErasureMark {
                        completed_at: *completed_at,
                    };
                    match best {
                        Some(best) if best.completed_at.is_none() => Some(best),
                        Some(best)
                            if mark
                                .completed_at
                                .is_some_and(|c| Some(c) < best.completed_at) =>
                        {
                            Some(best)
                        }
                        _ => Some(mark),
                    }
                })
            })
            .collect())
    }

    async fn reject_unchanged(
        &self,
        id: PersonId,
        seen_updated_at: DateTime<Utc>,
        reason: &str,
        audit: &AuditContext,
    ) -> Result<bool, PortError> {
        async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            let current: Option<(Option<String>, DateTime<Utc>)> =
                sqlx::query_as("SELECT identity, updated_at FROM person WHERE id = ? FOR UPDATE")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            let erasing: Option<u64> =
                sqlx::query_scalar("SELECT person_id FROM erasure WHERE person_id = ?")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            let identity = match current {
                Some((identity, updated_at))
                    if updated_at == seen_updated_at && erasing.is_none() =>
                {
                    identity
                }
                _ => {
                    tx.rollback().await?;
                    return Ok(false);
                }
            };
            // The recorded object version stays: an older event is still stale.
            sqlx::query(
                "UPDATE person SET status = 'rejected', status_reason = ?, identity = NULL, \
                 face_confidence = NULL, face_left = NULL, face_top = NULL, face_width = NULL, \
                 face_height = NULL, duplicate_of = NULL, duplicate_similarity = NULL WHERE id = ?",
            )
            .bind(reason)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            if let Some(face) = &identity {
                sqlx::query(RETIRE_FACE)
                    .bind(face)
                    .execute(&mut *tx)
                    .await?;
            }
            append_audit(
                &mut tx,
                AuditAction::Reconcile,
                Some(id),
                audit,
                &detail::reconcile_rejection(reason, identity.as_deref()),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await
        .map_err(port_error)
    }

    async fn forget_plain_key_digests(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<u64, PortError> {
        let done = self
            .database
            .run(|pool| {
                sqlx::query(
                    "UPDATE erasure SET key_digest = NULL WHERE NOT key_has_token \
                     AND completed_at < ? AND key_digest IS NOT NULL",
                )
                .bind(finished_before)
                .execute(pool)
            })
            .await
            .map_err(port_error)?;
        Ok(done.rows_affected())
    }

    async fn checkpoint(&self, scan: Scan) -> Result<Checkpoint, PortError> {
        let row: Option<(Option<Vec<u8>>, Option<DateTime<Utc>>)> = self
            .database
            .run(|pool| {
                sqlx::query_as(
                    "SELECT position, pass_started_at FROM reconcile_checkpoint WHERE scan = ?",
                )
                .bind(scan.as_str())
                .fetch_optional(pool)
            })
            .await
            .map_err(port_error)?;
        let Some((position, pass_started_at)) = row else {
            return Ok(Checkpoint::default());
        };
        Ok(Checkpoint {
            position: position.map(utf8).transpose().map_err(port_error)?,
            pass_started_at,
        })
    }

    async fn save_checkpoint(&self, scan: Scan, checkpoint: &Checkpoint) -> Result<(), PortError> {
        self.database
            .run(|pool| {
                sqlx::query(
                    "INSERT INTO reconcile_checkpoint (scan, position, pass_started_at) \
                     VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE position = VALUES(position), \
                     pass_started_at = VALUES(pass_started_at)",
                )
                .bind(scan.as_str())
                .bind(&checkpoint.position)
                .bind(checkpoint.pass_started_at)
                .execute(pool)
            })
            .await
            .map_err(port_error)?;
        Ok(())
    }
}
