//! The audit trail: entries appended in the transaction of the change they
//! record, and read back newest first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use registry::audit::{Actor, AuditAction, AuditContext, AuditEntry, AuditFilter, AuditTrail};
use registry::person::PersonId;
use registry::ports::PortError;
use serde_json::{Value, json};
use sqlx::{MySql, QueryBuilder, Transaction};

use super::MysqlPersonStore;
use super::errors::port_error;
use super::rows::utf8;

/// Appends to the audit trail, in the transaction of the change it records.
pub(super) async fn append_audit(
    tx: &mut Transaction<'_, MySql>,
    action: AuditAction,
    person: Option<PersonId>,
    audit: &AuditContext,
    detail: &Value,
) -> Result<(), sqlx::Error> {
    let actor = &audit.actor;
    sqlx::query(
        "INSERT INTO audit_event (action, person_id, actor_subject, actor_username, actor_email, \
         actor_groups, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(action.as_str())
    .bind(person.map(|p| p.0))
    .bind(&actor.subject)
    .bind(&actor.username)
    .bind(&actor.email)
    .bind((!actor.groups.is_empty()).then(|| json!(actor.groups).to_string()))
    .bind(&audit.request_id)
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl AuditTrail for MysqlPersonStore {
    async fn audit_trail(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, PortError> {
        let rows: Vec<AuditRow> = self
            .database
            .run(|pool| async move {
                let mut query = QueryBuilder::<MySql>::new(
                    "SELECT id, occurred_at, action, person_id, actor_subject, actor_username, \
                     actor_email, actor_groups, request_id, detail FROM audit_event WHERE 1 = 1",
                );
                if let Some(person) = filter.person_id {
                    query.push(" AND person_id = ").push_bind(person.0);
                }
                if let Some(action) = filter.action {
                    query.push(" AND action = ").push_bind(action.as_str());
                }
                if let Some(subject) = &filter.subject {
                    query.push(" AND actor_subject = ").push_bind(subject);
                }
                if let Some(before) = filter.before_id {
                    query.push(" AND id < ").push_bind(before);
                }
                query
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(filter.limit);
                query.build_query_as().fetch_all(pool).await
            })
            .await
            .map_err(port_error)?;
        rows.into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<_, _>>()
            .map_err(port_error)
    }

    async fn append(
        &self,
        entries: &[(AuditAction, Option<PersonId>, Value)],
        audit: &AuditContext,
    ) -> Result<(), PortError> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement, all or nothing, in one round trip: reads are
        // recorded on the listing's path, and must cost it little.
        let actor = &audit.actor;
        let groups = (!actor.groups.is_empty()).then(|| json!(actor.groups).to_string());
        let row = "(?, ?, ?, ?, ?, ?, ?, ?)";
        let sql = format!(
            "INSERT INTO audit_event (action, person_id, actor_subject, actor_username, \
             actor_email, actor_groups, request_id, detail) VALUES {}",
            vec![row; entries.len()].join(", ")
        );
        self.database
            .run(|pool| {
                let mut insert = sqlx::query(&sql);
                for (action, person, detail) in entries {
                    insert = insert
                        .bind(action.as_str())
                        .bind(person.map(|p| p.0))
                        .bind(&actor.subject)
                        .bind(&actor.username)
                        .bind(&actor.email)
                        .bind(&groups)
                        .bind(&audit.request_id)
                        .bind(detail.to_string());
                }
                insert.execute(pool)
            })
            .await
            .map(|_| ())
            .map_err(port_error)
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: u64,
    occurred_at: DateTime<Utc>,
    // Binary collation: the driver sees bytes.
    action: Vec<u8>,
    person_id: Option<u64>,
    actor_subject: Option<Vec<u8>>,
    actor_username: Option<Vec<u8>>,
    actor_email: Option<Vec<u8>>,
    actor_groups: Option<Vec<u8>>,
    request_id: Vec<u8>,
    detail: Vec<u8>,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = sqlx::Error;

    fn try_from(row: AuditRow) -> Result<Self, Self::Error> {
        let decode = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
        let action = utf8(row.action)?
            .parse::<AuditAction>()
            .map_err(|e| decode(Box::new(e)))?;
        let groups = match row.actor_groups {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| decode(Box::new(e)))?,
            None => Vec::new(),
        };
        Ok(AuditEntry {
            id: row.id,
            occurred_at: row.occurred_at,
            action,
            person_id: row.person_id.map(PersonId),
            actor: Actor {
                subject: row.actor_subject.map(utf8).transpose()?,
                username: row.actor_username.map(utf8).transpose()?,
                email: row.actor_email.map(utf8).transpose()?,
                groups,
            },
            request_id: utf8(row.request_id)?,
            detail: serde_json::from_slice(&row.detail).map_err(|e| decode(Box::new(e)))?,
        })
    }
}
