//! The person store on MySQL / Aurora MySQL / MariaDB.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::Sequencer;
use registry::person::{FaceBox, Person, PersonId, Status};
use registry::ports::{
    IndexingRecord, ListFilter, NewPerson, PersonStore, PortError, RecordOutcome,
};
use sqlx::mysql::MySqlPool;
use sqlx::{MySql, QueryBuilder, Transaction};

use crate::database::Database;

const PERSON_COLUMNS: &str = "id, lastname, firstname, object_key, identity, status, status_reason, \
     object_etag, object_sequencer, face_confidence, face_left, face_top, face_width, face_height, \
     created_at, updated_at";

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

    async fn record_once(&self, record: &IndexingRecord) -> Result<RecordOutcome, sqlx::Error> {
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
        let face = record.face_box;
        sqlx::query(
            "UPDATE person SET status = ?, status_reason = ?, identity = ?, object_etag = ?, \
             object_sequencer = ?, face_confidence = ?, face_left = ?, face_top = ?, face_width = ?, \
             face_height = ? WHERE id = ?",
        )
        .bind(record.status.as_str())
        .bind(&record.status_reason)
        .bind(&record.identity)
        .bind(&record.object_etag)
        .bind(&record.object_sequencer)
        .bind(record.face_confidence)
        .bind(face.map(|f| f.left))
        .bind(face.map(|f| f.top))
        .bind(face.map(|f| f.width))
        .bind(face.map(|f| f.height))
        .bind(current.id.0)
        .execute(&mut *tx)
        .await?;
        let retired_face = current
            .identity
            .filter(|old| Some(old) != record.identity.as_ref());
        if let Some(old) = &retired_face {
            sqlx::query("INSERT IGNORE INTO retired_face (face_id) VALUES (?)")
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
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
    async fn create_pending(&self, person: &NewPerson) -> Result<Person, PortError> {
        let inserted = self
            .database
            .run(|pool| {
                sqlx::query(
                    "INSERT INTO person (lastname, firstname, object_key, status) \
                     VALUES (?, ?, ?, 'pending')",
                )
                .bind(&person.lastname)
                .bind(&person.firstname)
                .bind(&person.object_key)
                .execute(pool)
            })
            .await
            .map_err(port_error)?;
        self.get(PersonId(inserted.last_insert_id()))
            .await?
            .ok_or_else(|| {
                PortError::Permanent("the person vanished right after being written".into())
            })
    }

    async fn mark_pending(&self, id: PersonId) -> Result<Option<Person>, PortError> {
        // The current face stays until the new photo is indexed; only the
        // status says a photo is on its way.
        self.database
            .run(|pool| {
                sqlx::query(
                    "UPDATE person SET status = 'pending', status_reason = NULL WHERE id = ?",
                )
                .bind(id.0)
                .execute(pool)
            })
            .await
            .map_err(port_error)?;
        self.get(id).await
    }

    async fn rename(
        &self,
        id: PersonId,
        lastname: Option<&str>,
        firstname: Option<&str>,
    ) -> Result<Option<Person>, PortError> {
        self.database
            .run(|pool| {
                sqlx::query(
                    "UPDATE person SET lastname = COALESCE(?, lastname), \
                     firstname = COALESCE(?, firstname) WHERE id = ?",
                )
                .bind(lastname)
                .bind(firstname)
                .bind(id.0)
                .execute(pool)
            })
            .await
            .map_err(port_error)?;
        self.get(id).await
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

    async fn list(&self, filter: &ListFilter) -> Result<Vec<Person>, PortError> {
        let rows: Vec<PersonRow> = self
            .database
            .run(|pool| async move {
                let mut query = QueryBuilder::<MySql>::new(format!(
                    "SELECT {PERSON_COLUMNS} FROM person WHERE 1 = 1"
                ));
                if let Some(status) = filter.status {
                    query.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(prefix) = &filter.name_prefix {
                    let pattern = format!("{}%", escape_like(prefix));
                    query
                        .push(" AND (lastname LIKE ")
                        .push_bind(pattern.clone())
                        .push(" OR firstname LIKE ")
                        .push_bind(pattern)
                        .push(")");
                }
                if let Some(before) = filter.before_id {
                    query.push(" AND id < ").push_bind(before.0);
                }
                query
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(filter.limit);
                query.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        rows.into_iter()
            .map(Person::try_from)
            .collect::<Result<_, _>>()
            .map_err(port_error)
    }

    async fn record_indexing(&self, record: &IndexingRecord) -> Result<RecordOutcome, PortError> {
        let mut attempt = 1;
        loop {
            match self.record_once(record).await {
                Err(error) if is_deadlock(&error) && attempt < DEADLOCK_ATTEMPTS => attempt += 1,
                other => return other.map_err(port_error),
            }
        }
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

    async fn forget_retired_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        if face_ids.is_empty() {
            return Ok(());
        }
        self.database
            .run(|pool| async move {
                let mut query =
                    QueryBuilder::<MySql>::new("DELETE FROM retired_face WHERE face_id IN (");
                let mut ids = query.separated(", ");
                for id in face_ids {
                    ids.push_bind(id);
                }
                query.push(")");
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

fn is_deadlock(error: &sqlx::Error) -> bool {
    mysql_code(error) == Some(1213)
}

fn mysql_code(error: &sqlx::Error) -> Option<u16> {
    error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|e| e.number())
}

/// Connection trouble, deadlocks and lock waits pass; the rest does not.
pub fn port_error(error: sqlx::Error) -> PortError {
    match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => PortError::Transient(format!("database: {error}")),
        sqlx::Error::Database(_) => match mysql_code(&error) {
            // deadlock, lock wait timeout, too many connections, server shutting down, gone away, lost
            Some(1213 | 1205 | 1040 | 1053 | 2006 | 2013) => {
                PortError::Transient(format!("database: {error}"))
            }
            _ => PortError::Permanent(format!("database: {error}")),
        },
        _ => PortError::Permanent(format!("database: {error}")),
    }
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: u64,
    lastname: String,
    firstname: String,
    /// Its binary collation makes the driver see bytes.
    object_key: Vec<u8>,
    identity: Option<String>,
    status: String,
    status_reason: Option<String>,
    object_etag: Option<String>,
    object_sequencer: Option<String>,
    face_confidence: Option<f32>,
    face_left: Option<f32>,
    face_top: Option<f32>,
    face_width: Option<f32>,
    face_height: Option<f32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<PersonRow> for Person {
    type Error = sqlx::Error;

    fn try_from(row: PersonRow) -> Result<Self, Self::Error> {
        let status = row
            .status
            .parse::<Status>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let face_box = match (row.face_left, row.face_top, row.face_width, row.face_height) {
            (Some(left), Some(top), Some(width), Some(height)) => Some(FaceBox {
                left,
                top,
                width,
                height,
            }),
            _ => None,
        };
        Ok(Person {
            id: PersonId(row.id),
            lastname: row.lastname,
            firstname: row.firstname,
            object_key: String::from_utf8(row.object_key)
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            identity: row.identity,
            status,
            status_reason: row.status_reason,
            object_etag: row.object_etag,
            object_sequencer: row.object_sequencer,
            face_confidence: row.face_confidence,
            face_box,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn pool_trouble_is_transient() {
        assert!(port_error(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!port_error(sqlx::Error::RowNotFound).is_transient());
    }
}
