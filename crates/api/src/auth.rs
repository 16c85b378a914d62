//! Who is calling: the groups in the claims that the API Gateway JWT
//! authorizer verified and passed on.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

pub const ADMINS: &str = "admins";
pub const VIEWERS: &str = "viewers";
const GROUPS_CLAIM: &str = "cognito:groups";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("sign in to use this API")]
    Unauthenticated,
    #[error("your groups do not allow this request")]
    Forbidden,
}

/// The caller, when the authorizer passed claims on.
pub fn caller(request: &Request) -> Option<Caller> {
    let RequestContext::ApiGatewayV2(context) = request.request_context_ref()? else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    if claims.is_empty() {
        return None;
    }
    Some(Caller {
        subject: claims.get("sub").cloned(),
        groups: claims
            .get(GROUPS_CLAIM)
            .map(|g| parse_groups(g))
            .unwrap_or_default(),
    })
}

/// Requires a caller in one of `allowed`.
pub fn require(request: &Request, allowed: &[&str]) -> Result<Caller, AuthError> {
    let caller = caller(request).ok_or(AuthError::Unauthenticated)?;
    if caller.groups.iter().any(|g| allowed.contains(&g.as_str())) {
        Ok(caller)
    } else {
        Err(AuthError::Forbidden)
    }
}

/// API Gateway flattens a list claim into a string: `[admins viewers]`.
/// A JSON array and a comma-separated list are read too.
pub fn parse_groups(claim: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(claim) {
        return list;
    }
    claim
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|g| g.trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claims_in_every_shape() {
        assert_eq!(parse_groups("[admins viewers]"), vec!["admins", "viewers"]);
        assert_eq!(parse_groups("[admins]"), vec!["admins"]);
        assert_eq!(
            parse_groups("[\"admins\",\"viewers\"]"),
            vec!["admins", "viewers"]
        );
        assert_eq!(parse_groups("admins, viewers"), vec!["admins", "viewers"]);
        assert_eq!(parse_groups("viewers"), vec!["viewers"]);
        assert!(parse_groups("[]").is_empty());
        assert!(parse_groups("").is_empty());
    }
}
