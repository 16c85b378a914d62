//! `POST /api/uploads`, `POST /api/faces/{id}/photo`, `PATCH
//! /api/faces/{id}`, `DELETE /api/faces/{id}` and `GET /upload`, driven by the requests of
//! `events/`, with the MySQL store on the real server and an S3 store that
//! presigns with fixed test credentials.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use registry::person::Status;
use registry::ports::PersonStore;
use registry_adapters::{MysqlPersonStore, S3PhotoStore};
use registry_api::UploadApi;
use registry_testkit::{
    ApiEvent, InMemoryCollection, TEST_ENDPOINT, TestDatabase, presigning_photo_store,
    response_json, test_secret_access_key,
};
use serde_json::{Value, json};

struct Harness {
    database: TestDatabase,
    api: UploadApi<MysqlPersonStore, S3PhotoStore, InMemoryCollection>,
}

impl Harness {
    async fn new() -> Self {
        let database = TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let api = UploadApi {
            people: MysqlPersonStore::new(database.pool().clone()),
            photos: presigning_photo_store(),
            faces: InMemoryCollection::default(),
            url_ttl: Duration::from_secs(300),
            auth: Default::default(),
        };
        Self { database, api }
    }

    async fn send(&self, event: ApiEvent) -> (u16, Value) {
        let response = self.api.handle(event.into_request()).await;
        (response.status().as_u16(), response_json(&response))
    }

    async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM person")
            .fetch_one(self.database.pool())
            .await
            .expect("count")
    }
}

/// A new person's key: a token of 32 hexadecimal digits, then `file_name`.
fn assert_new_key(key: &Value, file_name: &str) {
    let key = key.as_str().expect("a key");
    let (token, rest) = key.split_once('.').expect("a token");
    assert_eq!(token.len(), 32, "{key}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{key}"
    );
    assert_eq!(rest, file_name);
}

fn query_pairs(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn an_admin_gets_a_presigned_put_and_the_person_is_pending() {
    let h = Harness::new().await;
    let issued = Utc::now();

    let (status, body) = h.send(ApiEvent::load("upload-post.json")).await;

    assert_eq!(status, 201, "{body}");
    assert_new_key(&body["key"], "obama_barack.jpg");
    let key = body["key"].as_str().unwrap();
    assert_eq!(body["method"], "PUT");
    assert_eq!(
        body["headers"],
        json!({ "content-length": "182044", "content-type": "image/jpeg" })
    );

    let url = body["uploadUrl"].as_str().expect("uploadUrl");
    assert!(
        url.starts_with(&format!(
            "{TEST_ENDPOINT}/face-registry-123456789012-us-east-1-photos/{key}?"
        )),
        "{url}"
    );
    let query = query_pairs(url);
    assert!(!query["X-Amz-Signature"].is_empty());
    assert_eq!(query["X-Amz-Expires"], "300");
    let signed: Vec<&str> = query["X-Amz-SignedHeaders"].split(';').collect();
    assert!(signed.contains(&"content-type"), "{signed:?}");
    assert!(signed.contains(&"content-length"), "{signed:?}");
    assert!(!url.contains(test_secret_access_key()));

    let expires: DateTime<Utc> = body["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("RFC 3339");
    let ahead = (expires - issued).num_seconds();
    assert!((298..=302).contains(&ahead), "expires {ahead} s ahead");

    let id = body["personId"].as_u64().expect("personId");
    let person = h
        .api
        .people
        .get(registry::PersonId(id))
        .await
        .expect("get")
        .expect("the person is recorded");
    assert_eq!(person.status, Status::Pending);
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Obama", "Barack")
    );
    assert_eq!(person.object_key, key);
}

#[tokio::test]
async fn names_are_kept_as_typed_and_slugged_into_the_key() {
    let h = Harness::new().await;

    let (status, body) = h.send(ApiEvent::load("upload-post-accented.json")).await;

    assert_eq!(status, 201, "{body}");
    assert_new_key(&body["key"], "garcia-marquez_gabriel-jose.png");
    assert_eq!(body["headers"]["content-type"], "image/png");
    let person = h
        .api
        .people
        .find_by_key(body["key"].as_str().unwrap())
        .await
        .expect("find")
        .expect("recorded");
    assert_eq!(person.lastname, "García Márquez");
    assert_eq!(person.firstname, "Gabriel José");
}

#[tokio::test]
async fn namesakes_are_two_people_with_keys_of_their_own() {
    let h = Harness::new().await;
    let (_, first) = h.send(ApiEvent::load("upload-post.json")).await;
    let (status, second) = h.send(ApiEvent::load("upload-post.json")).await;

    assert_eq!(status, 201, "{second}");
    assert_ne!(second["personId"], first["personId"]);
    assert_ne!(second["key"], first["key"]);
    assert_eq!(h.rows().await, 2);
}

/// `event` for person `id` (path and path parameter).
fn for_person(event: ApiEvent, id: &Value, suffix: &str) -> ApiEvent {
    event
        .with_path(&format!("/api/faces/{id}{suffix}"))
        .with_path_parameter("id", &id.to_string())
}

#[tokio::test]
async fn a_new_photo_goes_to_the_persons_own_key_in_the_same_format() {
    let h = Harness::new().await;
    let (_, created) = h.send(ApiEvent::load("upload-post.json")).await;
    let id = &created["personId"];

    let (status, body) = h
        .send(for_person(
            ApiEvent::load("photo-replace.json"),
            id,
            "/photo",
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["personId"], *id);
    assert_eq!(body["key"], created["key"]);
    let url = body["uploadUrl"].as_str().expect("uploadUrl");
    assert!(url.contains(created["key"].as_str().unwrap()), "{url}");
    assert_eq!(h.rows().await, 1, "no one new");

    // The key keeps its format; an unknown person or id is refused.
    let event = for_person(ApiEvent::load("photo-replace.json"), id, "/photo");
    let png = event.body_json();
    let mut png = png.as_object().unwrap().clone();
    png.insert("contentType".into(), json!("image/png"));
    let (status, body) = h.send(event.with_json_body(&json!(png))).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be a JPEG too"),
        "{body}"
    );
    let (status, _) = h
        .send(for_person(
            ApiEvent::load("photo-replace.json"),
            &json!(999_999),
            "/photo",
        ))
        .await;
    assert_eq!(status, 404);
    let (status, _) = h
        .send(for_person(
            ApiEvent::load("photo-replace.json"),
            &json!("x"),
            "/photo",
        ))
        .await;
    assert_eq!(status, 400);
    // Admins only.
    let (status, _) = h
        .send(
            for_person(ApiEvent::load("photo-replace.json"), id, "/photo")
                .with_groups_claim("[viewers]"),
        )
        .await;
    assert_eq!(status, 403);
}

/// A correction the key already spells changes the names only; one that
/// changes the key waits for the photo (the move itself is tested end to
/// end in the local runtime, with a bucket).
#[tokio::test]
async fn an_admin_corrects_a_name_the_key_spells_and_the_key_stays() {
    let h = Harness::new().await;
    let (_, created) = h.send(ApiEvent::load("upload-post.json")).await;
    let id = &created["personId"];

    let accents = json!({"lastname": "OBAMÁ"}).to_string();
    let (status, body) = h
        .send(for_person(ApiEvent::load("person-rename.json"), id, "").with_raw_body(&accents))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["lastname"], &body["firstname"], &body["key"]),
        (&json!("OBAMÁ"), &json!("Barack"), &created["key"])
    );
    // Another name is another key; the photo is still on its way to this one.
    let (status, body) = h
        .send(for_person(ApiEvent::load("person-rename.json"), id, ""))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("on its way"),
        "{body}"
    );

    // Bad names are refused as at enrolment; nothing to change is an error too.
    let event = for_person(ApiEvent::load("person-rename.json"), id, "");
    for (rename, message) in [
        (
            json!({"firstname": "a\u{202e}b"}),
            "firstname contains invisible formatting characters",
        ),
        (json!({"lastname": "  "}), "lastname is empty"),
        (json!({}), "give lastname, firstname or both"),
    ] {
        let rename = rename.to_string();
        let (status, body) = h.send(event.clone().with_raw_body(&rename)).await;
        assert_eq!(status, 400, "{rename}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{body}"
        );
    }
    let (status, _) = h
        .send(
            for_person(ApiEvent::load("person-rename.json"), id, "").with_groups_claim("[viewers]"),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .send(for_person(
            ApiEvent::load("person-rename.json"),
            &json!(999_999),
            "",
        ))
        .await;
    assert_eq!(status, 404);
}

/// The erasure's whole path runs end to end (tests of the local runtime);
/// here, what it answers when it cannot finish, and to whom.
#[tokio::test]
async fn an_erasure_that_cannot_reach_the_bucket_stays_recorded_and_the_person_stays() {
    let h = Harness::new().await;
    let (_, created) = h.send(ApiEvent::load("upload-post.json")).await;
    let id = &created["personId"];

    let erase = || for_person(ApiEvent::load("person-erase.json"), id, "");
    let (status, _) = h.send(erase().with_groups_claim("[viewers]")).await;
    assert_eq!(status, 403);
    let (status, body) = h
        .send(for_person(
            ApiEvent::load("person-erase.json"),
            &json!(999_999),
            "",
        ))
        .await;
    assert_eq!(status, 404, "{body}");

    // Nothing listens where the test's S3 client points.
    let (status, body) = h.send(erase()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(h.rows().await, 1, "the record goes last");
    let recorded: (u64, Option<chrono::DateTime<Utc>>) =
        sqlx::query_as("SELECT person_id, completed_at FROM erasure")
            .fetch_one(h.database.pool())
            .await
            .expect("the erasure is recorded");
    assert_eq!((json!(recorded.0), recorded.1), (id.clone(), None));
}

#[tokio::test]
async fn callers_outside_the_admins_are_refused_and_nothing_is_written() {
    let h = Harness::new().await;

    let (status, body) = h.send(ApiEvent::load("upload-post-viewer.json")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(body["error"]["requestId"], "UpL0adV1ewerReq=");

    let response = h
        .api
        .handle(ApiEvent::load("upload-post-no-claims.json").into_request())
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response_json(&response)["error"]["code"], "unauthenticated");

    let (status, _) = h
        .send(ApiEvent::load("upload-post.json").with_groups_claim("[]"))
        .await;
    assert_eq!(status, 403);
    let (status, _) = h
        .send(ApiEvent::load("upload-post.json").with_groups_claim("[viewers admins]"))
        .await;
    assert_eq!(status, 201);

    assert_eq!(h.rows().await, 1, "only the admin's upload is recorded");
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_what_is_wrong() {
    let h = Harness::new().await;

    let (status, body) = h.send(ApiEvent::load("upload-post-malformed.json")).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("the body is not valid JSON for this request: EOF while parsing"),
        "{message}"
    );

    let (status, body) = h
        .send(ApiEvent::load("upload-post-unknown-field.json"))
        .await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("unknown field `email`"), "{message}");

    let event = ApiEvent::load("upload-post.json");
    let mut missing = event.body_json();
    missing
        .as_object_mut()
        .expect("an object")
        .remove("contentLength");
    let (status, body) = h.send(event.with_json_body(&missing)).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("missing field `contentLength`"),
        "{message}"
    );

    let event = ApiEvent::load("upload-post.json");
    let mut negative = event.body_json();
    negative["contentLength"] = json!(-1);
    let (status, _) = h.send(event.with_json_body(&negative)).await;
    assert_eq!(status, 400);

    let (status, body) = h
        .send(ApiEvent::load("upload-post.json").with_header("content-type", "text/plain"))
        .await;
    assert_eq!(status, 415);
    assert_eq!(
        body["error"]["message"],
        "send the request body as application/json"
    );

    let (status, _) = h
        .send(ApiEvent::load("upload-post.json").with_raw_body(&" ".repeat(17 * 1024)))
        .await;
    assert_eq!(status, 413);

    assert_eq!(h.rows().await, 0);
}

#[tokio::test]
async fn bad_fields_are_refused_with_what_is_wrong_and_nothing_is_written() {
    let h = Harness::new().await;
    let cases: [(&str, Value, &str); 8] = [
        ("lastname", json!("   "), "lastname is empty"),
        (
            "firstname",
            json!("x".repeat(101)),
            "firstname is longer than 100 characters",
        ),
        (
            "lastname",
            json!("Oba\u{7}ma"),
            "lastname contains control characters",
        ),
        (
            "firstname",
            json!("***"),
            "firstname has no letters or digits to build a file name from",
        ),
        (
            "contentType",
            json!("image/gif"),
            "contentType \"image/gif\" is not accepted; use image/jpeg or image/png",
        ),
        (
            "contentType",
            json!("image/jpg"),
            "contentType \"image/jpg\" is not accepted; use image/jpeg or image/png",
        ),
        (
            "contentLength",
            json!(0),
            "contentLength must be more than 0 bytes",
        ),
        (
            "contentLength",
            json!(15 * 1024 * 1024 + 1),
            "contentLength 15728641 is over the limit of 15728640 bytes",
        ),
    ];
    for (field, value, message) in cases {
        let event = ApiEvent::load("upload-post.json");
        let mut body = event.body_json();
        body[field] = value;
        let (status, answer) = h.send(event.with_json_body(&body)).await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert_eq!(answer["error"]["code"], "bad_request");
        assert_eq!(answer["error"]["message"], message, "{field}");
    }

    let event = ApiEvent::load("upload-post.json");
    let mut body = event.body_json();
    body["lastname"] = json!(42);
    let (status, answer) = h.send(event.with_json_body(&body)).await;
    assert_eq!(status, 400);
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with(
            "the body is not valid JSON for this request: invalid type: integer `42`, expected a string"
        ),
        "{message}"
    );
    assert_eq!(h.rows().await, 0);
}

#[tokio::test]
async fn the_upload_page_is_public_static_html() {
    let h = Harness::new().await;

    let response = h
        .api
        .handle(ApiEvent::load("upload-page.json").into_request())
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = String::from_utf8_lossy(response.body().as_ref());
    assert!(html.contains("/api/uploads"), "the page calls the API");

    let (status, _) = h
        .send(ApiEvent::load("upload-page.json").with_method("DELETE"))
        .await;
    assert_eq!(status, 405);
    let (status, _) = h
        .send(ApiEvent::load("upload-page.json").with_path("/nowhere"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_page_and_the_refusals_speak_the_callers_language() {
    let h = Harness::new().await;
    let page = |event: ApiEvent| h.api.handle(event.into_request());

    let french = page(
        ApiEvent::load("upload-page.json")
            .with_header("accept-language", "de-CH, fr;q=0.9, en;q=0.8"),
    )
    .await;
    assert_eq!(french.headers()["content-language"], "fr");
    assert_eq!(french.headers()["vary"], "Cookie, Accept-Language");
    let html = String::from_utf8_lossy(french.body().as_ref());
    assert!(html.contains(r#"<html lang="fr">"#));
    assert!(html.contains("<title>Inscrire une personne · Registre des visages</title>"));
    // The switch's cookie wins over the browser's languages.
    let english = page(
        ApiEvent::load("upload-page.json")
            .with_header("accept-language", "fr")
            .with_cookie("registry-lang=en"),
    )
    .await;
    assert_eq!(english.headers()["content-language"], "en");
    assert!(String::from_utf8_lossy(english.body().as_ref()).contains(r#"<html lang="en">"#));

    // A refusal in French: the same status and code, nothing written.
    let event = ApiEvent::load("upload-post.json").with_header("accept-language", "fr-FR");
    let mut body = event.body_json();
    body["lastname"] = json!("   ");
    let (status, answer) = h.send(event.with_json_body(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_request");
    assert_eq!(answer["error"]["message"], "le nom est vide");
    assert_eq!(h.rows().await, 0);
}

#[tokio::test]
async fn an_enrolment_sent_again_with_its_idempotency_key_creates_nobody_new() {
    let h = Harness::new().await;
    let keyed = |key: &str| ApiEvent::load("upload-post.json").with_header("idempotency-key", key);
    let (status, first) = h.send(keyed("enrol-7f3a")).await;
    assert_eq!(status, 201, "{first}");
    // The reply was lost; the client sends the same request again.
    let (status, again) = h.send(keyed("enrol-7f3a")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["personId"], first["personId"]);
    assert_eq!(again["key"], first["key"]);
    assert!(again["uploadUrl"].is_string());
    assert_eq!(h.rows().await, 1);

    // The same key for another request: refused, nothing written.
    let event = keyed("enrol-7f3a");
    let mut other = event.body_json();
    other["firstname"] = json!("Michelle");
    let (status, body) = h.send(event.with_json_body(&other)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another request"),
        "{body}"
    );
    // A key that is not one: said so.
    for bad in ["", "has space", &"k".repeat(129)] {
        let (status, body) = h.send(keyed(bad)).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
    assert_eq!(h.rows().await, 1);
    // Without a key, each request is a new person, as before.
    h.send(ApiEvent::load("upload-post.json")).await;
    assert_eq!(h.rows().await, 2);
}
