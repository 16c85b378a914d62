//! A whole stack per test: ephemeral ports, a temporary state folder, and a
//! fresh database and database users on the DATABASE_URL server.

#![allow(dead_code)] // Not every feature uses every helper.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use local_runtime::{LocalRuntime, RuntimeOptions, ScratchDatabase};
use local_s3_store::S3Event;
use serde_json::{Value, json};

pub struct Harness {
    pub runtime: LocalRuntime,
    pub http: reqwest::Client,
    pub events_dir: PathBuf,
    /// What it was started with (a redeploy starts with the same).
    options: RuntimeOptions,
    scratch: ScratchDatabase,
    _state: tempfile::TempDir,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where cargo put the functions' binaries: the folder of this test's
/// (`target/<profile>/deps/..`). `make test-build` builds them.
pub fn functions_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("this test's binary");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

fn models_dir() -> PathBuf {
    std::env::var_os("FACE_ENGINE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".local/models"))
}

pub fn test_image(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("REGISTRY_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".local/test-images"));
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "test photo {} is missing ({error}); run `make test-images`",
            path.display()
        )
    })
}

pub fn template() -> PathBuf {
    workspace_root().join("template.yaml")
}

/// A copy of template.yaml changed by `edit`, written in `dir` (as JSON,
/// which is YAML too).
pub fn edited_template(dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let text = std::fs::read_to_string(template()).expect("template.yaml");
    let mut template = local_stack::parse_template(&text).expect("the template parses");
    edit(&mut template);
    let path = dir.join("template.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&template).expect("JSON")).expect("written");
    path
}

fn database_ca() -> PathBuf {
    std::env::var_os("DATABASE_TLS_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".local/mariadb/tls/ca.pem"))
}

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: the end-to-end tests need a MySQL server. \
             Run them with `make test-e2e`, or `make database` then \
             `set -a; . .local/database.env; set +a` before `cargo test -p local-runtime`."
        )
    })
}

/// The parameters that give the stack its ALB: a certificate of the local
/// account and a domain name.
pub fn with_alb(options: &mut RuntimeOptions) {
    for (name, value) in [
        ("EnableAlb", "true"),
        (
            "AlbCertificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        ),
        ("AlbDomainName", "registry.example.org"),
    ] {
        options.parameters.insert(name.to_owned(), value.to_owned());
    }
}

/// The database as `function` sees it goes away: its port is closed to it
/// (`DB_PORT=1`), and its next invocation starts cold.
pub async fn close_the_database_to(function: &local_runtime::lambda::LocalFunction) {
    let closed = std::collections::BTreeMap::from([("DB_PORT".to_owned(), "1".to_owned())]);
    function.override_variables(&closed).await;
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut RuntimeOptions)) -> Self {
        match Self::try_start_with(adjust).await {
            Ok(harness) => harness,
            Err((error, _)) => panic!("the local runtime starts: {error}"),
        }
    }

    /// A stack that may fail to start (a broken template); then why, and
    /// what the local services refused meanwhile.
    pub async fn try_start_with(
        adjust: impl FnOnce(&mut RuntimeOptions),
    ) -> Result<Self, (String, Vec<local_iam::AccessDenied>)> {
        let _ = tracing_subscriber_init();
        let scratch = ScratchDatabase::create(&database_url(), "registry_e2e")
            .await
            .expect("a fresh database on the DATABASE_URL server");
        let state = tempfile::tempdir().expect("a temporary folder");
        let events_dir = state.path().join("events");
        let mut options = RuntimeOptions::new(
            template(),
            state.path(),
            models_dir(),
            database_url(),
            database_ca(),
        )
        .with_ephemeral_ports();
        let prefix = options.use_scratch_database(scratch.name());
        options.record_events = Some(events_dir.clone());
        options.retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
        options.custom_resource_wait = Some(Duration::from_secs(20));
        // The functions run as Lambda runs them: their own binaries.
        options.functions_dir = Some(functions_dir());
        adjust(&mut options);
        let authorizer = std::sync::Arc::clone(&options.authorizer);
        match LocalRuntime::start(options.clone()).await {
            Ok(runtime) => Ok(Self {
                runtime,
                http: reqwest::Client::new(),
                events_dir,
                options,
                scratch,
                _state: state,
            }),
            Err(error) => {
                let rds = local_runtime::rds::LocalRds::new(&database_url()).expect("the server");
                let _ = rds.drop_users(&prefix).await;
                let _ = scratch.drop_database().await;
                Err((error.to_string(), authorizer.refusals()))
            }
        }
    }

    /// The load balancer's URL (a stack started [`with_alb`]).
    pub fn alb_url(&self) -> String {
        self.runtime
            .load_balancer()
            .expect("the stack has a load balancer")
            .url()
            .to_owned()
    }

    /// What the stack was started with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// The same stack deployed again (its state, database, users and API
    /// endpoint kept), with what `adjust` changes: a new build, a new
    /// template. A deploy that fails is cleaned up, and says why.
    pub async fn redeploy(self, adjust: impl FnOnce(&mut RuntimeOptions)) -> Result<Self, String> {
        let Self {
            runtime,
            http,
            events_dir,
            mut options,
            scratch,
            _state,
        } = self;
        // The API keeps its endpoint, as `make dev` restarts on fixed ports.
        options.gateway_listen = runtime
            .gateway_url()
            .trim_start_matches("http://")
            .parse()
            .expect("the gateway's address");
        runtime.shutdown().await;
        adjust(&mut options);
        match LocalRuntime::start(options.clone()).await {
            Ok(runtime) => Ok(Self {
                runtime,
                http,
                events_dir,
                options,
                scratch,
                _state,
            }),
            Err(error) => {
                let rds = local_runtime::rds::LocalRds::new(&database_url()).expect("the server");
                let _ = rds.drop_users(&options.parameters["DbUserPrefix"]).await;
                let _ = scratch.drop_database().await;
                Err(error.to_string())
            }
        }
    }

    pub async fn stop(self) {
        self.runtime
            .drop_database_users()
            .await
            .expect("the stack's database users are dropped");
        self.runtime.shutdown().await;
        self.scratch
            .drop_database()
            .await
            .expect("the scratch database is dropped");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.runtime.gateway_url())
    }

    /// An access token for a member of `group`, got as the pages get one:
    /// the authorization code flow with PKCE at the user pool's domain (its
    /// form filled in), the code sent back to the API's own origin and
    /// exchanged. (The endpoints are the runtime's, not read from the faces
    /// function: tests take permissions away from it.)
    pub async fn token(&self, group: &str) -> String {
        let (email, password) = self.member(group);
        sign_in(
            &self.sign_in_config(),
            &self.runtime.gateway_url(),
            &email,
            &password,
        )
        .await
        .access_token
    }

    /// The e-mail and a new password of a user of the pool in `group`.
    pub fn member(&self, group: &str) -> (String, String) {
        let pool = self.runtime.user_pool().expect("the stack has a user pool");
        let email = format!("{group}@e2e.example.org");
        // Each call signs in again, with a password of its own.
        let password = pool.users().policy().generate();
        match pool.users().list().into_iter().find(|u| u.email == email) {
            Some(user) => {
                pool.users()
                    .set_password(&user.username, &password)
                    .expect("a new password");
            }
            None => {
                pool.users()
                    .add(&email, &[group.to_owned()], &password, true)
                    .expect("a user");
            }
        }
        (email, password)
    }

    /// What `GET /auth/config` answers, from the runtime itself.
    pub fn sign_in_config(&self) -> Value {
        let domain = self.runtime.sign_in_url();
        json!({
            "authorizationEndpoint": format!("{domain}/oauth2/authorize"),
            "tokenEndpoint": format!("{domain}/oauth2/token"),
            "clientId": self.runtime.tokens().audience(),
            "scope": "openid email profile",
        })
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::answer(request).await
    }

    /// Sends `request`: the status and the JSON body (`null` when there is none).
    pub async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the request is sent");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// `POST /api/uploads`, then the PUT to the presigned URL as a browser
    /// sends it. Returns the upload ticket.
    pub async fn enrol(
        &self,
        token: &str,
        lastname: &str,
        firstname: &str,
        photo: &[u8],
        content_type: &str,
    ) -> Value {
        let ticket = self
            .request_upload(token, lastname, firstname, photo.len(), content_type)
            .await;
        self.put_photo(&ticket, photo).await;
        ticket
    }

    /// A new photo for person `id`, through `POST /api/faces/{id}/photo`.
    pub async fn replace_photo(
        &self,
        token: &str,
        id: &Value,
        photo: &[u8],
        content_type: &str,
    ) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/api/faces/{id}/photo")))
            .bearer_auth(token)
            .json(&json!({ "contentType": content_type, "contentLength": photo.len() }))
            .send()
            .await
            .expect("POST /api/faces/{id}/photo");
        let status = response.status();
        let ticket: Value = response.json().await.expect("a JSON ticket");
        assert_eq!(status, 200, "new photo refused: {ticket}");
        self.put_photo(&ticket, photo).await;
        ticket
    }

    pub async fn request_upload(
        &self,
        token: &str,
        lastname: &str,
        firstname: &str,
        length: usize,
        content_type: &str,
    ) -> Value {
        let response = self
            .http
            .post(self.url("/api/uploads"))
            .bearer_auth(token)
            .json(&json!({
                "lastname": lastname,
                "firstname": firstname,
                "contentType": content_type,
                "contentLength": length,
            }))
            .send()
            .await
            .expect("POST /api/uploads");
        let status = response.status();
        let ticket: Value = response.json().await.expect("a JSON ticket");
        assert_eq!(status, 201, "upload refused: {ticket}");
        ticket
    }

    pub async fn put_photo(&self, ticket: &Value, photo: &[u8]) {
        let url = ticket["uploadUrl"].as_str().expect("an upload URL");
        let mut put = self.http.put(url).body(photo.to_vec());
        for (name, value) in ticket["headers"].as_object().expect("signed headers") {
            // The browser sets these itself.
            if name != "host" && name != "content-length" {
                put = put.header(name, value.as_str().expect("a header value"));
            }
        }
        let response = put.send().await.expect("PUT to the presigned URL");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "PUT refused ({status}): {body}");
    }

    /// Polls `GET /api/faces/{id}` until the person is no longer pending
    /// (or the object version with `etag` is recorded).
    pub async fn settle(&self, token: &str, person_id: &Value, within: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, person) = self
                .get(&format!("/api/faces/{person_id}"), Some(token))
                .await;
            assert_eq!(status, 200, "{person}");
            if person["status"] != "pending" {
                return person;
            }
            assert!(
                started.elapsed() < within,
                "still pending after {within:?}: {person}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` accepts the person.
    pub async fn wait_for(
        &self,
        token: &str,
        person_id: &Value,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = Instant::now();
        loop {
            let (_, person) = self
                .get(&format!("/api/faces/{person_id}"), Some(token))
                .await;
            if check(&person) {
                return person;
            }
            assert!(
                started.elapsed() < within,
                "not reached after {within:?}: {person}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The events delivered so far for `key`, oldest first.
    pub fn recorded_events(&self, key: &str) -> Vec<S3Event> {
        let mut events: Vec<(String, S3Event)> = std::fs::read_dir(&self.events_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| {
                        let text = std::fs::read_to_string(entry.path()).ok()?;
                        let event: S3Event = serde_json::from_str(&text).ok()?;
                        let record = event.records.first()?;
                        let decoded =
                            local_s3_store::decode_event_key(record.s3.object.key.as_deref()?)
                                .ok()?;
                        let sequencer = record.s3.object.sequencer.clone()?;
                        (decoded == key).then_some((sequencer, event))
                    })
                    .collect()
            })
            .unwrap_or_default();
        events.sort_by(|a, b| local_s3_store::compare_sequencers(&a.0, &b.0));
        events.into_iter().map(|(_, event)| event).collect()
    }

    /// The operator's AWS configuration: may do anything.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.runtime.operator_sdk_config().await
    }

    /// Hands `event` to the indexer as its queue's event source mapping
    /// does: one message of IndexQueue. A message it reports as failed is
    /// an error.
    pub async fn invoke_indexer(&self, event: &S3Event) -> Result<(), String> {
        let body = local_s3_store::event_to_json(event).expect("the event as JSON");
        let payload = json!({"Records": [{
            "messageId": "m-1",
            "receiptHandle": "m-1.1",
            "body": body.to_string(),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": self.runtime.stack().queues.iter().find(|q| q.logical_id == "IndexQueue").expect("IndexQueue").arn,
        }]});
        let answer = self
            .runtime
            .lambda()
            .function("IndexerFunction")
            .expect("the indexer")
            .invoke(payload)
            .await
            .map_err(|e| e.to_string())?;
        match answer["batchItemFailures"].as_array() {
            Some(failures) if failures.is_empty() => Ok(()),
            _ => Err(format!("the indexer failed on the event: {answer}")),
        }
    }

    pub async fn rekognition(&self) -> aws_sdk_rekognition::Client {
        aws_sdk_rekognition::Client::new(&self.sdk().await)
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Every version and delete marker under `key` (and keys it prefixes)
    /// in the photo bucket.
    pub async fn photo_versions(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput, String> {
        self.s3()
            .await
            .list_object_versions()
            .bucket(self.bucket())
            .prefix(key)
            .send()
            .await
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
    }

    /// The stack's database, as the server's administrator (for tests that
    /// make drift on purpose, or let time pass).
    pub async fn database(&self) -> sqlx::MySqlPool {
        let options: sqlx::mysql::MySqlConnectOptions =
            database_url().parse().expect("DATABASE_URL");
        sqlx::MySqlPool::connect_with(options.database(self.scratch.name()))
            .await
            .expect("the stack's database")
    }

    /// Invokes the reconcile function as its schedule does; its report.
    pub async fn reconcile(&self) -> Result<Value, local_runtime::lambda::FunctionError> {
        self.runtime
            .lambda()
            .function("ReconcileFunction")
            .expect("the reconcile function")
            .invoke(local_runtime::scheduler::scheduled_event())
            .await
    }

    /// Lets the reconcile grace period pass for everything changed or found
    /// out of place so far: their times go back an hour.
    pub async fn let_reconcile_grace_pass(&self) {
        let database = self.database().await;
        for statement in [
            "UPDATE person SET updated_at = updated_at - INTERVAL 1 HOUR, created_at = created_at - INTERVAL 1 HOUR",
            "UPDATE drift_sighting SET first_seen_at = first_seen_at - INTERVAL 1 HOUR",
            "UPDATE erasure SET requested_at = requested_at - INTERVAL 1 HOUR WHERE completed_at IS NULL",
        ] {
            sqlx::query(statement)
                .execute(&database)
                .await
                .expect("times moved back");
        }
        database.close().await;
    }

    pub fn collection(&self) -> String {
        self.runtime.stack().collections[0].id.clone()
    }

    /// The photo bucket: the one whose objects the indexer is told of.
    pub fn bucket(&self) -> String {
        self.runtime
            .stack()
            .buckets
            .iter()
            .find(|b| !b.notifications.is_empty())
            .expect("the photo bucket")
            .name
            .clone()
    }

    /// Waits until the collection holds exactly `expected` (sorted): a
    /// replaced face is deleted after the row names the new one.
    pub async fn wait_for_faces(&self, expected: &[String], within: Duration) {
        let started = Instant::now();
        loop {
            let faces = self.face_ids().await;
            if faces == expected {
                return;
            }
            assert!(
                started.elapsed() < within,
                "after {within:?} the collection holds {faces:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every FaceId in the collection.
    pub async fn face_ids(&self) -> Vec<String> {
        let client = self.rekognition().await;
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_faces()
                .collection_id(self.collection())
                .set_next_token(token)
                .max_results(100)
                .send()
                .await
                .expect("ListFaces");
            ids.extend(
                page.faces()
                    .iter()
                    .filter_map(|f| f.face_id().map(str::to_owned)),
            );
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        ids.sort();
        ids
    }
}

fn tracing_subscriber_init() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init()
}

/// The tokens of a sign-in.
pub struct SignedIn {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: String,
}

/// The authorization code flow with PKCE, as the pages run it on the API at
/// `gateway` with `config` (what `GET /auth/config` answers).
pub async fn sign_in(config: &Value, gateway: &str, email: &str, password: &str) -> SignedIn {
    use oauth2::{CsrfToken, PkceCodeChallenge};
    let browser = browser();
    let text = |name: &str| {
        config[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {config}"))
            .to_owned()
    };
    let redirect_uri = format!("{gateway}/faces");
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfToken::new_random();
    let mut authorize = url::Url::parse(&text("authorizationEndpoint")).expect("a URL");
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &text("clientId"))
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &text("scope"))
        .append_pair("state", state.secret())
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let answer = fill_in_sign_in_form(&browser, authorize.as_str(), email, password).await;
    let callback = url::Url::parse(&redirect_location(&answer)).expect("the callback");
    assert!(callback.as_str().starts_with(&redirect_uri), "{callback}");
    let params: std::collections::HashMap<String, String> =
        callback.query_pairs().into_owned().collect();
    assert_eq!(&params["state"], state.secret());
    let tokens: Value = browser
        .post(text("tokenEndpoint"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &text("clientId")),
            ("code", &params["code"]),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .expect("the code exchanged")
        .json()
        .await
        .expect("tokens");
    let token = |name: &str| {
        tokens[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {tokens}"))
            .to_owned()
    };
    SignedIn {
        access_token: token("access_token"),
        id_token: token("id_token"),
        refresh_token: token("refresh_token"),
    }
}

/// Where a redirect sends the browser.
pub fn redirect_location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "a redirect from {}", response.url());
    let location = response.headers()["location"].to_str().expect("a location");
    response.url().join(location).expect("a URL").to_string()
}

/// Opens `authorize` (the user pool's authorization endpoint, with its
/// query), is sent to the sign-in form, and submits it; the form's answer.
pub async fn fill_in_sign_in_form(
    browser: &reqwest::Client,
    authorize: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let to_login = browser.get(authorize).send().await.expect("authorize");
    let login = redirect_location(&to_login);
    let form = browser
        .get(&login)
        .send()
        .await
        .expect("the form")
        .text()
        .await
        .expect("HTML");
    let marker = r#"name="_csrf" value=""#;
    let start = form.find(marker).expect("a CSRF field") + marker.len();
    let csrf = form[start..].split('"').next().expect("its value");
    browser
        .post(&login)
        .form(&[("_csrf", csrf), ("username", email), ("password", password)])
        .send()
        .await
        .expect("the form posted")
}

/// A browser (cookies kept, redirects left to the test).
/// A Chromium's user agent: what ELB reads to choose its cookie's
/// `SameSite` attribute.
pub const CHROMIUM_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A client that keeps cookies and follows no redirect, as Chromium.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(CHROMIUM_USER_AGENT)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}
