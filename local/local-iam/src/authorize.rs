//! AWS's policy evaluation for a caller in the account that owns the
//! resource: an explicit deny anywhere wins; a VPC endpoint policy the
//! request passes must allow it; then the caller's identity policies or the
//! resource's policy must allow it. KMS keys differ: the key policy must
//! allow the caller, directly or by delegating to the account's IAM.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use crate::identity::Identity;
use crate::policy::{Conditions, Policy, PolicyError, Verdict, action_matches};

/// The kind of policy that decided a refusal, as AWS's messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Identity,
    Resource,
    VpcEndpoint,
    Key,
}

impl PolicyKind {
    fn describe(self) -> &'static str {
        match self {
            PolicyKind::Identity => "identity-based policy",
            PolicyKind::Resource => "resource-based policy",
            PolicyKind::VpcEndpoint => "VPC endpoint policy",
            PolicyKind::Key => "key policy",
        }
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ExplicitDeny { kind: PolicyKind, source: String },
    NoAllow { kind: PolicyKind },
}

/// A refused call, with the message AWS gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AccessDenied {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub refusal: Refusal,
}

impl fmt::Display for AccessDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "User: {} is not authorized to perform: {} on resource: {} ",
            self.principal, self.action, self.resource
        )?;
        match &self.refusal {
            Refusal::ExplicitDeny { kind, .. } => {
                write!(f, "with an explicit deny in a {}", kind.describe())
            }
            Refusal::NoAllow {
                kind: PolicyKind::Identity,
            } => write!(
                f,
                "because no identity-based policy allows the {} action",
                self.action
            ),
            Refusal::NoAllow { kind } => write!(
                f,
                "because no {} allows the {} action",
                kind.describe(),
                self.action
            ),
        }
    }
}

/// A failure to authorize: a refusal, or a policy that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// One call to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub caller: &'a Identity,
    pub action: &'a str,
    pub resource: &'a str,
    pub conditions: &'a Conditions,
}

impl Call<'_> {
    /// What `policy` says of this call made by `principal`.
    fn evaluate_by(&self, principal: &str, policy: &Policy) -> Result<Verdict, PolicyError> {
        policy.evaluate(principal, self.action, self.resource, self.conditions)
    }

    /// What a resource, endpoint or key policy says of this call: it names
    /// the caller by its role.
    fn evaluate(&self, policy: &Policy) -> Result<Verdict, PolicyError> {
        self.evaluate_by(&self.caller.role_arn, policy)
    }
}

/// A KMS key used by an AWS service on a caller's behalf (S3 encrypting an
/// object, SQS handing out a message, Secrets Manager a secret): KMS sees
/// the caller, through that service (`kms:ViaService`), with the service's
/// encryption context.
pub struct KeyUse<'a> {
    pub caller: &'a Identity,
    /// What the caller's request carried (at least `Conditions::of_caller`).
    pub conditions: Conditions,
    /// `s3`, `sqs`, `secretsmanager`...
    pub service: &'a str,
    pub region: &'a str,
    /// `kms:Decrypt`, `kms:GenerateDataKey`.
    pub action: &'a str,
    pub key_arn: &'a str,
    /// The service's encryption context: KMS's condition key and its value.
    pub context: (&'a str, String),
}

/// A permission a role grants that no call used.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnusedGrant {
    pub policy: String,
    pub statement: String,
    pub action: String,
}

impl fmt::Display for UnusedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.policy, self.statement, self.action)
    }
}

/// Authorizes calls and remembers which grants they used, and what it refused.
#[derive(Debug, Default)]
pub struct Authorizer {
    used: Mutex<BTreeSet<(String, String, String)>>,
    refused: Mutex<Vec<AccessDenied>>,
}

impl Authorizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A call to a resource that may have a resource policy, possibly
    /// through a VPC endpoint.
    pub fn authorize(
        &self,
        call: Call<'_>,
        resource_policy: Option<&Policy>,
        endpoint_policy: Option<&Policy>,
    ) -> Result<(), AuthorizeError> {
        self.remember(self.decide(call, resource_policy, endpoint_policy))
    }

    /// A call to a KMS key (`kms:Decrypt`, `kms:GenerateDataKey`), made by
    /// the caller or by a service on its behalf.
    pub fn authorize_key(&self, call: Call<'_>, key_policy: &Policy) -> Result<(), AuthorizeError> {
        self.remember(self.decide_key(call, key_policy))
    }

    /// A key used by a service on the caller's behalf: the caller's
    /// permissions and the key policy, as KMS sees the call.
    pub fn authorize_key_use(
        &self,
        key_use: KeyUse<'_>,
        key_policy: &Policy,
    ) -> Result<(), AuthorizeError> {
        let (context_key, context_value) = key_use.context;
        let conditions = key_use
            .conditions
            .via_service(key_use.service, key_use.region, key_use.caller)
            .string(context_key, context_value);
        let call = Call {
            caller: key_use.caller,
            action: key_use.action,
            resource: key_use.key_arn,
            conditions: &conditions,
        };
        self.authorize_key(call, key_policy)
    }

    /// Every call refused so far, oldest first.
    pub fn refusals(&self) -> Vec<AccessDenied> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn remember(&self, outcome: Result<(), AuthorizeError>) -> Result<(), AuthorizeError> {
        if let Err(AuthorizeError::Denied(denied)) = &outcome {
            self.refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(denied.clone());
        }
        outcome
    }

    fn decide(
        &self,
        call: Call<'_>,
        resource_policy: Option<&Policy>,
        endpoint_policy: Option<&Policy>,
    ) -> Result<(), AuthorizeError> {
        let identity = self.identity_verdicts(call)?;
        let resource = resource_policy.map(|p| call.evaluate(p)).transpose()?;
        let endpoint = endpoint_policy.map(|p| call.evaluate(p)).transpose()?;
        let deny = |kind, source: &str| {
            Err(AuthorizeError::Denied(denied(
                call,
                Refusal::ExplicitDeny {
                    kind,
                    source: source.to_owned(),
                },
            )))
        };
        if let Some((policy, _)) = identity.iter().find(|(_, v)| !v.denied_by.is_empty()) {
            return deny(PolicyKind::Identity, &policy.source);
        }
        if let (Some(policy), Some(verdict)) = (resource_policy, &resource)
            && !verdict.denied_by.is_empty()
        {
            return deny(PolicyKind::Resource, &policy.source);
        }
        if let (Some(policy), Some(verdict)) = (endpoint_policy, &endpoint) {
            if !verdict.denied_by.is_empty() {
                return deny(PolicyKind::VpcEndpoint, &policy.source);
            }
            if verdict.allowed_by.is_empty() {
                return Err(denied(
                    call,
                    Refusal::NoAllow {
                        kind: PolicyKind::VpcEndpoint,
                    },
                )
                .into());
            }
        }
        let by_identity = identity.iter().any(|(_, v)| !v.allowed_by.is_empty());
        let by_resource = resource.as_ref().is_some_and(|v| !v.allowed_by.is_empty());
        if by_identity || by_resource {
            self.record(call, &identity);
            Ok(())
        } else {
            Err(denied(
                call,
                Refusal::NoAllow {
                    kind: PolicyKind::Identity,
                },
            )
            .into())
        }
    }

    fn decide_key(&self, call: Call<'_>, key_policy: &Policy) -> Result<(), AuthorizeError> {
        let identity = self.identity_verdicts(call)?;
        let direct = call.evaluate(key_policy)?;
        let delegated = call.evaluate_by(&call.caller.account_root_arn(), key_policy)?;
        if !direct.denied_by.is_empty() {
            return Err(denied(
                call,
                Refusal::ExplicitDeny {
                    kind: PolicyKind::Key,
                    source: key_policy.source.clone(),
                },
            )
            .into());
        }
        if let Some((policy, _)) = identity.iter().find(|(_, v)| !v.denied_by.is_empty()) {
            return Err(denied(
                call,
                Refusal::ExplicitDeny {
                    kind: PolicyKind::Identity,
                    source: policy.source.clone(),
                },
            )
            .into());
        }
        if direct.allows() {
            return Ok(());
        }
        let by_identity = identity.iter().any(|(_, v)| !v.allowed_by.is_empty());
        if delegated.allows() && by_identity {
            self.record(call, &identity);
            Ok(())
        } else if delegated.allows() {
            Err(denied(
                call,
                Refusal::NoAllow {
                    kind: PolicyKind::Identity,
                },
            )
            .into())
        } else {
            Err(denied(
                call,
                Refusal::NoAllow {
                    kind: PolicyKind::Key,
                },
            )
            .into())
        }
    }

    fn identity_verdicts<'c>(
        &self,
        call: Call<'c>,
    ) -> Result<Vec<(&'c Policy, Verdict)>, PolicyError> {
        call.caller
            .policies
            .iter()
            .map(|policy| {
                call.evaluate_by(&call.caller.principal_arn, policy)
                    .map(|verdict| (policy, verdict))
            })
            .collect()
    }

    fn record(&self, call: Call<'_>, identity: &[(&Policy, Verdict)]) {
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (policy, verdict) in identity {
            for label in &verdict.allowed_by {
                used.insert((policy.source.clone(), label.clone(), call.action.to_owned()));
            }
        }
    }

    /// The actions `identities` are granted that no authorized call used.
    pub fn unused_grants<'i>(
        &self,
        identities: impl IntoIterator<Item = &'i Identity>,
    ) -> Vec<UnusedGrant> {
        let used = self
            .used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut unused = Vec::new();
        for identity in identities {
            for policy in &identity.policies {
                for statement in policy.statements().iter().filter(|s| s.allows) {
                    for action in &statement.actions {
                        let exercised = used.iter().any(|(source, label, called)| {
                            *source == policy.source
                                && *label == statement.label
                                && action_matches(action, called)
                        });
                        if !exercised {
                            unused.push(UnusedGrant {
                                policy: policy.source.clone(),
                                statement: statement.label.clone(),
                                action: action.clone(),
                            });
                        }
                    }
                }
            }
        }
        unused.sort();
        unused.dedup();
        unused
    }
}

fn denied(call: Call<'_>, refusal: Refusal) -> AccessDenied {
    AccessDenied {
        principal: call.caller.principal_arn.clone(),
        action: call.action.to_owned(),
        resource: call.resource.to_owned(),
        refusal,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::identity::{KeyRing, Principal};

    const ACCOUNT: &str = "123456789012";
    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/k";

    fn identity(statements: serde_json::Value) -> std::sync::Arc<Identity> {
        let mut ring = KeyRing::new(b"root");
        ring.add(Principal {
            name: "Indexer".into(),
            principal_arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/IndexerRole/indexer"),
            role_arn: format!("arn:aws:iam::{ACCOUNT}:role/IndexerRole"),
            account: ACCOUNT.into(),
            policies: vec![
                Policy::parse(
                    "IndexerRole",
                    &json!({"Version": "2012-10-17", "Statement": statements}),
                )
                .unwrap(),
            ],
        })
    }

    fn secure() -> Conditions {
        Conditions::new()
            .boolean("aws:SecureTransport", true)
            .number("s3:TlsVersion", 1.3)
    }

    fn bucket_policy() -> Policy {
        Policy::parse(
            "PhotoBucketPolicy",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}),
        )
        .unwrap()
    }

    fn endpoint_policy() -> Policy {
        Policy::parse(
            "S3GatewayEndpoint",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "PhotoBucket", "Effect": "Allow", "Principal": "*",
                 "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::photos/*"}]}),
        )
        .unwrap()
    }

    #[test]
    fn an_identity_grant_passes_bucket_and_endpoint() {
        let caller = identity(json!([
            {"Sid": "ReadPhotos", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": "arn:aws:s3:::photos/*"}]));
        let authorizer = Authorizer::new();
        let conditions = secure();
        let call = Call {
            caller: &caller,
            action: "s3:GetObject",
            resource: "arn:aws:s3:::photos/a.jpg",
            conditions: &conditions,
        };
        authorizer
            .authorize(call, Some(&bucket_policy()), Some(&endpoint_policy()))
            .unwrap();
        // The role may read versions, but the endpoint does not let it.
        let version = Call {
            action: "s3:GetObjectVersion",
            ..call
        };
        let error = authorizer
            .authorize(version, Some(&bucket_policy()), Some(&endpoint_policy()))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "User: arn:aws:sts::{ACCOUNT}:assumed-role/IndexerRole/indexer is not authorized to perform: \
                 s3:GetObjectVersion on resource: arn:aws:s3:::photos/a.jpg because no VPC endpoint policy \
                 allows the s3:GetObjectVersion action"
            )
        );
        // Outside the VPC (Rekognition reading for the caller) it may.
        authorizer
            .authorize(version, Some(&bucket_policy()), None)
            .unwrap();
        // Over plain HTTP the bucket policy denies.
        let plain = Conditions::new().boolean("aws:SecureTransport", false);
        let error = authorizer
            .authorize(
                Call {
                    conditions: &plain,
                    ..call
                },
                Some(&bucket_policy()),
                None,
            )
            .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("with an explicit deny in a resource-based policy"),
            "{error}"
        );
        // Nothing grants PutObject.
        let error = authorizer
            .authorize(
                Call {
                    action: "s3:PutObject",
                    ..call
                },
                Some(&bucket_policy()),
                None,
            )
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("because no identity-based policy allows"),
            "{error}"
        );
        assert!(authorizer.unused_grants([caller.as_ref()]).is_empty());
    }

    #[test]
    fn keys_need_their_policy_and_the_callers() {
        let key_policy = Policy::parse(
            "RegistryKey",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministersThroughIam", "Effect": "Allow",
                 "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]}),
        )
        .unwrap();
        let caller = identity(json!([
            {"Sid": "Decrypt", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY}]));
        let authorizer = Authorizer::new();
        let conditions = Conditions::new();
        let call = Call {
            caller: &caller,
            action: "kms:Decrypt",
            resource: KEY,
            conditions: &conditions,
        };
        authorizer.authorize_key(call, &key_policy).unwrap();
        let unused = authorizer.unused_grants([caller.as_ref()]);
        assert_eq!(unused.len(), 1);
        assert_eq!(unused[0].action, "kms:GenerateDataKey");

        let no_iam = identity(json!([
            {"Sid": "Other", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]));
        let error = authorizer
            .authorize_key(
                Call {
                    caller: &no_iam,
                    ..call
                },
                &key_policy,
            )
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no identity-based policy allows the kms:Decrypt"),
            "{error}"
        );

        let closed_key = Policy::parse(
            "ClosedKey",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "kms:*", "Resource": "*"}]}),
        )
        .unwrap();
        let error = authorizer.authorize_key(call, &closed_key).unwrap_err();
        assert!(
            error.to_string().contains("because no key policy allows"),
            "{error}"
        );
    }
}
