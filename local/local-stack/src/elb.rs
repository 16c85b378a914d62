//! An Application Load Balancer as the template declares it: its listeners,
//! their rules and actions, and the Lambda target groups they forward to.
//!
//! Only what the local ALB can do is accepted: path-pattern and
//! http-request-method conditions, and
//! the forward (to Lambda targets), authenticate-cognito, fixed-response
//! and redirect actions. Anything else is an error that names it.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::StackError;

/// An `AWS::ElasticLoadBalancingV2::LoadBalancer` with its listeners.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub logical_id: String,
    pub arn: String,
    pub dns_name: String,
    pub listeners: Vec<Listener>,
}

/// An `AWS::ElasticLoadBalancingV2::Listener` with its rules, highest
/// priority (lowest number) first.
#[derive(Debug, Clone)]
pub struct Listener {
    pub logical_id: String,
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: u16,
    pub protocol: String,
    pub default_actions: Vec<Action>,
    pub rules: Vec<ListenerRule>,
}

/// An `AWS::ElasticLoadBalancingV2::ListenerRule`.
#[derive(Debug, Clone)]
pub struct ListenerRule {
    pub logical_id: String,
    pub listener_arn: String,
    pub priority: u32,
    pub conditions: Conditions,
    pub actions: Vec<Action>,
}

/// A rule's conditions; all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The request's path matches one of these (`*` and `?` wildcards);
    /// empty: any path.
    pub path_patterns: Vec<String>,
    /// The request's method is one of these (case sensitive); empty: any.
    pub methods: Vec<String>,
}

impl ListenerRule {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let conditions = &self.conditions;
        (conditions.path_patterns.is_empty()
            || conditions
                .path_patterns
                .iter()
                .any(|pattern| path_matches(pattern, path)))
            && (conditions.methods.is_empty() || conditions.methods.iter().any(|m| m == method))
    }
}

/// A rule's action, in the order the rule runs them: authentication first,
/// one terminal action last.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Forward {
        target_group_arn: String,
    },
    AuthenticateCognito(Box<CognitoAuthentication>),
    FixedResponse {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    Redirect(Redirect),
}

/// `AuthenticateCognitoConfig`, with ELB's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoAuthentication {
    pub user_pool_arn: String,
    pub client_id: String,
    /// The domain prefix (or a custom domain).
    pub domain: String,
    pub scope: String,
    pub session_cookie_name: String,
    pub session_timeout: Duration,
    pub on_unauthenticated: Unauthenticated,
    pub extra_params: Vec<(String, String)>,
}

/// What the ALB does with a request that has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Answers 401.
    Deny,
    /// Forwards it without the user's claims.
    Allow,
    /// Redirects to the user pool's sign-in.
    Authenticate,
}

/// `RedirectConfig`: each part defaults to the request's own (`#{...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub protocol: String,
    pub host: String,
    pub port: String,
    pub path: String,
    pub query: String,
    /// 301 or 302.
    pub status: u16,
}

/// An `AWS::ElasticLoadBalancingV2::TargetGroup` of Lambda targets.
#[derive(Debug, Clone)]
pub struct TargetGroup {
    pub logical_id: String,
    pub arn: String,
    /// ARNs of the functions registered as its targets.
    pub functions: Vec<String>,
    pub multi_value_headers: bool,
}

/// An `AWS::Lambda::Permission`: who may invoke a function.
#[derive(Debug, Clone)]
pub struct LambdaPermission {
    pub logical_id: String,
    /// A function name or ARN.
    pub function: String,
    pub action: String,
    pub principal: String,
    pub source_account: Option<String>,
    pub source_arn: Option<String>,
}

/// ELB's defaults (AuthenticateCognitoActionConfig in the ELB API reference).
const DEFAULT_SESSION_COOKIE: &str = "AWSELBAuthSessionCookie";
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(604_800);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawAction {
    #[serde(rename = "Type")]
    kind: String,
    order: Option<u32>,
    target_group_arn: Option<String>,
    forward_config: Option<Value>,
    authenticate_cognito_config: Option<RawCognito>,
    fixed_response_config: Option<RawFixedResponse>,
    redirect_config: Option<RawRedirect>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCognito {
    user_pool_arn: String,
    user_pool_client_id: String,
    user_pool_domain: String,
    scope: Option<String>,
    session_cookie_name: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    session_timeout: Option<u64>,
    on_unauthenticated_request: Option<String>,
    #[serde(default)]
    authentication_request_extra_params: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFixedResponse {
    #[serde(deserialize_with = "number_or_string_required")]
    status_code: u64,
    content_type: Option<String>,
    message_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRedirect {
    protocol: Option<String>,
    host: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    port: Option<u64>,
    path: Option<String>,
    query: Option<String>,
    status_code: String,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("not a whole number")),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a whole number"))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "{other} is not a whole number"
        ))),
    }
}

fn number_or_string_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    number_or_string(d)?.ok_or_else(|| serde::de::Error::custom("a number is required"))
}

fn invalid(what: &str, reason: impl std::fmt::Display) -> StackError {
    StackError::Invalid(format!("{what}: {reason}"))
}

/// A rule's or listener's actions, in order, checked as ELB checks them:
/// exactly one terminal action (forward, fixed-response, redirect), last.
pub fn actions(value: Option<&Value>, what: &str) -> Result<Vec<Action>, StackError> {
    let raw: Vec<RawAction> = match value {
        Some(value) => serde_json::from_value(value.clone()).map_err(|e| invalid(what, e))?,
        None => Vec::new(),
    };
    if raw.is_empty() {
        return Err(invalid(what, "an action is required"));
    }
    let mut ordered: Vec<(u32, RawAction)> = raw
        .into_iter()
        .enumerate()
        .map(|(index, action)| {
            let position = u32::try_from(index).unwrap_or(u32::MAX);
            (action.order.unwrap_or(position), action)
        })
        .collect();
    ordered.sort_by_key(|(order, _)| *order);
    let mut actions = Vec::new();
    for (_, action) in ordered {
        actions.push(match action.kind.as_str() {
            "forward" => Action::Forward {
                target_group_arn: forward_target(&action, what)?,
            },
            "authenticate-cognito" => {
                let config = action.authenticate_cognito_config.ok_or_else(|| {
                    invalid(what, "authenticate-cognito needs AuthenticateCognitoConfig")
                })?;
                Action::AuthenticateCognito(Box::new(cognito(config, what)?))
            }
            "fixed-response" => {
                let config = action
                    .fixed_response_config
                    .ok_or_else(|| invalid(what, "fixed-response needs FixedResponseConfig"))?;
                let status = u16::try_from(config.status_code)
                    .ok()
                    .filter(|s| (200..600).contains(s))
                    .ok_or_else(|| {
                        invalid(what, "a fixed response's StatusCode is 2XX, 4XX or 5XX")
                    })?;
                Action::FixedResponse {
                    status,
                    content_type: config.content_type,
                    body: config.message_body.unwrap_or_default(),
                }
            }
            "redirect" => {
                let config = action
                    .redirect_config
                    .ok_or_else(|| invalid(what, "redirect needs RedirectConfig"))?;
                let status = match config.status_code.as_str() {
                    "HTTP_301" => 301,
                    "HTTP_302" => 302,
                    other => {
                        return Err(invalid(
                            what,
                            format!("redirect StatusCode {other} (HTTP_301 or HTTP_302)"),
                        ));
                    }
                };
                Action::Redirect(Redirect {
                    protocol: config.protocol.unwrap_or_else(|| "#{protocol}".into()),
                    host: config.host.unwrap_or_else(|| "#{host}".into()),
                    port: config
                        .port
                        .map_or_else(|| "#{port}".into(), |p| p.to_string()),
                    path: config.path.unwrap_or_else(|| "/#{path}".into()),
                    query: config.query.unwrap_or_else(|| "#{query}".into()),
                    status,
                })
            }
            other => {
                return Err(StackError::Unsupported(format!(
                    "{what}: the ALB action {other}"
                )));
            }
        });
    }
    let terminal = |a: &Action| !matches!(a, Action::AuthenticateCognito(_));
    let terminals = actions.iter().filter(|a| terminal(a)).count();
    if terminals != 1 || !actions.last().is_some_and(terminal) {
        return Err(invalid(
            what,
            "the last action, and only the last, must be forward, fixed-response or redirect",
        ));
    }
    Ok(actions)
}

fn forward_target(action: &RawAction, what: &str) -> Result<String, StackError> {
    if let Some(arn) = &action.target_group_arn {
        return Ok(arn.clone());
    }
    let groups = action
        .forward_config
        .as_ref()
        .and_then(|c| c.get("TargetGroups"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match groups.as_slice() {
        [group] => group
            .get("TargetGroupArn")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(what, "ForwardConfig's target group needs TargetGroupArn")),
        [] => Err(invalid(
            what,
            "forward needs TargetGroupArn or ForwardConfig",
        )),
        _ => Err(StackError::Unsupported(format!(
            "{what}: weighted forwarding to several target groups"
        ))),
    }
}

fn cognito(config: RawCognito, what: &str) -> Result<CognitoAuthentication, StackError> {
    let on_unauthenticated = match config.on_unauthenticated_request.as_deref() {
        None | Some("authenticate") => Unauthenticated::Authenticate,
        Some("deny") => Unauthenticated::Deny,
        Some("allow") => Unauthenticated::Allow,
        Some(other) => {
            return Err(invalid(
                what,
                format!("OnUnauthenticatedRequest {other} (deny, allow or authenticate)"),
            ));
        }
    };
    // ELB: the session timeout is 1 second to 7 days.
    let session_timeout = config
        .session_timeout
        .map_or(DEFAULT_SESSION_TIMEOUT, Duration::from_secs);
    if session_timeout.is_zero() || session_timeout > DEFAULT_SESSION_TIMEOUT {
        return Err(invalid(what, "SessionTimeout is 1 to 604800 seconds"));
    }
    Ok(CognitoAuthentication {
        user_pool_arn: config.user_pool_arn,
        client_id: config.user_pool_client_id,
        domain: config.user_pool_domain,
        scope: config.scope.unwrap_or_else(|| "openid".into()),
        session_cookie_name: config
            .session_cookie_name
            .unwrap_or_else(|| DEFAULT_SESSION_COOKIE.into()),
        session_timeout,
        on_unauthenticated,
        extra_params: config
            .authentication_request_extra_params
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect(),
    })
}

/// ELB: at most three values (match evaluations) in a condition, five in a
/// rule, and five wildcards in a rule's values.
const VALUES_PER_CONDITION: usize = 3;
const VALUES_PER_RULE: usize = 5;
const WILDCARDS_PER_RULE: usize = 5;

/// A rule's conditions: path patterns and methods, within ELB's quotas;
/// any other condition is refused.
pub fn conditions(value: Option<&Value>, what: &str) -> Result<Conditions, StackError> {
    let items = value.and_then(Value::as_array).cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(invalid(what, "a rule needs at least one condition"));
    }
    let mut conditions = Conditions::default();
    for condition in &items {
        let field = condition.get("Field").and_then(Value::as_str);
        let (config, target) = match field {
            Some("path-pattern") => ("PathPatternConfig", &mut conditions.path_patterns),
            Some("http-request-method") => ("HttpRequestMethodConfig", &mut conditions.methods),
            other => {
                return Err(StackError::Unsupported(format!(
                    "{what}: the rule condition {}",
                    other.unwrap_or("without Field")
                )));
            }
        };
        let field = field.unwrap_or_default();
        // ELB: a rule has at most one path-pattern and one method condition
        // (an earlier one of the kind has left its values).
        if !target.is_empty() {
            return Err(invalid(
                what,
                format!("a rule has at most one {field} condition"),
            ));
        }
        let values = condition
            .get(config)
            .and_then(|c| c.get("Values"))
            .or_else(|| condition.get("Values"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if values.is_empty() {
            return Err(invalid(what, format!("the {field} condition needs values")));
        }
        if values.len() > VALUES_PER_CONDITION {
            return Err(invalid(
                what,
                format!(
                    "the {field} condition has {} values; ELB allows {VALUES_PER_CONDITION} per condition",
                    values.len()
                ),
            ));
        }
        for value in values {
            let value = value
                .as_str()
                .ok_or_else(|| invalid(what, "a condition's value is a string"))?;
            // ELB: a path pattern has up to 128 characters; a method is
            // upper-case letters, `-` and `_`, up to 40.
            let valid = if config == "PathPatternConfig" {
                !value.is_empty() && value.len() <= 128
            } else {
                !value.is_empty()
                    && value.len() <= 40
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
            };
            if !valid {
                return Err(invalid(
                    what,
                    format!("{value:?} is not a valid {field} value"),
                ));
            }
            target.push(value.to_owned());
        }
    }
    let values = conditions.path_patterns.len() + conditions.methods.len();
    if values > VALUES_PER_RULE {
        return Err(invalid(
            what,
            format!(
                "the rule has {values} condition values; ELB allows {VALUES_PER_RULE} per rule"
            ),
        ));
    }
    let wildcards: usize = conditions
        .path_patterns
        .iter()
        .map(|pattern| pattern.matches(['*', '?']).count())
        .sum();
    if wildcards > WILDCARDS_PER_RULE {
        return Err(invalid(
            what,
            format!("the rule has {wildcards} wildcards; ELB allows {WILDCARDS_PER_RULE} per rule"),
        ));
    }
    Ok(conditions)
}

/// An ELB path pattern: case sensitive, `*` matches any run of characters
/// and `?` exactly one; the query string is not part of the path.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), path.chars().collect());
    // Iterative glob matching with backtracking to the last `*`.
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < path.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == path[s]) {
            p += 1;
            s += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, s));
            p += 1;
        } else if let Some((star_p, star_s)) = star {
            p = star_p + 1;
            s = star_s + 1;
            star = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_patterns_match_as_elb_matches_them() {
        assert!(path_matches("/api/faces", "/api/faces"));
        assert!(path_matches("/api/faces/*", "/api/faces/42"));
        assert!(path_matches("/api/faces/*", "/api/faces/"));
        assert!(!path_matches("/api/faces/*", "/api/faces"));
        assert!(path_matches("/img/?.png", "/img/a.png"));
        assert!(!path_matches("/img/?.png", "/img/ab.png"));
        assert!(path_matches("*.jpg", "/a/b/c.jpg"));
        // Case sensitive.
        assert!(!path_matches("/Faces", "/faces"));
    }

    #[test]
    fn actions_run_in_order_and_end_with_one_terminal_action() {
        let forward = json!({"Type": "forward", "Order": 2, "TargetGroupArn": "tg"});
        let auth = json!({"Type": "authenticate-cognito", "Order": 1, "AuthenticateCognitoConfig": {
            "UserPoolArn": "arn", "UserPoolClientId": "client", "UserPoolDomain": "prefix",
            "SessionTimeout": "3600", "OnUnauthenticatedRequest": "deny"}});
        let parsed = actions(Some(&json!([forward, auth])), "rule").unwrap();
        let Action::AuthenticateCognito(config) = &parsed[0] else {
            panic!("authentication first: {parsed:?}")
        };
        assert_eq!(config.on_unauthenticated, Unauthenticated::Deny);
        assert_eq!(config.session_timeout, Duration::from_secs(3600));
        assert_eq!(config.scope, "openid");
        assert_eq!(config.session_cookie_name, "AWSELBAuthSessionCookie");
        assert_eq!(
            parsed[1],
            Action::Forward {
                target_group_arn: "tg".into()
            }
        );

        let only_auth = json!([{"Type": "authenticate-cognito", "AuthenticateCognitoConfig": {
            "UserPoolArn": "arn", "UserPoolClientId": "client", "UserPoolDomain": "prefix"}}]);
        assert!(actions(Some(&only_auth), "rule").is_err());
        let two_terminals = json!([{"Type": "forward", "TargetGroupArn": "a"},
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]);
        assert!(actions(Some(&two_terminals), "rule").is_err());
        let oidc = json!([{"Type": "authenticate-oidc"}]);
        assert!(matches!(
            actions(Some(&oidc), "rule"),
            Err(StackError::Unsupported(_))
        ));
    }

    #[test]
    fn path_and_method_conditions_are_accepted_and_all_must_hold() {
        let both = json!([
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a", "/b/*"]}},
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["POST", "PATCH"]}},
        ]);
        let rule = ListenerRule {
            logical_id: "Rule".into(),
            listener_arn: "arn".into(),
            priority: 1,
            conditions: conditions(Some(&both), "rule").unwrap(),
            actions: Vec::new(),
        };
        assert_eq!(rule.conditions.path_patterns, ["/a", "/b/*"]);
        assert!(rule.matches("PATCH", "/b/1"));
        assert!(!rule.matches("GET", "/b/1"));
        assert!(!rule.matches("POST", "/c"));
        let host = json!([{"Field": "host-header", "HostHeaderConfig": {"Values": ["x"]}}]);
        assert!(matches!(
            conditions(Some(&host), "rule"),
            Err(StackError::Unsupported(_))
        ));
        let lower = json!([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["post"]}}]);
        assert!(conditions(Some(&lower), "rule").is_err());
    }

    #[test]
    fn conditions_beyond_elbs_quotas_are_refused() {
        let refused = |conditions_json: Value, reason: &str| {
            let Err(StackError::Invalid(message)) = conditions(Some(&conditions_json), "Rule")
            else {
                panic!("accepted: {conditions_json}");
            };
            assert!(message.contains(reason), "{message}");
        };
        let paths = |values: &[&str]| json!({"Field": "path-pattern", "PathPatternConfig": {"Values": values}});
        let methods = |values: &[&str]| json!({"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": values}});
        refused(json!([paths(&["/a", "/b", "/c", "/d"])]), "3 per condition");
        refused(
            json!([paths(&["/a", "/b", "/c"]), methods(&["GET", "POST", "PUT"])]),
            "5 per rule",
        );
        refused(
            json!([paths(&["/a"]), paths(&["/b"])]),
            "at most one path-pattern",
        );
        refused(json!([paths(&["/*/*/*", "/?/?/?"])]), "6 wildcards");
        // At the quotas, accepted.
        conditions(
            Some(&json!([
                paths(&["/*/*", "/?", "/a*"]),
                methods(&["GET", "POST"])
            ])),
            "Rule",
        )
        .unwrap();
    }
}
