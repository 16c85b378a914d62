//! The sample events of `events/`, loaded as the handlers receive them.
//!
//! The helpers panic with a message naming the file when a sample is
//! missing or malformed: a broken sample is a failed test.

use std::path::PathBuf;

use aws_lambda_events::s3::S3Event;
use serde_json::{Map, Value};

/// The repository's `events/` folder.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// The JSON of `events/<name>`.
pub fn event_json(name: &str) -> Value {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the sample event {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the sample event {} is not JSON: {e}", path.display()))
}

/// `events/<name>` as the indexer receives it.
pub fn s3_event(name: &str) -> S3Event {
    serde_json::from_value(event_json(name))
        .unwrap_or_else(|e| panic!("the sample event {name} is not an S3 event: {e}"))
}

/// An API Gateway HTTP API (v2) request from `events/`, adjustable before
/// it becomes the `lambda_http::Request` a handler receives.
#[derive(Debug, Clone)]
pub struct ApiEvent {
    name: String,
    json: Value,
}

impl ApiEvent {
    pub fn load(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            json: event_json(name),
        }
    }

    /// The event's body parsed as JSON.
    pub fn body_json(&self) -> Value {
        let body = self.json["body"]
            .as_str()
            .unwrap_or_else(|| panic!("the sample event {} has no body", self.name));
        serde_json::from_str(body).unwrap_or_else(|e| {
            panic!(
                "the body of the sample event {} is not JSON: {e}",
                self.name
            )
        })
    }

    /// Replaces the body with `body` serialised.
    pub fn with_json_body(self, body: &Value) -> Self {
        self.with_raw_body(&body.to_string())
    }

    /// Replaces the body (and its content-length header) with `body` as is.
    pub fn with_raw_body(mut self, body: &str) -> Self {
        self.json["body"] = Value::String(body.to_owned());
        self.json["isBase64Encoded"] = Value::Bool(false);
        self.headers().insert(
            "content-length".into(),
            Value::String(body.len().to_string()),
        );
        self
    }

    /// A binary body, base64-encoded as API Gateway passes it.
    pub fn with_binary_body(mut self, body: &[u8]) -> Self {
        use base64::Engine;
        self.json["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(body));
        self.json["isBase64Encoded"] = Value::Bool(true);
        self.headers().insert(
            "content-length".into(),
            Value::String(body.len().to_string()),
        );
        self
    }

    /// Sets a header, replacing any value it had.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers()
            .insert(name.to_ascii_lowercase(), Value::String(value.to_owned()));
        self
    }

    /// A cookie the browser sent (API Gateway passes them in `cookies`).
    pub fn with_cookie(mut self, cookie: &str) -> Self {
        match self.json["cookies"].as_array_mut() {
            Some(cookies) => cookies.push(Value::String(cookie.to_owned())),
            None => self.json["cookies"] = Value::Array(vec![Value::String(cookie.to_owned())]),
        }
        self
    }

    /// Replaces the query string (`a=1&b=2`, already URL-encoded), as API
    /// Gateway passes it: raw, and as a map with repeated values joined by commas.
    pub fn with_query(mut self, raw: &str) -> Self {
        let mut params: Map<String, Value> = Map::new();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            match params.get_mut(name.as_ref()) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => {
                    params.insert(name.into_owned(), Value::String(value.into_owned()));
                }
            }
        }
        self.json["rawQueryString"] = Value::String(raw.to_owned());
        self.json["queryStringParameters"] = if params.is_empty() {
            Value::Null
        } else {
            Value::Object(params)
        };
        self
    }

    /// Replaces the path (raw and in the request context).
    pub fn with_path(mut self, path: &str) -> Self {
        self.json["rawPath"] = Value::String(path.to_owned());
        self.json["requestContext"]["http"]["path"] = Value::String(path.to_owned());
        self
    }

    /// Sets a path parameter of the route (`{id}`), and the path with it.
    pub fn with_path_parameter(mut self, name: &str, value: &str) -> Self {
        let route_key = self.json["routeKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let template = route_key.split_once(' ').map_or("", |(_, path)| path);
        let path = template.replace(&format!("{{{name}}}"), value);
        if !self.json["pathParameters"].is_object() {
            self.json["pathParameters"] = Value::Object(Map::new());
        }
        self.json["pathParameters"][name] = Value::String(value.to_owned());
        self = self.with_path(&path);
        self
    }

    /// Sets the HTTP method.
    pub fn with_method(mut self, method: &str) -> Self {
        self.json["requestContext"]["http"]["method"] = Value::String(method.to_owned());
        self
    }

    /// Replaces the `cognito:groups` claim as API Gateway flattens it (`[admins viewers]`).
    pub fn with_groups_claim(mut self, groups: &str) -> Self {
        let claims = &mut self.json["requestContext"]["authorizer"]["jwt"]["claims"];
        assert!(
            claims.is_object(),
            "the sample event {} has no claims to change",
            self.name
        );
        claims["cognito:groups"] = Value::String(groups.to_owned());
        self
    }

    /// Replaces the caller's `sub` claim: another operator.
    pub fn with_subject(mut self, subject: &str) -> Self {
        let claims = &mut self.json["requestContext"]["authorizer"]["jwt"]["claims"];
        assert!(
            claims.is_object(),
            "the sample event {} has no claims to change",
            self.name
        );
        claims["sub"] = Value::String(subject.to_owned());
        self
    }

    /// Removes the authorizer's claims, as for a route without an authorizer.
    pub fn without_claims(mut self) -> Self {
        if let Some(context) = self.json["requestContext"].as_object_mut() {
            context.remove("authorizer");
        }
        self.headers().remove("authorization");
        self
    }

    /// The event as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The request a handler receives.
    pub fn into_request(self) -> lambda_http::Request {
        lambda_http::request::from_str(&self.json.to_string()).unwrap_or_else(|e| {
            panic!(
                "the sample event {} is not an API Gateway request: {e}",
                self.name
            )
        })
    }

    fn headers(&mut self) -> &mut Map<String, Value> {
        if !self.json["headers"].is_object() {
            self.json["headers"] = Value::Object(Map::new());
        }
        self.json["headers"]
            .as_object_mut()
            .expect("headers were just made an object")
    }
}

/// A handler response's body as JSON.
pub fn response_json(response: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap_or_else(|e| {
        panic!(
            "the response body is not JSON ({e}): {}",
            String::from_utf8_lossy(response.body().as_ref())
        )
    })
}
