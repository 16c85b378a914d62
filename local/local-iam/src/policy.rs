//! A policy document, evaluated statement by statement with `iam-rs`.

use std::collections::BTreeMap;

use iam_rs::{
    Arn, ContextValue, EvaluationOptions, IAMAction, IAMEffect, IAMPolicy, IAMRequest,
    PolicyEvaluator, Principal as IamPrincipal, PrincipalId,
};
use serde_json::Value;

/// A policy that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {source_name}: {reason}")]
pub struct PolicyError {
    pub source_name: String,
    pub reason: String,
}

/// One statement, as reports name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementInfo {
    /// Its `Sid`, or `#<index>`.
    pub label: String,
    pub allows: bool,
    /// Its `Action` patterns (empty for `NotAction`).
    pub actions: Vec<String>,
}

/// A parsed policy and where it comes from (e.g. `UploadFunctionRole`,
/// `PhotoBucketPolicy`).
#[derive(Debug, Clone)]
pub struct Policy {
    pub source: String,
    document: IAMPolicy,
    statements: Vec<StatementInfo>,
}

/// The condition keys of a request.
#[derive(Debug, Clone, Default)]
pub struct Conditions(BTreeMap<String, ContextValue>);

impl Conditions {
    pub fn new() -> Self {
        Self::default()
    }

    /// What every call to a local service carries: the caller's role and
    /// account, and TLS (the services' plain HTTP on loopback stands in for
    /// AWS's HTTPS endpoints).
    pub fn of_caller(caller: &crate::Identity) -> Self {
        Self::new()
            .boolean("aws:SecureTransport", true)
            .string("aws:PrincipalArn", caller.role_arn.clone())
            .string("aws:PrincipalAccount", caller.account.clone())
    }

    /// What KMS sees besides when `service` (`s3`, `sqs`, ...) calls it with
    /// `caller`'s permissions: `kms:ViaService` and `kms:CallerAccount`. The
    /// service's encryption context is the caller's to add.
    #[must_use]
    pub fn via_service(self, service: &str, region: &str, caller: &crate::Identity) -> Self {
        self.string(
            "kms:ViaService",
            format!("{service}.{region}.amazonaws.com"),
        )
        .string("kms:CallerAccount", caller.account.clone())
    }

    #[must_use]
    pub fn string(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0
            .insert(key.to_owned(), ContextValue::String(value.into()));
        self
    }

    #[must_use]
    pub fn boolean(mut self, key: &str, value: bool) -> Self {
        self.0.insert(key.to_owned(), ContextValue::Boolean(value));
        self
    }

    #[must_use]
    pub fn number(mut self, key: &str, value: f64) -> Self {
        self.0.insert(key.to_owned(), ContextValue::Number(value));
        self
    }

    fn context(&self) -> iam_rs::Context {
        let mut context = iam_rs::Context::new();
        for (key, value) in &self.0 {
            context.insert(key.clone(), value.clone());
        }
        context
    }
}

/// What one policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Labels of the `Allow` statements that match.
    pub allowed_by: Vec<String>,
    /// Labels of the `Deny` statements that match.
    pub denied_by: Vec<String>,
}

impl Verdict {
    pub fn allows(&self) -> bool {
        self.denied_by.is_empty() && !self.allowed_by.is_empty()
    }
}

impl Policy {
    pub fn parse(source: impl Into<String>, document: &Value) -> Result<Self, PolicyError> {
        let source = source.into();
        let fail = |reason: String| PolicyError {
            source_name: source.clone(),
            reason,
        };
        // A policy without a Version is IAM's 2008-10-17 language (SAM
        // writes such policies for event destinations).
        let mut document = document.clone();
        if let Some(object) = document.as_object_mut()
            && !object.contains_key("Version")
        {
            object.insert("Version".to_owned(), Value::from("2008-10-17"));
        }
        let document =
            IAMPolicy::from_json(&document.to_string()).map_err(|e| fail(e.to_string()))?;
        let statements = document
            .statement
            .iter()
            .enumerate()
            .map(|(index, statement)| StatementInfo {
                label: statement.sid.clone().unwrap_or_else(|| format!("#{index}")),
                allows: statement.effect == IAMEffect::Allow,
                actions: match &statement.action {
                    Some(IAMAction::Single(action)) => vec![action.clone()],
                    Some(IAMAction::Multiple(actions)) => actions.clone(),
                    None => Vec::new(),
                },
            })
            .collect();
        Ok(Self {
            source,
            document,
            statements,
        })
    }

    pub fn statements(&self) -> &[StatementInfo] {
        &self.statements
    }

    /// Which statements match `action` on `resource` by `principal_arn`
    /// (or by a service principal's name) with these condition keys.
    pub fn evaluate(
        &self,
        principal_arn: &str,
        action: &str,
        resource: &str,
        conditions: &Conditions,
    ) -> Result<Verdict, PolicyError> {
        let fail = |reason: String| PolicyError {
            source_name: self.source.clone(),
            reason,
        };
        let arn = Arn::parse(resource).map_err(|e| fail(format!("resource {resource}: {e}")))?;
        // A service principal (`s3.amazonaws.com`) is named without an ARN.
        let principal = PrincipalId::String(principal_arn.to_owned());
        let principal = if principal_arn.starts_with("arn:") {
            IamPrincipal::Aws(principal)
        } else {
            IamPrincipal::Service(principal)
        };
        let request = IAMRequest::new_with_context(principal, action, arn, conditions.context());
        let evaluator = PolicyEvaluator::with_policies(vec![self.document.clone()]).with_options(
            EvaluationOptions {
                stop_on_explicit_deny: false,
                collect_match_details: true,
                ..EvaluationOptions::default()
            },
        );
        let result = evaluator
            .evaluate(&request)
            .map_err(|e| fail(e.to_string()))?;
        let mut verdict = Verdict::default();
        for (detail, info) in result.statement_details.iter().zip(&self.statements) {
            if detail.conditions_satisfied {
                if info.allows {
                    verdict.allowed_by.push(info.label.clone());
                } else {
                    verdict.denied_by.push(info.label.clone());
                }
            }
        }
        Ok(verdict)
    }
}

/// Whether `action` matches an `Action` pattern (`*` and `?`, any case).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&pattern[1..], text) || (!text.is_empty() && matches(pattern, &text[1..]))
            }
            (Some(b'?'), Some(_)) => matches(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) if p.eq_ignore_ascii_case(t) => matches(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), action.as_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ROLE: &str = "arn:aws:sts::123456789012:assumed-role/r/f";

    #[test]
    fn explicit_denies_and_allows_are_both_reported() {
        let policy = Policy::parse(
            "bucket",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "DenyOutdatedTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": "arn:aws:s3:::photos/*",
                 "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}),
        )
        .unwrap();
        let secure = Conditions::new()
            .boolean("aws:SecureTransport", true)
            .number("s3:TlsVersion", 1.3);
        let verdict = policy
            .evaluate(ROLE, "s3:GetObject", "arn:aws:s3:::photos/a.jpg", &secure)
            .unwrap();
        assert_eq!(verdict.allowed_by, ["#2"]);
        assert!(verdict.allows());
        let plain = Conditions::new()
            .boolean("aws:SecureTransport", false)
            .number("s3:TlsVersion", 1.3);
        let verdict = policy
            .evaluate(ROLE, "s3:GetObject", "arn:aws:s3:::photos/a.jpg", &plain)
            .unwrap();
        assert_eq!(verdict.denied_by, ["DenyInsecureTransport"]);
        assert!(!verdict.allows());
        let old_tls = Conditions::new()
            .boolean("aws:SecureTransport", true)
            .number("s3:TlsVersion", 1.1);
        let verdict = policy
            .evaluate(ROLE, "s3:PutObject", "arn:aws:s3:::photos/a.jpg", &old_tls)
            .unwrap();
        assert_eq!(verdict.denied_by, ["DenyOutdatedTls"]);
    }

    #[test]
    fn identity_policies_match_actions_and_resources() {
        let policy = Policy::parse(
            "role",
            &json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadPhotos", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                 "Resource": "arn:aws:s3:::photos/*"}]}),
        )
        .unwrap();
        let none = Conditions::new();
        let get = |action: &str, resource: &str| {
            policy
                .evaluate(ROLE, action, resource, &none)
                .unwrap()
                .allows()
        };
        assert!(get(
            "s3:GetObjectVersion",
            "arn:aws:s3:::photos/obama_barack.jpg"
        ));
        assert!(get("S3:getobject", "arn:aws:s3:::photos/x"));
        assert!(!get("s3:PutObject", "arn:aws:s3:::photos/x"));
        assert!(!get("s3:GetObject", "arn:aws:s3:::photos-other/x"));
        assert!(!get("s3:ListBucket", "arn:aws:s3:::photos"));
        assert_eq!(
            policy.statements()[0].actions,
            ["s3:GetObject", "s3:GetObjectVersion"]
        );
    }

    #[test]
    fn action_patterns() {
        assert!(action_matches("s3:*", "s3:GetObject"));
        assert!(action_matches(
            "kms:GenerateDataKey*",
            "kms:GenerateDataKeyWithoutPlaintext"
        ));
        assert!(action_matches("S3:GETOBJECT", "s3:GetObject"));
        assert!(!action_matches("s3:Get?", "s3:GetObject"));
    }
}
