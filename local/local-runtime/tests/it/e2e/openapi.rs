//! The API's OpenAPI description (`GET /api/openapi.json`) against the
//! registry's real answers: every answer of a flow through the gateway and
//! the ALB is checked against the schema the description gives its route
//! and status, and every status the description names is seen.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::*;

/// The description, and what the flow has seen of it.
struct Description {
    document: Value,
    validators: Mutex<HashMap<String, jsonschema::Validator>>,
    seen: Mutex<BTreeSet<(String, String, String)>>,
}

impl Description {
    fn new(document: Value) -> Self {
        Self {
            document,
            validators: Mutex::new(HashMap::new()),
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// Checks one answer of `method path` (the route as the description
    /// names it): its status is described (or falls to `default`), its
    /// body matches the schema given there.
    fn check(&self, method: &str, path: &str, status: u16, media: &str, body: &Value) {
        let operation = &self.document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not described");
        let status_text = status.to_string();
        let named = operation["responses"].get(&status_text).is_some();
        let key = if named {
            status_text.as_str()
        } else {
            "default"
        };
        let mut pointer = format!("/paths/{}/{method}/responses/{key}", escape(path));
        assert!(
            self.document.pointer(&pointer).is_some(),
            "{method} {path} answered {status}, which is not described: {body}"
        );
        // A shared response (`components/responses`) is followed.
        if let Some(shared) = self
            .document
            .pointer(&format!("{pointer}/$ref"))
            .and_then(Value::as_str)
        {
            pointer = shared.trim_start_matches('#').to_owned();
        }
        let schema = format!("{pointer}/content/{}/schema", escape(media));
        assert!(
            self.document.pointer(&schema).is_some(),
            "{method} {path} {status}: no JSON schema at {schema}"
        );
        let mut validators = self.validators.lock().unwrap();
        let validator = validators.entry(schema.clone()).or_insert_with(|| {
            // The description as the schema's root, so that its `$ref`s to
            // `#/components/schemas/...` resolve; unknown keywords (paths,
            // info) are ignored by JSON Schema.
            let mut root = self.document.clone();
            // (A URI fragment: the path's braces percent-encoded.)
            let fragment = schema.replace('{', "%7B").replace('}', "%7D");
            root["$ref"] = json!(format!("#{fragment}"));
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("the schema at {schema}: {e}"))
        });
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} breaks its description: {errors:?}\n{body}"
        );
        if named {
            let seen = (path.to_owned(), method.to_owned(), status_text);
            self.seen.lock().unwrap().insert(seen);
        }
    }

    /// Every (route, method, status) the description names that no answer
    /// showed.
    fn unseen(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut unseen = Vec::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                for status in responses.keys().filter(|s| *s != "default") {
                    if !seen.contains(&(path.clone(), method.clone(), status.clone())) {
                        unseen.push(format!("{method} {path} {status}"));
                    }
                }
            }
        }
        unseen
    }
}

/// A JSON pointer's escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Sends `request`, checks the answer against the description of
/// `method route` (a JSON body as JSON, another as a string); the status
/// and body.
async fn call(
    description: &Description,
    method: &str,
    route: &str,
    request: reqwest::RequestBuilder,
) -> (u16, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let text = response.text().await.expect("a body");
    let body = if media == "application/json" {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {route}: {e}: {text}"))
    } else {
        Value::String(text)
    };
    description.check(method, route, status, &media, &body);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_matches_the_openapi_description_and_every_status_it_names_is_seen() {
    let harness = Harness::start_with(common::with_alb).await;
    let http = &harness.http;
    let served = http
        .get(harness.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    let document: Value = served.json().await.expect("JSON");
    assert_eq!(
        document,
        serde_json::from_str::<Value>(registry_api::openapi::DOCUMENT).unwrap()
    );
    let d = Description::new(document);
    let d = &d;
    call(
        d,
        "get",
        "/api/openapi.json",
        http.get(harness.url("/api/openapi.json")),
    )
    .await;
    let (admin, viewer) = (
        harness.token("admins").await,
        harness.token("viewers").await,
    );
    let url = |path: &str| harness.url(path);

    // Enrolment.
    let enrol = |token: &str, body: Value| {
        http.post(url("/api/uploads"))
            .bearer_auth(token)
            .json(&body)
    };
    let obama = test_image("obama.jpg");
    let photo = |name: &str, size: usize| json!({"lastname": name, "firstname": "Barack", "contentType": "image/jpeg", "contentLength": size});
    let (_, first) = call(
        d,
        "post",
        "/api/uploads",
        enrol(&admin, photo("Obama", obama.len())),
    )
    .await;
    harness.put_photo(&first, &obama).await;
    let a = first["personId"].clone();
    harness.settle(&admin, &a, INDEXING_WITHIN).await;
    let twin = test_image("obama2.jpg");
    let (_, second) = call(
        d,
        "post",
        "/api/uploads",
        enrol(&admin, photo("Obamb", twin.len())),
    )
    .await;
    harness.put_photo(&second, &twin).await;
    let b = second["personId"].clone();
    harness.settle(&admin, &b, INDEXING_WITHIN).await;
    call(
        d,
        "post",
        "/api/uploads",
        enrol(&admin, json!({"lastname": "X", "nickname": "y"})),
    )
    .await;
    call(
        d,
        "post",
        "/api/uploads",
        enrol(&viewer, photo("Viewer", 10)),
    )
    .await;
    call(
        d,
        "post",
        "/api/uploads",
        http.post(url("/api/uploads")).json(&photo("Nobody", 10)),
    )
    .await;

    // People.
    let faces = "/api/faces";
    call(d, "get", faces, http.get(url(faces)).bearer_auth(&viewer)).await;
    call(
        d,
        "get",
        faces,
        http.get(url("/api/faces?status=lost")).bearer_auth(&viewer),
    )
    .await;
    call(d, "get", faces, http.get(url(faces))).await;
    let one = "/api/faces/{id}";
    let person = |id: &Value| url(&format!("/api/faces/{id}"));
    call(d, "get", one, http.get(person(&a)).bearer_auth(&viewer)).await;
    call(
        d,
        "get",
        one,
        http.get(url("/api/faces/abc")).bearer_auth(&viewer),
    )
    .await;
    call(
        d,
        "get",
        one,
        http.get(person(&json!(999_999))).bearer_auth(&viewer),
    )
    .await;
    call(d, "get", one, http.get(person(&a))).await;
    let rename = |id: &Value, body: Value| http.patch(person(id)).bearer_auth(&admin).json(&body);
    call(
        d,
        "patch",
        one,
        rename(&a, json!({"firstname": "Barack Hussein"})),
    )
    .await;
    call(d, "patch", one, rename(&a, json!({"nickname": "B"}))).await;
    call(
        d,
        "patch",
        one,
        rename(&json!(999_999), json!({"firstname": "X"})),
    )
    .await;
    call(
        d,
        "patch",
        one,
        http.patch(person(&a)).json(&json!({"firstname": "X"})),
    )
    .await;

    // A new photo, a duplicate resolved, an export.
    let replace = "/api/faces/{id}/photo";
    let new_photo = |id: &Value| {
        http.post(url(&format!("/api/faces/{id}/photo")))
            .bearer_auth(&admin)
            .json(&json!({"contentType": "image/jpeg", "contentLength": obama.len()}))
    };
    call(d, "post", replace, new_photo(&a)).await;
    call(d, "post", replace, new_photo(&json!(999_999))).await;
    call(
        d,
        "post",
        replace,
        http.post(url(&format!("/api/faces/{a}/photo")))
            .json(&json!({})),
    )
    .await;
    let duplicate = "/api/faces/{id}/duplicate";
    let resolve = |id: &Value, body: Value| {
        http.post(url(&format!("/api/faces/{id}/duplicate")))
            .bearer_auth(&admin)
            .json(&body)
    };
    let (_, twin_record) = call(d, "get", one, http.get(person(&b)).bearer_auth(&admin)).await;
    assert!(
        twin_record["possibleDuplicate"].is_object(),
        "{twin_record}"
    );
    call(
        d,
        "post",
        duplicate,
        resolve(&b, json!({"resolution": "different"})),
    )
    .await;
    call(
        d,
        "post",
        duplicate,
        resolve(&b, json!({"resolution": "different"})),
    )
    .await;
    call(
        d,
        "post",
        duplicate,
        resolve(&b, json!({"resolution": "maybe"})),
    )
    .await;
    call(
        d,
        "post",
        duplicate,
        http.post(url(&format!("/api/faces/{b}/duplicate")))
            .json(&json!({})),
    )
    .await;
    let export = "/api/faces/{id}/export";
    let export_of = |id: &Value, token: &str| {
        http.post(url(&format!("/api/faces/{id}/export")))
            .bearer_auth(token)
    };
    call(d, "post", export, export_of(&a, &admin)).await;
    call(d, "post", export, export_of(&a, &viewer)).await;
    call(d, "post", export, export_of(&json!(999_999), &admin)).await;
    call(
        d,
        "post",
        export,
        http.post(url(&format!("/api/faces/{a}/export"))),
    )
    .await;

    // The audit trail and search.
    let audit = "/api/audit";
    call(d, "get", audit, http.get(url(audit)).bearer_auth(&admin)).await;
    call(
        d,
        "get",
        audit,
        http.get(url("/api/audit?limit=0")).bearer_auth(&admin),
    )
    .await;
    call(d, "get", audit, http.get(url(audit)).bearer_auth(&viewer)).await;
    call(d, "get", audit, http.get(url(audit))).await;
    let search = "/api/search";
    let identify = |body: Vec<u8>, kind: &str| {
        http.post(url(search))
            .bearer_auth(&viewer)
            .header("content-type", kind)
            .body(body)
    };
    call(
        d,
        "post",
        search,
        identify(test_image("obama3.jpg"), "image/jpeg"),
    )
    .await;
    call(
        d,
        "post",
        search,
        identify(registry_testkit::png_bomb(9_000, 9_000), "image/png"),
    )
    .await;
    call(
        d,
        "post",
        search,
        identify(b"not a photo".to_vec(), "text/plain"),
    )
    .await;
    call(
        d,
        "post",
        search,
        http.post(url(search)).body(test_image("obama3.jpg")),
    )
    .await;

    // Erasure.
    call(
        d,
        "delete",
        one,
        http.delete(person(&b)).bearer_auth(&viewer),
    )
    .await;
    call(
        d,
        "delete",
        one,
        http.delete(person(&b)).bearer_auth(&admin),
    )
    .await;
    call(
        d,
        "delete",
        one,
        http.delete(person(&json!(999_999))).bearer_auth(&admin),
    )
    .await;
    call(d, "delete", one, http.delete(person(&b))).await;

    // Through the ALB: the public routes, and the function's own refusal
    // of a request without a session.
    let alb = harness.alb_url();
    call(d, "get", "/healthz", http.get(format!("{alb}/healthz"))).await;
    call(
        d,
        "get",
        "/api/openapi.json",
        http.get(format!("{alb}/api/openapi.json")),
    )
    .await;
    let (status, _) = call(d, "get", faces, http.get(format!("{alb}/api/faces"))).await;
    assert_eq!(status, 401);

    // Health, then without its database.
    call(d, "get", "/healthz", http.get(url("/healthz"))).await;
    let health = harness
        .runtime
        .lambda()
        .function("HealthFunction")
        .expect("health");
    common::close_the_database_to(health).await;
    call(d, "get", "/healthz", http.get(url("/healthz"))).await;

    let unseen = d.unseen();
    assert!(
        unseen.is_empty(),
        "described but never answered:\n{}",
        unseen.join("\n")
    );
    harness.stop().await;
}
