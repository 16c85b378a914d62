//! `GET /api/faces`, `GET /api/faces/{id}` and `GET /faces`, driven by the
//! requests of `events/`, with the MySQL store on the real server and an S3
//! store that presigns with fixed test credentials.

use std::collections::HashMap;
use std::time::Duration;

use registry::names::slug;
use registry::person::{FaceBox, PersonId, Status};
use registry::ports::{IndexingRecord, NewPerson, PersonStore};
use registry_adapters::{MysqlPersonStore, S3PhotoStore};
use registry_api::{FacesApi, PhotoLinks};
use registry_testkit::{
    ApiEvent, ScriptedFaceSearch, TEST_ENDPOINT, TestDatabase, presigning_photo_store,
    response_json, test_secret_access_key,
};
use serde_json::Value;

struct Harness {
    _database: TestDatabase,
    people: MysqlPersonStore,
    api: FacesApi<MysqlPersonStore, S3PhotoStore, ScriptedFaceSearch>,
}

impl Harness {
    async fn new(photo_links: PhotoLinks) -> Self {
        let database = TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let people = MysqlPersonStore::new(database.pool().clone());
        let api = FacesApi {
            people: people.clone(),
            photos: presigning_photo_store(),
            face_search: ScriptedFaceSearch::default(),
            photo_links,
            sign_in: None,
            auth: Default::default(),
        };
        Self {
            _database: database,
            people,
            api,
        }
    }

    async fn presigned() -> Self {
        Self::new(PhotoLinks::Presigned {
            ttl: Duration::from_secs(300),
        })
        .await
    }

    async fn send(&self, event: ApiEvent) -> (u16, Value) {
        let response = self.api.handle(event.into_request()).await;
        (response.status().as_u16(), response_json(&response))
    }

    /// Enrols a person and records the outcome of their photo.
    async fn enrol(&self, lastname: &str, firstname: &str, status: Status) -> PersonId {
        let key = format!("{}_{}.jpg", slug(lastname), slug(firstname));
        let person = self
            .people
            .create_pending(
                &NewPerson {
                    lastname: lastname.into(),
                    firstname: firstname.into(),
                    object_key: key.clone(),
                },
                &registry_testkit::admin_audit(),
            )
            .await
            .expect("upsert");
        if status != Status::Pending {
            let indexed = status == Status::Indexed;
            self.people
                .record_indexing(
                    &IndexingRecord {
                        object_key: key.clone(),
                        lastname: lastname.into(),
                        firstname: firstname.into(),
                        status,
                        status_reason: (!indexed).then(|| "No face was found in the photo.".into()),
                        identity: indexed.then(|| format!("face-{key}")),
                        object_etag: Some("\"5d41402abc4b2a76b9719d911017c592\"".into()),
                        photo_sha256: None,
                        object_sequencer: "0067A3F2C1B0D4E501".into(),
                        object_created_at: chrono::Utc::now(),
                        face_confidence: indexed.then_some(99.5),
                        face_box: indexed.then_some(FaceBox {
                            left: 0.25,
                            top: 0.125,
                            width: 0.5,
                            height: 0.625,
                        }),
                        possible_duplicate: None,
                        discarded_faces: Vec::new(),
                    },
                    &registry_testkit::admin_audit(),
                )
                .await
                .expect("record");
        }
        person.id
    }
}

fn ids(body: &Value) -> Vec<u64> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_u64().expect("id"))
        .collect()
}

fn query_pairs(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn the_listing_shows_people_newest_first_with_presigned_photos() {
    let h = Harness::presigned().await;
    let barack = h.enrol("Obama", "Barack", Status::Indexed).await;
    let michelle = h.enrol("Obama", "Michelle", Status::Rejected).await;
    let joe = h.enrol("Biden", "Joe", Status::Pending).await;

    let (status, body) = h.send(ApiEvent::load("faces-list.json")).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [joe.0, michelle.0, barack.0]);
    assert_eq!(body["nextCursor"], Value::Null);

    let item = &body["items"][2];
    let mut fields: Vec<&str> = item
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "createdAt",
            "faceBox",
            "faceConfidence",
            "firstname",
            "id",
            "identity",
            "key",
            "lastname",
            "photoSha256",
            "photoUrl",
            "possibleDuplicate",
            "status",
            "statusReason",
            "updatedAt"
        ]
    );
    assert_eq!(item["possibleDuplicate"], Value::Null);
    assert_eq!(item["lastname"], "Obama");
    assert_eq!(item["firstname"], "Barack");
    assert_eq!(item["key"], "obama_barack.jpg");
    assert_eq!(item["status"], "indexed");
    assert_eq!(item["statusReason"], Value::Null);
    assert_eq!(item["identity"], "face-obama_barack.jpg");
    assert_eq!(item["faceConfidence"], 99.5);
    assert_eq!(item["faceBox"]["width"], 0.5);
    for stamp in ["createdAt", "updatedAt"] {
        let text = item[stamp].as_str().expect("a timestamp");
        chrono::DateTime::parse_from_rfc3339(text).expect("RFC 3339");
        assert!(text.ends_with('Z'), "{text}");
    }

    let url = item["photoUrl"].as_str().expect("a photo URL");
    assert!(
        url.starts_with(&format!(
            "{TEST_ENDPOINT}/face-registry-123456789012-us-east-1-photos/obama_barack.jpg?"
        )),
        "{url}"
    );
    let query = query_pairs(url);
    assert!(!query["X-Amz-Signature"].is_empty());
    assert_eq!(query["X-Amz-Expires"], "300");

    let rejected = &body["items"][1];
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["statusReason"], "No face was found in the photo.");
    assert_eq!(rejected["identity"], Value::Null);
    assert!(
        rejected["photoUrl"].is_string(),
        "a rejected photo is shown"
    );

    let pending = &body["items"][0];
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["photoUrl"], Value::Null, "no photo yet");

    assert!(!body.to_string().contains(test_secret_access_key()));
}

#[tokio::test]
async fn a_rejection_is_told_in_the_callers_language_and_kept_as_recorded() {
    let h = Harness::presigned().await;
    let id = h.enrol("Obama", "Michelle", Status::Rejected).await;
    let french = |event: ApiEvent| event.with_header("accept-language", "fr-FR,fr;q=0.9");

    let (status, page) = h.send(french(ApiEvent::load("faces-list.json"))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"][0]["statusReason"],
        "Aucun visage n’a été trouvé sur la photo."
    );
    let one = ApiEvent::load("faces-get.json").with_path_parameter("id", &id.to_string());
    let (_, person) = h.send(french(one.clone())).await;
    assert_eq!(
        person["statusReason"],
        "Aucun visage n’a été trouvé sur la photo."
    );
    // Without a language, as recorded; the status is a code in both.
    let (_, person) = h.send(one).await;
    assert_eq!(person["statusReason"], "No face was found in the photo.");
    assert_eq!(person["status"], "rejected");
}

#[tokio::test]
async fn the_listing_filters_by_status_and_name() {
    let h = Harness::presigned().await;
    let barack = h.enrol("Obama", "Barack", Status::Indexed).await;
    h.enrol("Obama", "Michelle", Status::Rejected).await;
    h.enrol("Biden", "Joe", Status::Indexed).await;
    let obadiah = h.enrol("Smith", "Obadiah", Status::Indexed).await;

    let (status, body) = h.send(ApiEvent::load("faces-list-filtered.json")).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), [obadiah.0, barack.0]);

    let (_, body) = h
        .send(ApiEvent::load("faces-list.json").with_query("q=%C3%93BAMA&status=rejected"))
        .await;
    assert_eq!(body["items"][0]["firstname"], "Michelle");
    assert_eq!(ids(&body).len(), 1);
}

#[tokio::test]
async fn cursors_lead_through_every_page() {
    let h = Harness::presigned().await;
    let mut enrolled = Vec::new();
    for i in 0..25 {
        enrolled.push(
            h.enrol("Person", &format!("Number {i}"), Status::Indexed)
                .await
                .0,
        );
    }
    enrolled.reverse();

    let mut walked = Vec::new();
    let mut query = "limit=10".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = h
            .send(ApiEvent::load("faces-list.json").with_query(&query))
            .await;
        assert_eq!(status, 200, "{body}");
        walked.extend(ids(&body));
        pages += 1;
        match body["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=10&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the cursor does not advance");
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, enrolled);

    // The sample's cursor points below id 1000: every person here.
    let (status, body) = h.send(ApiEvent::load("faces-list-next-page.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), enrolled[..20]);
    assert!(body["nextCursor"].is_string());
}

#[tokio::test]
async fn bad_listing_parameters_are_refused_with_what_is_wrong() {
    let h = Harness::presigned().await;
    let limit = "limit must be a whole number from 1 to 100";
    let cases = [
        ("cursor=garbage", "cursor is not one this listing issued"),
        ("cursor=cDE6YWJj", "cursor is not one this listing issued"),
        ("limit=0", limit),
        ("limit=101", limit),
        ("limit=ten", limit),
        ("limit=-5", limit),
        (
            "status=deleted",
            "unknown status \"deleted\"; expected pending, indexed or rejected",
        ),
        (
            "status=Indexed",
            "unknown status \"Indexed\"; expected pending, indexed or rejected",
        ),
        (
            "q=%07bell",
            "q is longer than 100 characters or holds control characters",
        ),
        ("limit=1&limit=2", "limit is given more than once"),
    ];
    for (query, message) in cases {
        let (status, body) = h
            .send(ApiEvent::load("faces-list.json").with_query(query))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["message"], message, "{query}");
    }
    let long = format!("q={}", "a".repeat(101));
    let (status, _) = h
        .send(ApiEvent::load("faces-list.json").with_query(&long))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn one_person_by_id() {
    let h = Harness::presigned().await;
    let barack = h.enrol("Obama", "Barack", Status::Indexed).await;

    let (status, body) = h
        .send(ApiEvent::load("faces-get.json").with_path_parameter("id", &barack.to_string()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], barack.0);
    assert_eq!(body["key"], "obama_barack.jpg");
    assert!(
        body["photoUrl"]
            .as_str()
            .expect("url")
            .contains("X-Amz-Signature=")
    );

    let (status, body) = h
        .send(ApiEvent::load("faces-get.json").with_path_parameter("id", "999999"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "no person with id 999999");

    let (status, body) = h
        .send(ApiEvent::load("faces-get.json").with_path_parameter("id", "abc"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "\"abc\" is not a person id");
}

#[tokio::test]
async fn the_api_needs_a_viewer_or_an_admin() {
    let h = Harness::presigned().await;
    for sample in ["faces-list.json", "faces-get.json"] {
        let response = h
            .api
            .handle(ApiEvent::load(sample).without_claims().into_request())
            .await;
        assert_eq!(response.status(), 401, "{sample}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");

        let (status, body) = h
            .send(ApiEvent::load(sample).with_groups_claim("[auditors]"))
            .await;
        assert_eq!(status, 403, "{sample}");
        assert_eq!(
            body["error"]["message"],
            "your groups do not allow this request"
        );
    }
    let (status, _) = h
        .send(ApiEvent::load("faces-list.json").with_groups_claim("[admins]"))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn public_previews_link_the_media_base_instead_of_presigning() {
    let h = Harness::new(PhotoLinks::PublicBase("https://media.example.com".into())).await;
    h.enrol("García Márquez", "Gabriel", Status::Indexed).await;

    let (status, body) = h.send(ApiEvent::load("faces-list.json")).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["items"][0]["photoUrl"],
        "https://media.example.com/garcia-marquez_gabriel.jpg"
    );
}

#[tokio::test]
async fn the_cards_page_is_public_static_html() {
    let h = Harness::presigned().await;

    let response = h
        .api
        .handle(ApiEvent::load("faces-page.json").into_request())
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = String::from_utf8_lossy(response.body().as_ref());
    assert!(html.contains("/api/faces"), "the page calls the API");

    let (status, _) = h
        .send(ApiEvent::load("faces-list.json").with_method("POST"))
        .await;
    assert_eq!(status, 405);
}

/// `GET /api/audit` for `query`, as `groups`.
fn audit_request(query: &str, groups: &str) -> ApiEvent {
    ApiEvent::load("faces-list.json")
        .with_path("/api/audit")
        .with_query(query)
        .with_groups_claim(groups)
}

#[tokio::test]
async fn admins_read_the_audit_trail_by_person_action_and_caller() {
    let h = Harness::presigned().await;
    let ada = h.enrol("Lovelace", "Ada", Status::Indexed).await;
    h.enrol("Babbage", "Charles", Status::Pending).await;

    let (status, body) = h
        .send(audit_request(&format!("person={ada}"), "[admins]"))
        .await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["indexing", "enrolment"], "{body}");
    let entry = &body["items"][1];
    assert_eq!(entry["personId"], ada.0);
    assert_eq!(entry["caller"]["subject"], registry_testkit::ADMIN_SUBJECT);
    assert_eq!(entry["caller"]["groups"], serde_json::json!(["admins"]));
    assert!(entry["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert!(!body.to_string().contains("Lovelace"), "no names: {body}");

    let (_, page) = h
        .send(audit_request("action=enrolment&limit=1", "[admins]"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["nextCursor"].as_str().expect("a next page");
    let (_, rest) = h
        .send(audit_request(
            &format!("action=enrolment&cursor={cursor}"),
            "[admins]",
        ))
        .await;
    assert_eq!(rest["items"][0]["personId"], ada.0);
    assert_eq!(rest["nextCursor"], Value::Null);

    // Admins only; bad parameters say what is wrong.
    let (status, _) = h.send(audit_request("", "[viewers]")).await;
    assert_eq!(status, 403);
    for (query, message) in [
        ("person=x", "person must be a person id"),
        ("action=erase", "action \"erase\" is not one of"),
        ("limit=0", "limit must be a whole number from 1 to 100"),
    ] {
        let (status, body) = h.send(audit_request(query, "[admins]")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{body}"
        );
    }
}

/// `POST /api/search` with `photo`, as `groups`.
fn search_request(photo: &[u8], groups: &str) -> ApiEvent {
    ApiEvent::load("faces-list.json")
        .with_method("POST")
        .with_path("/api/search")
        .with_binary_body(photo)
        .with_header("content-type", "image/jpeg")
        .with_groups_claim(groups)
}

/// A small JPEG (its pixels do not matter to the scripted search).
fn jpeg() -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::new_rgb8(64, 48)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageOutputFormat::Jpeg(80),
        )
        .unwrap();
    bytes
}

#[tokio::test]
async fn a_search_answers_every_face_and_is_recorded_without_keeping_the_photo() {
    use registry::ports::{DetectedFace, FaceMatch};
    let h = Harness::presigned().await;
    let ada = h.enrol("Lovelace", "Ada", Status::Indexed).await;
    let ada_face = h.people.get(ada).await.unwrap().unwrap().identity.unwrap();
    let face = |left: f32| DetectedFace {
        face_box: FaceBox {
            left,
            top: 0.2,
            width: 0.2,
            height: 0.3,
        },
        confidence: 99.0,
        sharpness: Some(40.0),
    };
    h.api.face_search.answer(
        vec![face(0.1), face(0.6)],
        vec![
            FaceMatch {
                face_id: "face-of-nobody".into(),
                similarity: 97.0,
            },
            FaceMatch {
                face_id: ada_face,
                similarity: 93.5,
            },
        ],
    );

    let (status, body) = h.send(search_request(&jpeg(), "[viewers]")).await;
    assert_eq!(status, 200, "{body}");
    let faces = body["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 2, "every face of the photo");
    let first = &faces[0];
    assert_eq!(first["unknown"], false);
    assert_eq!(
        first["matches"].as_array().unwrap().len(),
        1,
        "a face no person records is nobody"
    );
    assert_eq!(first["matches"][0]["person"]["id"], ada.0);
    assert!(first["matches"][0]["person"]["photoUrl"].is_string());
    assert_eq!(first["box"]["left"], 0.1_f32 as f64);
    assert_eq!(first["sharpness"], 40.0);

    // Above every similarity: unknown, explicitly.
    let (_, strict) = h
        .send(search_request(&jpeg(), "[viewers]").with_query("threshold=99"))
        .await;
    assert_eq!(strict["faces"][0]["unknown"], true, "{strict}");

    // Recorded in the trail: one entry per person matched, or one for nobody.
    let (_, trail) = h.send(audit_request("action=search", "[admins]")).await;
    let entries = trail["items"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{trail}");
    assert_eq!(entries[0]["personId"], Value::Null);
    assert_eq!(entries[1]["personId"], ada.0);
}

#[tokio::test]
async fn a_search_refuses_what_is_not_a_photo_with_a_face() {
    let h = Harness::presigned().await;
    let (status, body) = h
        .send(search_request(b"GIF89a not a photo", "[admins]"))
        .await;
    assert_eq!(status, 415, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a JPEG or PNG"),
        "{body}"
    );
    let mut cut = jpeg();
    cut.truncate(cut.len() - 20);
    let (status, _) = h.send(search_request(&cut, "[admins]")).await;
    assert_eq!(status, 415);
    // The scripted search finds no face.
    let (status, body) = h.send(search_request(&jpeg(), "[admins]")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["message"], "no face was found in the photo");
    let (status, _) = h
        .send(search_request(&jpeg(), "[admins]").with_query("maxMatches=0"))
        .await;
    assert_eq!(status, 400);
    let (status, _) = h.send(search_request(&jpeg(), "[auditors]")).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_photo_declaring_too_many_pixels_is_refused_before_it_is_decoded() {
    let h = Harness::presigned().await;
    let bomb = registry_testkit::png_bomb(9_000, 9_000);
    let (status, body) = h
        .send(search_request(&bomb, "[viewers]").with_header("content-type", "image/png"))
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"]["message"],
        "the photo is 9000 × 9000 pixels; a search takes at most 16 megapixels"
    );
}

#[tokio::test]
async fn a_search_takes_the_largest_faces_and_a_viewer_keeps_the_similarity_floor() {
    use registry::ports::DetectedFace;
    use registry::search::MAX_FACES_SEARCHED;
    let h = Harness::presigned().await;
    // Faces of growing width: the last ones are the largest.
    let faces: Vec<DetectedFace> = (0..MAX_FACES_SEARCHED + 2)
        .map(|i| DetectedFace {
            face_box: FaceBox {
                left: 0.0,
                top: 0.0,
                width: 0.01 * (i + 1) as f32,
                height: 0.05,
            },
            confidence: 99.0,
            sharpness: None,
        })
        .collect();
    h.api.face_search.answer(faces, Vec::new());
    let (status, body) = h.send(search_request(&jpeg(), "[viewers]")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["faces"].as_array().unwrap().len(), MAX_FACES_SEARCHED);
    let skipped = body["notSearched"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{body}");
    let width = |face: &Value| face["box"]["width"].as_f64().unwrap();
    assert!(
        (width(&skipped[0]) - 0.02).abs() < 1e-6,
        "the smallest left out"
    );
    assert!(
        (width(&body["faces"][0]) - 0.12).abs() < 1e-6,
        "the largest first"
    );

    // Below the floor: refused to a viewer, allowed to an admin and audited.
    let (status, body) = h
        .send(search_request(&jpeg(), "[viewers]").with_query("threshold=10"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "a threshold below 70 is for admins"
    );
    let (status, body) = h
        .send(search_request(&jpeg(), "[admins]").with_query("threshold=10"))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, trail) = h.send(audit_request("action=search", "[admins]")).await;
    let detail = &trail["items"][0]["detail"];
    assert_eq!(
        (&detail["threshold"], &detail["faces"], &detail["searched"]),
        (&Value::from(10.0), &Value::from(12), &Value::from(10)),
        "{trail}"
    );
}

#[tokio::test]
async fn a_burst_of_searches_is_refused_past_the_callers_rate() {
    use registry::search::SEARCHES_PER_MINUTE;
    let h = Harness::presigned().await;
    // Refused photos count too: the rate is taken before anything else.
    for _ in 0..SEARCHES_PER_MINUTE {
        let (status, body) = h.send(search_request(b"GIF89a", "[viewers]")).await;
        assert_eq!(status, 415, "{body}");
    }
    let event = search_request(b"GIF89a", "[viewers]");
    let response = h.api.handle(event.into_request()).await;
    assert_eq!(response.status(), 429);
    let retry_after: u32 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Another operator is not held back.
    let (status, _) = h
        .send(search_request(b"GIF89a", "[viewers]").with_subject("another-operator"))
        .await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn every_read_of_a_person_is_in_the_trail_with_its_caller_and_no_name() {
    let h = Harness::presigned().await;
    let ada = h.enrol("Lovelace", "Ada", Status::Indexed).await;
    h.enrol("Babbage", "Charles", Status::Indexed).await;
    let viewer = |event: ApiEvent| {
        event
            .with_groups_claim("[viewers]")
            .with_subject("viewer-7")
    };

    let (status, _) = h
        .send(viewer(
            ApiEvent::load("faces-get.json").with_path_parameter("id", &ada.to_string()),
        ))
        .await;
    assert_eq!(status, 200);
    let (status, _) = h
        .send(viewer(
            ApiEvent::load("faces-list.json").with_query("q=lovel&status=indexed"),
        ))
        .await;
    assert_eq!(status, 200);
    let (status, _) = h.send(viewer(ApiEvent::load("faces-list.json"))).await;
    assert_eq!(status, 200);

    // Who looked at Ada, and when.
    let (_, trail) = h
        .send(audit_request(
            &format!("person={ada}&action=view"),
            "[admins]",
        ))
        .await;
    let views = trail["items"].as_array().unwrap();
    assert_eq!(views.len(), 1, "{trail}");
    assert_eq!(views[0]["caller"]["subject"], "viewer-7");
    assert!(views[0]["at"].is_string());
    // Who listed what: the filter, not the name searched for.
    let (_, trail) = h
        .send(audit_request("action=listing&caller=viewer-7", "[admins]"))
        .await;
    let listings = trail["items"].as_array().unwrap();
    assert_eq!(listings.len(), 2, "{trail}");
    assert_eq!(
        listings[1]["detail"],
        serde_json::json!({"status": "indexed", "possibleDuplicates": false, "nameSearch": true,
            "photoSearch": false, "nextPage": false, "limit": 50}),
    );
    assert_eq!(listings[0]["detail"]["nameSearch"], false);
    assert!(
        !trail.to_string().to_lowercase().contains("lovel"),
        "{trail}"
    );
}
