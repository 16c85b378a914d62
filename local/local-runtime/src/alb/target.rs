//! `forward` to a Lambda target: the event an ALB sends the function, and
//! the HTTP response made of its answer (1 MB each way).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::encodings::Body as LambdaBody;
use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode, header};
use local_stack::elb::TargetGroup;
use serde_json::{Value, json};

use super::*;

/// Content types an ALB passes as text; everything else (and any body with
/// a `content-encoding`) is base64.
pub(super) fn is_text(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    content_type.starts_with("text/")
        || matches!(
            content_type.as_str(),
            "application/json" | "application/javascript" | "application/xml"
        )
}

/// The event an ALB sends a Lambda target. Query parameters are passed as
/// sent, not decoded; header names in lower case; without multi-value
/// headers the last value of a repeated header or parameter wins.
pub(super) fn alb_event(
    alb: &LocalAlb,
    group: &TargetGroup,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            headers
                .entry(name.as_str().to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    let trace = format!(
        "Root=1-{:08x}-{}",
        now_seconds(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    for (name, value) in [
        ("x-forwarded-for", peer.ip().to_string()),
        (
            "x-forwarded-proto",
            alb.listener.protocol.to_ascii_lowercase(),
        ),
        ("x-forwarded-port", alb.listener.port.to_string()),
        ("x-amzn-trace-id", trace),
    ] {
        headers.insert(name.to_owned(), vec![value]);
    }
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    let (body, base64) = if body.is_empty() {
        (String::new(), false)
    } else if is_text(&parts.headers) {
        match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (STANDARD.encode(body), true),
        }
    } else {
        (STANDARD.encode(body), true)
    };
    let mut event = json!({
        "requestContext": {"elb": {"targetGroupArn": group.arn}},
        "httpMethod": parts.method.as_str(),
        "path": parts.uri.path(),
        "body": body,
        "isBase64Encoded": base64,
    });
    if group.multi_value_headers {
        event["multiValueHeaders"] = json!(headers);
        event["multiValueQueryStringParameters"] = json!(query);
    } else {
        let last = |map: BTreeMap<String, Vec<String>>| -> BTreeMap<String, String> {
            map.into_iter()
                .filter_map(|(k, mut v)| v.pop().map(|v| (k, v)))
                .collect()
        };
        event["headers"] = json!(last(headers));
        event["queryStringParameters"] = json!(last(query));
    }
    event
}

/// How long the target took, on a response a target gave (the ALB's
/// `TargetResponseTime`); the balancer's own responses have none.
#[derive(Debug, Clone, Copy)]
pub(super) struct TargetAnswered(pub std::time::Duration);

pub(super) async fn forward(
    alb: &LocalAlb,
    target_group_arn: &str,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: &[u8],
) -> Response {
    let bad_gateway = || plain(StatusCode::BAD_GATEWAY, "502 Bad Gateway");
    let Some(group) = alb.target_groups.get(target_group_arn) else {
        return bad_gateway();
    };
    let Some(function) = group
        .functions
        .first()
        .and_then(|arn| alb.lambda.functions().find(|f| f.spec.arn == *arn).cloned())
    else {
        return bad_gateway();
    };
    let event = alb_event(alb, group, peer, parts, body);
    let started = std::time::Instant::now();
    let answer = match function.invoke(event).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(function = %function.spec.logical_id, %error, "the target failed");
            return bad_gateway();
        }
    };
    if answer.to_string().len() > MAX_LAMBDA_BYTES {
        tracing::warn!(function = %function.spec.logical_id, "the target's answer is larger than 1 MB");
        return bad_gateway();
    }
    match http_response(answer, group.multi_value_headers) {
        Some(mut response) => {
            response
                .extensions_mut()
                .insert(TargetAnswered(started.elapsed()));
            response
        }
        None => {
            tracing::warn!(function = %function.spec.logical_id, "the target's answer is not an ALB response");
            bad_gateway()
        }
    }
}

/// The HTTP response of a Lambda target's answer; `None` when it is not
/// one. The ALB reads `multiValueHeaders` when the target group enables
/// multi-value headers, `headers` otherwise.
pub(super) fn http_response(answer: Value, multi_value_headers: bool) -> Option<Response> {
    let answer: AlbTargetGroupResponse = serde_json::from_value(answer).ok()?;
    let status = StatusCode::from_u16(u16::try_from(answer.status_code).ok()?).ok()?;
    let body = match answer.body {
        None | Some(LambdaBody::Empty) => Vec::new(),
        Some(LambdaBody::Text(text)) if answer.is_base64_encoded => STANDARD.decode(text).ok()?,
        Some(LambdaBody::Text(text)) => text.into_bytes(),
        Some(LambdaBody::Binary(bytes)) => bytes,
        Some(_) => Vec::new(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let answer_headers = if multi_value_headers {
        &answer.multi_value_headers
    } else {
        &answer.headers
    };
    for (name, value) in answer_headers {
        // Hop-by-hop headers are the load balancer's own; it sets the length.
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "transfer-encoding" | "upgrade" | "content-length"
        ) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    Some(response)
}
