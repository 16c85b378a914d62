//! The person store on MySQL / Aurora MySQL / MariaDB. The store's
//! operations are here; the indexing transaction, the audit trail, how a
//! row is read, what an error means and reconcile's queries each have a file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::ObjectKey;
use registry::audit::{AuditAction, AuditContext, detail};
use registry::duplicates::{Resolution, Resolved};
use registry::erasure::{
    Erasure, ErasureBegun, ErasureFinished, ErasureMark, ErasureReceipt, key_digest,
};
use registry::person::{Person, PersonId};
use registry::ports::{
    CreatedOnce, IndexingRecord, KeyMove, ListFilter, NewPerson, PersonStore, PortError,
    RecordOutcome, RequestKey,
};
use serde_json::json;
use sqlx::mysql::MySqlPool;
use sqlx::{MySql, QueryBuilder, Transaction};

use crate::database::Database;

mod audit;
mod calls;
mod errors;
mod indexing;
mod reconcile;
mod rows;

use self::audit::append_audit;
pub use self::errors::port_error;
use self::errors::{is_deadlock, is_duplicate_key};
use self::rows::{PERSON_COLUMNS, PersonRow, people, utf8};

/// A face set aside for deletion, once. `IGNORE` rather than `ON DUPLICATE
/// KEY UPDATE`: the functions may add to this table, never update it (their
/// grants). It would also cut a value too long for the column, but a FaceId
/// is a UUID.
const RETIRE_FACE: &str = "INSERT IGNORE INTO retired_face (face_id) VALUES (?)";

/// Attempts of a transaction that InnoDB chose as a deadlock victim.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// Every operation signs in again once if the server refused the login
/// (see [`Database::run`]).
#[derive(Clone)]
pub struct MysqlPersonStore {
    database: Database,
}

impl MysqlPersonStore {
    pub fn new(database: impl Into<Database>) -> Self {
        Self {
            database: database.into(),
        }
    }

    pub fn pool(&self) -> &MySqlPool {
        self.database.pool()
    }

    /// The person just written with `id`.
    async fn written(&self, id: PersonId) -> Result<Person, PortError> {
        self.get(id).await?.ok_or_else(|| {
            PortError::Permanent("the person vanished right after being written".into())
        })
    }
}

/// A new pending person and their enrolment in the trail, in `tx`.
async fn insert_pending(
    tx: &mut Transaction<'_, MySql>,
    person: &NewPerson,
    audit: &AuditContext,
) -> Result<PersonId, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO person (lastname, firstname, object_key, status) \
         VALUES (?, ?, ?, 'pending')",
    )
    .bind(&person.lastname)
    .bind(&person.firstname)
    .bind(&person.object_key)
    .execute(&mut **tx)
    .await?;
    let id = PersonId(inserted.last_insert_id());
    append_audit(tx, AuditAction::Enrolment, Some(id), audit, &json!({})).await?;
    Ok(id)
}

/// Locks person `id`'s row; `false` when there is none.
async fn lock_person(tx: &mut Transaction<'_, MySql>, id: PersonId) -> Result<bool, sqlx::Error> {
    let found: Option<u64> = sqlx::query_scalar("SELECT id FROM person WHERE id = ? FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

async fn fetch_by_key(
    tx: &mut Transaction<'_, MySql>,
    object_key: &str,
    for_update: bool,
) -> Result<Option<Person>, sqlx::Error> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {PERSON_COLUMNS} FROM person WHERE object_key = ?{lock}");
    let row: Option<PersonRow> = sqlx::query_as(&sql)
        .bind(object_key)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Person::try_from).transpose()
}

#[async_trait]
impl PersonStore for MysqlPersonStore {
    async fn create_pending(
        &self,
        person: &NewPerson,
        audit: &AuditContext,
    ) -> Result<Person, PortError> {
        let id = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            let id = insert_pending(&mut tx, person, audit).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }
        .await
        .map_err(port_error)?;
        self.written(id).await
    }

    async fn create_pending_once(
        &self,
        person: &NewPerson,
        request: &RequestKey,
        audit: &AuditContext,
    ) -> Result<CreatedOnce, PortError> {
        let created = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            let id = insert_pending(&mut tx, person, audit).await?;
            // The key's primary key decides between two requests with it.
            let noted = sqlx::query(
                "INSERT INTO upload_request (caller, request_key, request_digest, person_id) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&request.caller)
            .bind(&request.key)
            .bind(&request.digest)
            .bind(id.0)
            .execute(&mut *tx)
            .await;
            match noted {
                Err(error) if is_duplicate_key(&error) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                other => other?,
            };
            sqlx::query(
                "DELETE FROM upload_request WHERE caller = ? \
                 AND created_at < CURRENT_TIMESTAMP(3) - INTERVAL 1 DAY",
            )
            .bind(&request.caller)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(id))
        }
        .await
        .map_err(port_error)?;
        if let Some(id) = created {
            return Ok(CreatedOnce::New(self.written(id).await?));
        }
        let earlier: Option<(u64, String)> = self
            .database
            .run(|pool| {
                sqlx::query_as(
                    "SELECT person_id, request_digest FROM upload_request \
                     WHERE caller = ? AND request_key = ?",
                )
                .bind(&request.caller)
                .bind(&request.key)
                .fetch_optional(pool)
            })
            .await
            .map_err(port_error)?;
        let Some((id, digest)) = earlier else {
            return Err(PortError::Transient(
                "an idempotency key was taken and released at once".into(),
            ));
        };
        Ok(CreatedOnce::Earlier {
            person: self.get(PersonId(id)).await?,
            same_request: digest == request.digest,
        })
    }

    async fn mark_pending(
        &self,
        id: PersonId,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        // The current face stays until the new photo is indexed; only the
        // status says a photo is on its way.
        let found = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            if !lock_person(&mut tx, id).await? {
                // Ended now: a transaction left to the pool keeps its locks
                // until the connection is next used.
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("UPDATE person SET status = 'pending', status_reason = NULL WHERE id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            append_audit(
                &mut tx,
                AuditAction::PhotoReplacement,
                Some(id),
                audit,
                &json!({}),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await
        .map_err(port_error)?;
        if found { self.get(id).await } else { Ok(None) }
    }

    async fn rename(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        let found = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            if !lock_person(&mut tx, id).await? {
                // Ended now: a transaction left to the pool keeps its locks
                // until the connection is next used.
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                "UPDATE person SET lastname = COALESCE(?, lastname), \
                 firstname = COALESCE(?, firstname) WHERE id = ?",
            )
            .bind(lastname)
            .bind(firstname)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            append_audit(
                &mut tx,
                AuditAction::Rename,
                Some(id),
                audit,
                &detail::rename(lastname, firstname),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await
        .map_err(port_error)?;
        if found { self.get(id).await } else { Ok(None) }
    }

    async fn rename_with_key(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
        to_key: &str,
        audit: &AuditContext,
    ) -> Result<Option<Person>, PortError> {
        let found = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            // Binary collation: the driver sees bytes.
            let from_key: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT object_key FROM person WHERE id = ? FOR UPDATE")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(from_key) = from_key.map(utf8).transpose()? else {
                tx.rollback().await?;
                return Ok(false);
            };
            // No version of the new key is recorded: the copy's event is.
            sqlx::query(
                "UPDATE person SET lastname = COALESCE(?, lastname), \
                 firstname = COALESCE(?, firstname), object_key = ?, \
                 object_etag = NULL, object_sequencer = NULL WHERE id = ?",
            )
            .bind(lastname)
            .bind(firstname)
            .bind(to_key)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO key_move (person_id, from_key, to_key) VALUES (?, ?, ?)")
                .bind(id.0)
                .bind(&from_key)
                .bind(to_key)
                .execute(&mut *tx)
                .await?;
            let mut detail = detail::rename(lastname, firstname);
            detail["newKey"] = json!(true);
            append_audit(&mut tx, AuditAction::Rename, Some(id), audit, &detail).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await
        .map_err(port_error)?;
        if found { self.get(id).await } else { Ok(None) }
    }

    async fn unfinished_move(&self, id: PersonId) -> Result<Option<KeyMove>, PortError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .database
            .run(|pool| {
                sqlx::query_as("SELECT from_key, to_key FROM key_move WHERE person_id = ?")
                    .bind(id.0)
                    .fetch_optional(pool)
            })
            .await
            .map_err(port_error)?;
        row.map(|(from, to)| {
            Ok(KeyMove {
                from: utf8(from)?,
                to: utf8(to)?,
            })
        })
        .transpose()
        .map_err(port_error)
    }

    async fn forget_move(&self, id: PersonId) -> Result<(), PortError> {
        self.database
            .run(|pool| {
                sqlx::query("DELETE FROM key_move WHERE person_id = ?")
                    .bind(id.0)
                    .execute(pool)
            })
            .await
            .map(drop)
            .map_err(port_error)
    }

    async fn get(&self, id: PersonId) -> Result<Option<Person>, PortError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM person WHERE id = ?");
        let row: Option<PersonRow> = self
            .database
            .run(|pool| sqlx::query_as(&sql).bind(id.0).fetch_optional(pool))
            .await
            .map_err(port_error)?;
        row.map(Person::try_from).transpose().map_err(port_error)
    }

    async fn find_by_key(&self, object_key: &str) -> Result<Option<Person>, PortError> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM person WHERE object_key = ?");
        let row: Option<PersonRow> = self
            .database
            .run(|pool| sqlx::query_as(&sql).bind(object_key).fetch_optional(pool))
            .await
            .map_err(port_error)?;
        row.map(Person::try_from).transpose().map_err(port_error)
    }

    async fn find_by_identities(&self, face_ids: &[String]) -> Result<Vec<Person>, PortError> {
        if face_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<PersonRow> = self
            .database
            .run(|pool| async move {
                let mut query = QueryBuilder::<MySql>::new(format!(
                    "SELECT {PERSON_COLUMNS} FROM person WHERE identity"
                ));
                push_in_list(&mut query, face_ids);
                query.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        people(rows)
    }

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Person>, PortError> {
        let rows: Vec<PersonRow> = self
            .database
            .run(|pool| async move {
                let mut query =
                    QueryBuilder::<MySql>::new(format!("SELECT {PERSON_COLUMNS} FROM person"));
                match &filter.name_prefix {
                    None => {
                        query.push(" WHERE 1 = 1");
                        push_list_conditions(&mut query, filter);
                    }
                    Some(prefix) => {
                        // Each name searched on its own, in id order and
                        // limited, then merged: with `lastname LIKE ? OR
                        // firstname LIKE ?` MariaDB merged both indexes and
                        // sorted every match (at a million people, 141 ms
                        // for a prefix one in 18 share, 414 ms for "A").
                        // Alone, each branch takes its name's index for a
                        // rare prefix and the id order for a common one:
                        // under 3 ms for either.
                        let pattern = format!("{}%", escape_like(prefix));
                        query.push(" JOIN (");
                        for (n, column) in ["lastname", "firstname"].into_iter().enumerate() {
                            if n > 0 {
                                query.push(" UNION ");
                            }
                            query
                                .push(format!(
                                    "SELECT id FROM (SELECT id FROM person WHERE {column} LIKE "
                                ))
                                .push_bind(pattern.clone());
                            push_list_conditions(&mut query, filter);
                            query
                                .push(" ORDER BY id DESC LIMIT ")
                                .push_bind(filter.limit)
                                .push(format!(") AS by_{column}"));
                        }
                        query.push(") AS named USING (id)");
                    }
                }
                query
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(filter.limit);
                query.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        people(rows)
    }

    async fn record_indexing(
        &self,
        record: &IndexingRecord,
        audit: &AuditContext,
    ) -> Result<RecordOutcome, PortError> {
        let mut attempt = 1;
        loop {
            match self.record_once(record, audit).await {
                Err(error) if is_deadlock(&error) && attempt < DEADLOCK_ATTEMPTS => attempt += 1,
                other => return other.map_err(port_error),
            }
        }
    }

    async fn begin_erasure(&self, id: PersonId) -> Result<ErasureBegun, PortError> {
        async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            // The person's row first, as the indexer locks it (one order, no deadlock).
            let sql = format!("SELECT {PERSON_COLUMNS} FROM person WHERE id = ? FOR UPDATE");
            let person: Option<PersonRow> = sqlx::query_as(&sql)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
            // A plain read: the person's row lock already keeps other
            // erasures of the person out, and a locking read of a missing
            // row would take a gap lock that deadlocks concurrent erasures
            // of other people when they insert.
            let recorded: Option<(DateTime<Utc>, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT requested_at, receipt FROM erasure WHERE person_id = ?")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(person) = person.map(Person::try_from).transpose()? else {
                tx.rollback().await?;
                // The record goes with the receipt, in one transaction.
                return match recorded {
                    Some((_, Some(receipt))) => serde_json::from_slice(&receipt)
                        .map(ErasureBegun::Finished)
                        .map_err(|e| sqlx::Error::Decode(Box::new(e))),
                    _ => Ok(ErasureBegun::NoSuchPerson),
                };
            };
            let requested_at = match recorded {
                Some((requested_at, _)) => requested_at,
                None => {
                    sqlx::query(
                        "INSERT INTO erasure (person_id, key_digest, key_has_token) VALUES (?, ?, ?)",
                    )
                    .bind(id.0)
                    .bind(key_digest(&person.object_key).as_slice())
                    .bind(ObjectKey::parse(&person.object_key).is_ok_and(|key| key.has_token()))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query_scalar("SELECT requested_at FROM erasure WHERE person_id = ?")
                        .bind(id.0)
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            let mut face_ids: Vec<String> = sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT face_id FROM person_face WHERE person_id = ? ORDER BY recorded_at, face_id",
            )
            .bind(id.0)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(utf8)
            .collect::<Result<_, _>>()?;
            if let Some(current) = &person.identity
                && !face_ids.contains(current)
            {
                face_ids.push(current.clone());
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(ErasureBegun::Started(Erasure {
                person_id: id,
                object_key: person.object_key,
                face_ids,
                requested_at,
            }))
        }
        .await
        .map_err(port_error)
    }

    async fn finish_erasure(
        &self,
        erasure: &Erasure,
        receipt: &ErasureReceipt,
        audit: &AuditContext,
    ) -> Result<ErasureFinished, PortError> {
        let id = erasure.person_id;
        let receipt_json = detail::erasure(receipt);
        async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            // The person's row first, as everywhere: a second finisher
            // waits here for the first to commit...
            sqlx::query("DELETE FROM person WHERE id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            // ...then reads (locking, so the latest) the receipt it kept.
            let kept: Option<Option<Vec<u8>>> =
                sqlx::query_scalar("SELECT receipt FROM erasure WHERE person_id = ? FOR UPDATE")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(Some(earlier)) = kept {
                tx.rollback().await?;
                return serde_json::from_slice(&earlier)
                    .map(ErasureFinished::Before)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)));
            }
            sqlx::query("DELETE FROM person_face WHERE person_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            if !erasure.face_ids.is_empty() {
                let mut query =
                    QueryBuilder::<MySql>::new("DELETE FROM retired_face WHERE face_id");
                push_in_list(&mut query, &erasure.face_ids);
                query.build().execute(&mut *tx).await?;
            }
            // Nobody stays flagged against a person who is gone.
            sqlx::query(
                "UPDATE person SET duplicate_of = NULL, duplicate_similarity = NULL \
                 WHERE duplicate_of = ?",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM distinct_pair WHERE person_id = ? OR other_person_id = ?")
                .bind(id.0)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE erasure SET completed_at = ?, receipt = ? WHERE person_id = ?")
                .bind(receipt.completed_at)
                .bind(receipt_json.to_string())
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            append_audit(
                &mut tx,
                AuditAction::Erasure,
                Some(id),
                audit,
                &receipt_json,
            )
            .await?;
            tx.commit().await?;
            Ok(ErasureFinished::Recorded)
        }
        .await
        .map_err(port_error)
    }

    async fn resolve_duplicate(
        &self,
        id: PersonId,
        resolution: Resolution,
        audit: &AuditContext,
    ) -> Result<Resolved, PortError> {
        let resolved = async {
            let mut tx = self.database.run(|pool| pool.begin()).await?;
            let flagged: Option<(Option<u64>, Option<f32>)> = sqlx::query_as(
                "SELECT duplicate_of, duplicate_similarity FROM person WHERE id = ? FOR UPDATE",
            )
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
            let (other, similarity) = match flagged {
                None => {
                    tx.rollback().await?;
                    return Ok(Resolved::NoSuchPerson);
                }
                Some((None, _)) => {
                    tx.rollback().await?;
                    return Ok(Resolved::NotFlagged);
                }
                Some((Some(other), similarity)) => (PersonId(other), similarity),
            };
            if resolution == Resolution::Different {
                let (low, high) = (id.min(other), id.max(other));
                sqlx::query(
                    "INSERT IGNORE INTO distinct_pair (person_id, other_person_id) VALUES (?, ?)",
                )
                .bind(low.0)
                .bind(high.0)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE person SET duplicate_of = NULL, duplicate_similarity = NULL WHERE id = ?",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
            append_audit(
                &mut tx,
                AuditAction::DuplicateResolution,
                Some(id),
                audit,
                &detail::duplicate_resolution(resolution, other, similarity),
            )
            .await?;
            let sql = format!("SELECT {PERSON_COLUMNS} FROM person WHERE id = ?");
            let person: PersonRow = sqlx::query_as(&sql).bind(id.0).fetch_one(&mut *tx).await?;
            let person = Person::try_from(person)?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Resolved::Cleared {
                person: Box::new(person),
                other,
            })
        }
        .await
        .map_err(port_error)?;
        Ok(resolved)
    }

    async fn ruled_out_duplicates(&self, id: PersonId) -> Result<Vec<PersonId>, PortError> {
        let others: Vec<u64> = self
            .database
            .run(|pool| {
                sqlx::query_scalar(
                    "SELECT other_person_id FROM distinct_pair WHERE person_id = ? \
                     UNION SELECT person_id FROM distinct_pair WHERE other_person_id = ?",
                )
                .bind(id.0)
                .bind(id.0)
                .fetch_all(pool)
            })
            .await
            .map_err(port_error)?;
        Ok(others.into_iter().map(PersonId).collect())
    }

    async fn faces_ever(&self, id: PersonId) -> Result<Vec<String>, PortError> {
        let faces: Vec<Vec<u8>> = self
            .database
            .run(|pool| {
                sqlx::query_scalar(
                    "SELECT face_id FROM person_face WHERE person_id = ? ORDER BY recorded_at, face_id",
                )
                .bind(id.0)
                .fetch_all(pool)
            })
            .await
            .map_err(port_error)?;
        faces
            .into_iter()
            .map(|face| utf8(face).map_err(port_error))
            .collect()
    }

    async fn retired_faces(&self, limit: u32) -> Result<Vec<String>, PortError> {
        self.database
            .run(|pool| {
                sqlx::query_scalar("SELECT face_id FROM retired_face ORDER BY retired_at LIMIT ?")
                    .bind(limit)
                    .fetch_all(pool)
            })
            .await
            .map_err(port_error)
    }

    async fn set_faces_aside(&self, face_ids: &[String]) -> Result<(), PortError> {
        if face_ids.is_empty() {
            return Ok(());
        }
        self.database
            .run(|pool| async move {
                // As RETIRE_FACE, for several faces.
                let mut query =
                    QueryBuilder::<MySql>::new("INSERT IGNORE INTO retired_face (face_id) ");
                query.push_values(face_ids, |mut row, face| {
                    row.push_bind(face);
                });
                query.build().execute(pool).await
            })
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn forget_retired_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        if face_ids.is_empty() {
            return Ok(());
        }
        self.database
            .run(|pool| async move {
                let mut query =
                    QueryBuilder::<MySql>::new("DELETE FROM retired_face WHERE face_id");
                push_in_list(&mut query, face_ids);
                query.build().execute(pool).await
            })
            .await
            .map_err(port_error)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), PortError> {
        self.database
            .run(|pool| sqlx::query("SELECT 1").execute(pool))
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

/// ` IN (?, ?, ...)` with one bound value per id (`ids` is not empty).
fn push_in_list<'a>(query: &mut QueryBuilder<'a, MySql>, ids: &'a [String]) {
    query.push(" IN (");
    let mut separated = query.separated(", ");
    for id in ids {
        separated.push_bind(id);
    }
    query.push(")");
}

/// The listing's conditions other than the name, each ` AND …`.
fn push_list_conditions(query: &mut QueryBuilder<'_, MySql>, filter: &ListFilter) {
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if filter.possible_duplicates {
        query.push(" AND duplicate_of IS NOT NULL");
    }
    if let Some(sha256) = &filter.photo_sha256 {
        query.push(" AND photo_sha256 = ").push_bind(sha256.clone());
    }
    if let Some(before) = filter.before_id {
        query.push(" AND id < ").push_bind(before.0);
    }
}

/// `%`, `_` and the escape character itself match literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
