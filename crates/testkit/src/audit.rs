//! What tests record their changes with in the audit trail.

use registry::audit::{Actor, AuditContext};

/// The subject of the admin the sample events' tokens name.
pub const ADMIN_SUBJECT: &str = "6a0f1c2e-8b1d-4c7e-9f3a-2b5d7e9f1a3c";

/// Changes made by that admin in one request.
pub fn admin_audit() -> AuditContext {
    AuditContext {
        actor: Actor {
            subject: Some(ADMIN_SUBJECT.into()),
            username: Some("ada".into()),
            email: None,
            groups: vec!["admins".into()],
        },
        request_id: "req-1".into(),
    }
}
