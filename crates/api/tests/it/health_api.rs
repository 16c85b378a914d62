//! `GET /healthz`, driven by `events/healthz.json`: healthy against the real
//! server, unavailable against a port where nothing listens.

use aws_config::SdkConfig;
use registry_adapters::database::connect;
use registry_adapters::{DatabaseCa, DatabaseSource, MysqlPersonStore};
use registry_api::HealthApi;
use registry_testkit::{ApiEvent, TestDatabase, closed_port_url, response_json};
use serde_json::Value;

fn health(people: MysqlPersonStore) -> HealthApi<MysqlPersonStore> {
    HealthApi {
        people,
        bucket: "face-registry-123456789012-us-east-1-photos".into(),
        collection: "face-registry".into(),
    }
}

#[tokio::test]
async fn healthy_when_the_database_answers() {
    let database = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = health(MysqlPersonStore::new(database.pool().clone()));

    let response = api
        .handle(ApiEvent::load("healthz.json").into_request())
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response_json(&response);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["ok"], true);
    let latency = body["database"]["latencyMs"].as_f64().expect("latency");
    assert!(latency >= 0.0, "{latency}");
    assert_eq!(
        body["bucket"],
        "face-registry-123456789012-us-east-1-photos"
    );
    assert_eq!(body["collection"], "face-registry");

    let refused = api
        .handle(
            ApiEvent::load("healthz.json")
                .with_method("POST")
                .into_request(),
        )
        .await;
    assert_eq!(refused.status(), 405);
}

#[tokio::test]
async fn unavailable_without_a_secret_when_the_database_does_not_answer() {
    let password = "pw-that-must-never-show";
    let url = closed_port_url(password).expect("a free port");
    let aws = SdkConfig::builder().build();
    // The pool the functions use: lazy, so the function starts while the database is down.
    let pool = connect(&DatabaseSource::Url(url.clone()), &DatabaseCa::Rds, &aws, 2)
        .await
        .expect("a lazy pool");
    let api = health(MysqlPersonStore::new(pool));

    let response = api
        .handle(ApiEvent::load("healthz.json").into_request())
        .await;

    assert_eq!(response.status(), 503);
    let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"]["ok"], false);
    assert!(body["database"]["latencyMs"].is_number());
    let port = url::Url::parse(&url).expect("url").port().expect("port");
    for secret in [password, "registry:", &format!(":{port}"), "mysql://"] {
        assert!(!text.contains(secret), "{secret:?} in {text}");
    }
}
