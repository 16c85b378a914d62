//! The local Secrets Manager through the real `aws-sdk-secretsmanager`.

use std::sync::Arc;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use local_iam::{Access, Authorizer, KeyRing, Policy, Principal};
use local_secrets_manager::{SecretKey, SecretSpec, SecretsManager};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const SECRET: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:face-registry/database/health-abcdef";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/registry";

fn principal(name: &str, statements: serde_json::Value) -> Principal {
    Principal {
        name: name.to_owned(),
        principal_arn: format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}Role/{name}"),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}Role"),
        account: ACCOUNT.to_owned(),
        policies: vec![
            Policy::parse(
                name,
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .unwrap(),
        ],
    }
}

struct Running {
    manager: Arc<SecretsManager>,
    keys: KeyRing,
    endpoint: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let mut keys = KeyRing::new(b"test");
    keys.add(principal(
        "Health",
        json!([{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET},
               {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]),
    ));
    keys.add(principal(
        "NoKey",
        json!([{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET}]),
    ));
    keys.add(principal(
        "Nothing",
        json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]),
    ));
    let access = Access {
        keys: Arc::new(keys.clone()),
        authorizer: Arc::new(Authorizer::new()),
    };
    let key_policy = Policy::parse(
        "RegistryKey",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"}]}),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = Arc::new(
        SecretsManager::open(
            &dir.path().join("secrets.json"),
            "us-east-1",
            access,
            vec![SecretSpec {
                name: "face-registry/database/health".into(),
                arn: SECRET.into(),
                kms_key: Some(SecretKey {
                    arn: KEY.into(),
                    policy: key_policy,
                }),
            }],
        )
        .unwrap(),
    );
    manager
        .put_value(
            SECRET,
            r#"{"username": "registry_health", "password": "first"}"#,
        )
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(Arc::clone(&manager).serve(listener, std::future::pending()));
    Running {
        manager,
        keys,
        endpoint,
        _dir: dir,
    }
}

impl Running {
    fn client(&self, name: &str) -> aws_sdk_secretsmanager::Client {
        let identity = self.keys.named(name).unwrap();
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new(
                    &identity.access_key_id,
                    identity.secret_access_key(),
                    None,
                    None,
                    "test",
                ))
                .endpoint_url(&self.endpoint)
                .http_client(aws_smithy_http_client::Builder::new().build_http())
                .build(),
        )
    }
}

async fn read(client: &aws_sdk_secretsmanager::Client) -> Result<String, (String, String)> {
    client
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await
        .map(|output| output.secret_string().unwrap_or_default().to_owned())
        .map_err(|error| {
            let service = error.as_service_error();
            (
                service
                    .and_then(aws_sdk_secretsmanager::error::ProvideErrorMetadata::code)
                    .unwrap_or_default()
                    .to_owned(),
                service
                    .and_then(aws_sdk_secretsmanager::error::ProvideErrorMetadata::message)
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
}

#[tokio::test]
async fn reading_a_secret_needs_its_permission_and_the_keys() {
    let running = start().await;
    let value = read(&running.client("Health")).await.unwrap();
    assert!(value.contains("first"));

    let (code, message) = read(&running.client("Nothing")).await.unwrap_err();
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.contains("secretsmanager:GetSecretValue"),
        "{message}"
    );

    let (code, message) = read(&running.client("NoKey")).await.unwrap_err();
    assert_eq!(code, "AccessDeniedException");
    assert!(
        message.starts_with("Access to KMS is not allowed"),
        "{message}"
    );
    assert!(message.contains("kms:Decrypt"), "{message}");

    let missing = running
        .client("Health")
        .get_secret_value()
        .secret_id("arn:aws:secretsmanager:us-east-1:123456789012:secret:other-abcdef")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
}

#[tokio::test]
async fn a_new_value_is_current_and_the_old_one_previous() {
    let running = start().await;
    running
        .manager
        .put_value(
            SECRET,
            r#"{"username": "registry_health", "password": "second"}"#,
        )
        .unwrap();
    let client = running.client("Health");
    assert!(read(&client).await.unwrap().contains("second"));
    let previous = client
        .get_secret_value()
        .secret_id("face-registry/database/health")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert!(previous.secret_string().unwrap().contains("first"));
    assert_eq!(
        running.manager.current(SECRET).as_deref(),
        Some(r#"{"username": "registry_health", "password": "second"}"#)
    );
}
