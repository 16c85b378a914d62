//! The user pool operators sign in with, and its parts (app clients,
//! groups, the domain), which name their pool and join it once all are read.

use serde_json::Value;

use super::reading::Reading;
use crate::StackError;
use crate::model::{UserPool, UserPoolClient};

/// A part of a user pool, with the pool id it names.
pub(super) enum PoolPart {
    Client(UserPoolClient),
    Group(String),
    Domain(String),
}

impl PoolPart {
    pub fn join(self, pool: &mut UserPool) {
        match self {
            PoolPart::Client(client) => pool.clients.push(client),
            PoolPart::Group(group) => pool.groups.push(group),
            PoolPart::Domain(prefix) => pool.domain_prefix = Some(prefix),
        }
    }
}

pub(super) fn user_pool(r: &Reading<'_>) -> Result<UserPool, StackError> {
    Ok(UserPool {
        logical_id: r.logical_id.to_owned(),
        id: r.reference(),
        arn: r.attribute("Arn"),
        issuer: format!("https://{}", r.attribute("ProviderName")),
        properties: r.resolve_all()?,
        clients: Vec::new(),
        groups: Vec::new(),
        domain_prefix: None,
    })
}

pub(super) fn client(r: &Reading<'_>) -> Result<(String, PoolPart), StackError> {
    let properties = r.resolve_all()?;
    let pool = properties
        .get("UserPoolId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let client = UserPoolClient {
        logical_id: r.logical_id.to_owned(),
        id: r.reference(),
        properties,
    };
    Ok((pool, PoolPart::Client(client)))
}

pub(super) fn group(r: &Reading<'_>) -> Result<(String, PoolPart), StackError> {
    let pool = r.text("UserPoolId")?.unwrap_or_default();
    let name = r.text("GroupName")?.unwrap_or_else(|| r.reference());
    Ok((pool, PoolPart::Group(name)))
}

pub(super) fn domain(r: &Reading<'_>) -> Result<(String, PoolPart), StackError> {
    let pool = r.text("UserPoolId")?.unwrap_or_default();
    Ok((pool, PoolPart::Domain(r.reference())))
}
