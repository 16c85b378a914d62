//! The audit trail: who did what to which person, and when. It is
//! append-only and holds person ids, never names, keys or photos, so that
//! nothing in it outlives an erasure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::paging;
use crate::person::PersonId;
use crate::ports::PortError;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A new person, and the URL their photo is sent to.
    Enrolment,
    /// A new photo of a person already enrolled.
    PhotoReplacement,
    /// The names corrected.
    Rename,
    /// The indexer's outcome for a photo (indexed or rejected).
    Indexing,
    /// A photo searched (identify); one entry per person it matched, or one
    /// without a person when it matched nobody.
    Search,
    /// Everything about a person exported (the right of access).
    Export,
    /// A person looked at: their record and a link to their photo.
    View,
    /// A page of the listing: with which filter and how many people, never
    /// their names (nor the name searched for).
    Listing,
    /// A possible duplicate resolved: the same person, or different people.
    DuplicateResolution,
    /// A person erased; the detail is the receipt.
    Erasure,
    /// Reconcile recorded what it found: a photo that never arrived, or
    /// one gone from the bucket.
    Reconcile,
}

impl AuditAction {
    pub const ALL: [AuditAction; 11] = [
        AuditAction::Enrolment,
        AuditAction::PhotoReplacement,
        AuditAction::Rename,
        AuditAction::Indexing,
        AuditAction::Search,
        AuditAction::Export,
        AuditAction::View,
        AuditAction::Listing,
        AuditAction::DuplicateResolution,
        AuditAction::Erasure,
        AuditAction::Reconcile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Enrolment => "enrolment",
            AuditAction::PhotoReplacement => "photo_replacement",
            AuditAction::Rename => "rename",
            AuditAction::Indexing => "indexing",
            AuditAction::Search => "search",
            AuditAction::Export => "export",
            AuditAction::View => "view",
            AuditAction::Listing => "listing",
            AuditAction::DuplicateResolution => "duplicate_resolution",
            AuditAction::Erasure => "erasure",
            AuditAction::Reconcile => "reconcile",
        }
    }
}

impl std::str::FromStr for AuditAction {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL
            .into_iter()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| AuditError::BadAction(s.to_owned()))
    }
}

/// Who did it: a signed-in operator (from their token), or the registry
/// itself (the indexer), which has no subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub subject: Option<String>,
    pub username: Option<String>,
    /// Their e-mail, when their request proved it (entries written before
    /// the registry recorded e-mails have none).
    #[serde(default)]
    pub email: Option<String>,
    pub groups: Vec<String>,
}

impl Actor {
    /// The registry's own work (indexing).
    pub fn registry() -> Self {
        Self::default()
    }
}

/// Who asks, in which request: what a change is recorded with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    pub actor: Actor,
    pub request_id: String,
}

/// One recorded action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: u64,
    pub occurred_at: DateTime<Utc>,
    pub action: AuditAction,
    pub person_id: Option<PersonId>,
    pub actor: Actor,
    pub request_id: String,
    /// What else is worth knowing (FaceIds, statuses), never a name.
    pub detail: Value,
}

/// What the trail is asked for: one page, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditFilter {
    pub person_id: Option<PersonId>,
    pub action: Option<AuditAction>,
    /// The caller's subject (`sub`).
    pub subject: Option<String>,
    /// Only entries before this one (the keyset cursor).
    pub before_id: Option<u64>,
    pub limit: u32,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 100;
const CURSOR_PREFIX: &str = "a1:";
/// Subjects are Cognito's (a UUID); anything much longer is not one.
pub const MAX_SUBJECT_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("action {0:?} is not one of {actions}", actions = AuditAction::ALL.map(AuditAction::as_str).join(", "))]
    BadAction(String),
    #[error("person must be a person id")]
    BadPerson,
    #[error("caller must be a subject of at most {MAX_SUBJECT_CHARS} characters")]
    BadCaller,
    #[error("limit must be a whole number from 1 to {MAX_PAGE_SIZE}")]
    BadLimit,
    #[error("cursor is not one this trail issued")]
    BadCursor,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The trail's parameters as they arrive (query string values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditParams {
    pub person: Option<String>,
    pub action: Option<String>,
    pub caller: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub fn encode_cursor(last: u64) -> String {
    paging::encode_cursor(CURSOR_PREFIX, last)
}

pub fn parse_params(params: &AuditParams) -> Result<AuditFilter, AuditError> {
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let person_id = non_empty(&params.person)
        .map(|p| {
            p.parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .map(PersonId)
                .ok_or(AuditError::BadPerson)
        })
        .transpose()?;
    let action = non_empty(&params.action)
        .map(|a| a.parse::<AuditAction>())
        .transpose()?;
    let subject = non_empty(&params.caller);
    if subject
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SUBJECT_CHARS || s.chars().any(char::is_control))
    {
        return Err(AuditError::BadCaller);
    }
    let limit = paging::parse_limit(
        non_empty(&params.limit).as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )
    .ok_or(AuditError::BadLimit)?;
    let before_id = non_empty(&params.cursor)
        .map(|c| paging::decode_cursor(CURSOR_PREFIX, &c).ok_or(AuditError::BadCursor))
        .transpose()?;
    Ok(AuditFilter {
        person_id,
        action,
        subject,
        before_id,
        limit,
    })
}

/// One page of the trail, and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Reads the trail, and records what changes nothing (a search). Changes
/// are recorded in their own transaction (see the person store's methods
/// that take an [`AuditContext`]).
#[async_trait::async_trait]
pub trait AuditTrail: Send + Sync {
    async fn audit_trail(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, PortError>;
    /// Appends entries (action, person, detail) with `audit`, all or none.
    async fn append(
        &self,
        entries: &[(AuditAction, Option<PersonId>, Value)],
        audit: &AuditContext,
    ) -> Result<(), PortError>;
}

pub async fn read_trail<T: AuditTrail + ?Sized>(
    trail: &T,
    filter: &AuditFilter,
) -> Result<AuditPage, AuditError> {
    let mut probe = filter.clone();
    probe.limit = filter.limit + 1;
    let (items, next_cursor) =
        paging::split_page(trail.audit_trail(&probe).await?, filter.limit, |e| {
            encode_cursor(e.id)
        });
    Ok(AuditPage { items, next_cursor })
}

/// What the trail says of each change, whichever store records it: ids,
/// statuses and field names, never a name or a key.
pub mod detail {
    use serde_json::{Value, json};

    use crate::duplicates::Resolution;
    use crate::person::{PersonId, Status};
    use crate::ports::IndexingRecord;

    /// An indexing outcome recorded, and the face it replaced, if any.
    pub fn indexing(record: &IndexingRecord, retired_face: Option<&str>) -> Value {
        let mut detail = json!({
            "status": record.status,
            "sequencer": record.object_sequencer,
        });
        if let Some(face) = &record.identity {
            detail["faceId"] = json!(face);
        }
        if let Some(old) = retired_face {
            detail["retiredFaceId"] = json!(old);
        }
        if let Some(duplicate) = &record.possible_duplicate {
            detail["possibleDuplicate"] = json!(duplicate);
        }
        detail
    }

    /// Which names changed, not what they are.
    pub fn rename(lastname: Option<&str>, firstname: Option<&str>) -> Value {
        let fields: Vec<&str> = [("lastname", lastname), ("firstname", firstname)]
            .into_iter()
            .filter_map(|(field, value)| value.map(|_| field))
            .collect();
        json!({ "fields": fields })
    }

    pub fn duplicate_resolution(
        resolution: Resolution,
        other: PersonId,
        similarity: Option<f32>,
    ) -> Value {
        json!({
            "resolution": resolution,
            "otherPersonId": other,
            "similarity": similarity,
        })
    }

    /// A listing page: the filter, without the name searched for (only
    /// that there was one), and whether it was a first page.
    pub fn listing(filter: &crate::ports::ListFilter) -> Value {
        json!({
            "status": filter.status,
            "possibleDuplicates": filter.possible_duplicates,
            "nameSearch": filter.name_prefix.is_some(),
            "photoSearch": filter.photo_sha256.is_some(),
            "nextPage": filter.before_id.is_some(),
            "limit": filter.limit,
        })
    }

    /// An erasure finished: its receipt (ids and counts, no name or key).
    pub fn erasure(receipt: &crate::erasure::ErasureReceipt) -> Value {
        json!(receipt)
    }

    /// Reconcile rejected a person (`reason`), retiring their face, if any.
    pub fn reconcile_rejection(reason: &str, retired_face: Option<&str>) -> Value {
        json!({
            "status": Status::Rejected,
            "statusReason": reason,
            "retiredFace": retired_face,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse::<AuditAction>(), Ok(action));
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                Value::String(action.as_str().to_owned())
            );
        }
    }

    #[test]
    fn parameters_are_checked_and_cursors_round_trip() {
        let filter = parse_params(&AuditParams {
            person: Some("42".into()),
            action: Some("rename".into()),
            caller: Some("6a0f1c2e".into()),
            limit: Some("10".into()),
            cursor: Some(encode_cursor(77)),
        })
        .unwrap();
        assert_eq!(
            filter,
            AuditFilter {
                person_id: Some(PersonId(42)),
                action: Some(AuditAction::Rename),
                subject: Some("6a0f1c2e".into()),
                before_id: Some(77),
                limit: 10,
            }
        );
        assert_eq!(
            parse_params(&AuditParams::default()).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        for (params, error) in [
            (
                AuditParams {
                    person: Some("x".into()),
                    ..Default::default()
                },
                AuditError::BadPerson,
            ),
            (
                AuditParams {
                    action: Some("delete".into()),
                    ..Default::default()
                },
                AuditError::BadAction("delete".into()),
            ),
            (
                AuditParams {
                    limit: Some("101".into()),
                    ..Default::default()
                },
                AuditError::BadLimit,
            ),
            (
                AuditParams {
                    cursor: Some("bm9wZQ".into()),
                    ..Default::default()
                },
                AuditError::BadCursor,
            ),
            (
                AuditParams {
                    caller: Some("a".repeat(129)),
                    ..Default::default()
                },
                AuditError::BadCaller,
            ),
        ] {
            assert_eq!(parse_params(&params), Err(error));
        }
    }
}
