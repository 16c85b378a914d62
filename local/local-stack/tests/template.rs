//! The repository's template.yaml, as the local runtime sees it.

use std::path::PathBuf;
use std::time::Duration;

use local_stack::{LocalStack, SecretValue, StackError, StackSettings};
use serde_json::Value;

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

fn settings() -> StackSettings {
    let mut settings = StackSettings::new("face-registry");
    settings.database_host = "127.0.0.1".into();
    settings.database_port = 3307;
    settings.api_endpoint = "http://127.0.0.1:3000".into();
    settings
}

fn load(settings: &StackSettings) -> LocalStack {
    LocalStack::load(&template(), settings).expect("the template loads")
}

#[test]
fn routes_come_from_the_functions_http_api_events() {
    let stack = load(&settings());
    let mut routes: Vec<(String, String, String, bool)> = stack
        .functions
        .iter()
        .flat_map(|f| {
            f.routes.iter().map(|r| {
                (
                    r.method.clone(),
                    r.path.clone(),
                    f.binary.clone(),
                    r.authorizer.is_some(),
                )
            })
        })
        .collect();
    routes.sort();
    let expected = [
        ("DELETE", "/api/faces/{id}", "upload", true),
        ("GET", "/api/audit", "faces", true),
        ("GET", "/api/faces", "faces", true),
        ("GET", "/api/faces/{id}", "faces", true),
        ("GET", "/api/openapi.json", "faces", false),
        ("GET", "/audit", "faces", false),
        ("GET", "/auth/config", "faces", false),
        ("GET", "/faces", "faces", false),
        ("GET", "/healthz", "health", false),
        ("GET", "/search", "faces", false),
        ("GET", "/upload", "upload", false),
        ("PATCH", "/api/faces/{id}", "upload", true),
        ("POST", "/api/faces/{id}/duplicate", "upload", true),
        ("POST", "/api/faces/{id}/export", "faces", true),
        ("POST", "/api/faces/{id}/photo", "upload", true),
        ("POST", "/api/search", "faces", true),
        ("POST", "/api/uploads", "upload", true),
        ("POST", "/auth/sign-out", "faces", false),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(m, p, f, a)| (m.to_string(), p.to_string(), f.to_string(), *a))
        .collect();
    assert_eq!(routes, expected);
    let api = &stack.http_apis[0];
    assert_eq!(api.default_authorizer.as_deref(), Some("CognitoJwt"));
    let jwt = &api.authorizers["CognitoJwt"];
    assert!(
        jwt.issuer
            .starts_with("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_"),
        "{jwt:?}"
    );
    assert_eq!(jwt.audience.len(), 1);
}

#[test]
fn environments_take_the_globals_and_the_local_values() {
    let stack = load(&settings());
    let upload = stack.function("UploadFunction").unwrap();
    let env = &upload.environment;
    assert_eq!(
        env["PHOTO_BUCKET"],
        "face-registry-123456789012-us-east-1-photos"
    );
    assert_eq!(env["FACE_COLLECTION"], "face-registry-faces");
    assert_eq!(env["DB_HOST"], "127.0.0.1");
    assert_eq!(env["DB_PORT"], "3307");
    assert_eq!(env["DB_NAME"], "registry");
    assert_eq!(env["DB_USER"], "registry_upload");
    assert_eq!(env["UPLOAD_URL_TTL_SECONDS"], "300");
    let secret = stack.secret(&env["DB_SECRET_ARN"]).expect("its own secret");
    assert_eq!(secret.logical_id, "UploadDbSecret");
    assert_eq!(upload.timeout, Duration::from_secs(15));
    assert_eq!(
        stack.function("IndexerFunction").unwrap().timeout,
        Duration::from_secs(60)
    );
    assert_eq!(upload.memory_mb, 256);
    assert!(
        upload
            .role_arn
            .starts_with("arn:aws:iam::123456789012:role/face-registry-UploadFunctionRole-")
    );
    assert!(
        upload.session_arn().starts_with(
            "arn:aws:sts::123456789012:assumed-role/face-registry-UploadFunctionRole-"
        )
    );
    assert_eq!(upload.subnets.len(), 2);

    let migrate = stack.function("MigrateFunction").unwrap();
    assert_eq!(migrate.environment["DB_IAM_AUTH"], "false");
    let master = stack.secret(&migrate.environment["DB_SECRET_ARN"]).unwrap();
    assert!(matches!(master.value, SecretValue::DatabaseMaster { .. }));
    let users: Value = serde_json::from_str(&migrate.environment["DB_APP_USERS"]).unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 5);
    for user in users {
        let secret = stack
            .secret(user["secret"].as_str().unwrap())
            .expect("a secret of the stack");
        assert_eq!(secret.kms_key.as_deref(), Some(stack.keys[0].arn.as_str()));
    }
    assert_eq!(migrate.asynchronous.maximum_retry_attempts, 0);
}

#[test]
fn policies_are_resolved_documents() {
    let stack = load(&settings());
    let indexer = stack.function("IndexerFunction").unwrap();
    let statements: Vec<&Value> = indexer
        .policies
        .iter()
        .flat_map(|(_, p)| p["Statement"].as_array().unwrap())
        .collect();
    let read = statements
        .iter()
        .find(|s| s["Sid"] == "ReadPhotos")
        .unwrap();
    assert_eq!(
        read["Resource"],
        "arn:aws:s3:::face-registry-123456789012-us-east-1-photos/*"
    );
    assert!(
        statements.iter().all(|s| s["Sid"] != "ConnectWithIamAuth"),
        "no IAM auth by default"
    );
    // It reads IndexQueue (its SQS event), whose redrive policy sends what
    // fails five times to the dead-letter queue.
    let [source] = indexer.queue_sources.as_slice() else {
        panic!("one SQS event: {:?}", indexer.queue_sources)
    };
    assert_eq!(
        (source.batch_size, source.maximum_concurrency),
        (1, Some(5))
    );
    assert!(source.reports_item_failures);
    let queue = stack
        .queues
        .iter()
        .find(|q| q.arn == source.queue_arn)
        .unwrap();
    assert_eq!(queue.logical_id, "IndexQueue");
    assert_eq!(queue.kms_key.as_deref(), Some(stack.keys[0].arn.as_str()));
    assert_eq!(queue.visibility_timeout, Duration::from_secs(360));
    let redrive = queue.redrive.as_ref().expect("a redrive policy");
    assert_eq!(redrive.max_receive_count, 5);
    let dead_letters = stack
        .queues
        .iter()
        .find(|q| q.arn == redrive.dead_letter_arn)
        .unwrap();
    assert_eq!(
        dead_letters.url,
        "https://sqs.us-east-1.amazonaws.com/123456789012/face-registry-indexer-dlq"
    );
    assert!(dead_letters.retention > queue.retention);
    let policy = queue.policy.as_ref().expect("its queue policy");
    assert_eq!(policy["Statement"][0]["Sid"], "PhotoBucketSendsItsEvents");
    // SAM attaches AWS's managed policy for polling a queue.
    let (name, sqs) = indexer.policies.last().unwrap();
    assert_eq!(name, "AWSLambdaSQSQueueExecutionRole");
    assert_eq!(sqs["Statement"][0]["Action"][0], "sqs:ReceiveMessage");
}

#[test]
fn the_photo_bucket_is_versioned_encrypted_and_notifies_the_index_queue() {
    let stack = load(&settings());
    let bucket = stack
        .bucket("face-registry-123456789012-us-east-1-photos")
        .unwrap();
    assert!(bucket.versioned);
    assert_eq!(bucket.kms_key.as_deref(), Some(stack.keys[0].arn.as_str()));
    let policy = bucket.policy.as_ref().expect("a bucket policy");
    assert_eq!(policy["Statement"][0]["Sid"], "DenyInsecureTransport");
    assert_eq!(bucket.cors[0].allowed_origins, ["http://127.0.0.1:3000"]);
    assert_eq!(bucket.notifications.len(), 2);
    assert!(bucket.notifications.iter().all(|n| n.queue == "IndexQueue"));
    let jpg = &bucket.notifications[0];
    assert!(jpg.filter.matches("ObjectCreated:Put", "obama_barack.jpg"));
    assert!(!jpg.filter.matches("ObjectCreated:Put", "obama_barack.txt"));
    assert!(
        !jpg.filter
            .matches("ObjectRemoved:Delete", "obama_barack.jpg")
    );
}

#[test]
fn the_functions_reach_s3_through_the_gateway_endpoint() {
    let stack = load(&settings());
    let upload = stack.function("UploadFunction").unwrap();
    let endpoint = stack
        .gateway_endpoint_for(upload, "s3")
        .expect("the S3 gateway endpoint");
    let resources: Vec<&Value> = endpoint.policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Resource"])
        .collect();
    assert!(
        resources.contains(&&Value::from(
            "arn:aws:s3:::cloudformation-custom-resource-response-useast1/*"
        )),
        "{resources:?}"
    );
    assert!(stack.reaches(upload, "secretsmanager"));
    assert!(stack.reaches(upload, "rekognition"));
    assert!(!stack.reaches(upload, "sqs"), "no NAT, no SQS endpoint");
}

#[test]
fn the_migrations_are_a_custom_resource_of_the_migrate_function() {
    let stack = load(&settings());
    let migrations = &stack.custom_resources[0];
    assert_eq!(migrations.logical_id, "DatabaseMigrations");
    assert_eq!(migrations.function.as_deref(), Some("MigrateFunction"));
    assert_eq!(migrations.service_timeout, Duration::from_secs(360));
    let migrate = stack.function("MigrateFunction").unwrap();
    // The version its code publishes at deploy time: new code, new version.
    assert_eq!(
        migrations.properties["MigrateVersion"],
        local_stack::deferred_attribute("MigrateFunction", "Version")
    );
    // Its alias, which SAM gives the function's EventInvokeConfig: what
    // CloudFormation invokes is not retried. $LATEST would be, twice.
    let token = migrations.properties["ServiceToken"].as_str().unwrap();
    assert_eq!(token, format!("{}:live", migrate.arn));
    assert_eq!(migrate.asynchronous_for(token).maximum_retry_attempts, 0);
    assert_eq!(
        migrate
            .asynchronous_for(&migrate.arn)
            .maximum_retry_attempts,
        2
    );
}

#[test]
fn parameters_are_checked_as_cloudformation_checks_them() {
    let mut settings = settings();
    settings.parameters.insert("Stage".into(), "qa".into());
    let error = LocalStack::load(&template(), &settings).unwrap_err();
    assert!(
        matches!(error, StackError::Parameter { ref name, .. } if name == "Stage"),
        "{error}"
    );

    let mut settings = self::settings();
    settings.parameters.insert("Stage".into(), "prod".into());
    let error = LocalStack::load(&template(), &settings).unwrap_err();
    assert!(
        matches!(error, StackError::Rule { ref rule, .. } if rule == "ProdNeedsAlarmEmail"),
        "{error}"
    );

    let mut settings = self::settings();
    settings.parameters.insert("Nope".into(), "x".into());
    assert!(LocalStack::load(&template(), &settings).is_err());

    let mut settings = self::settings();
    settings
        .parameters
        .insert("DbUserPrefix".into(), "Bad-Prefix".into());
    assert!(LocalStack::load(&template(), &settings).is_err());
}

/// The variables `sam local invoke`'s `--env-vars` file sets exist only
/// with `SamLocalInvoke=true`, which a deploy refuses.
#[test]
fn the_sam_local_invoke_variables_are_never_deployed() {
    let stack = load(&settings());
    for function in &stack.functions {
        let local: Vec<_> = function
            .environment
            .keys()
            .filter(|name| name.starts_with("AWS_ENDPOINT_URL") || *name == "DB_TLS_CA_FILE")
            .collect();
        assert!(local.is_empty(), "{}: {local:?}", function.logical_id);
    }
    let mut settings = settings();
    settings
        .parameters
        .insert("SamLocalInvoke".into(), "true".into());
    let error = LocalStack::load(&template(), &settings).unwrap_err();
    assert!(
        matches!(error, StackError::Rule { ref rule, .. } if rule == "SamLocalInvokeIsNotDeployed"),
        "{error}"
    );
}

#[test]
fn a_region_without_rekognition_is_refused_by_the_template_rule() {
    let mut settings = settings();
    settings.region = "eu-west-3".into();
    let error = LocalStack::load(&template(), &settings).unwrap_err();
    assert!(
        matches!(error, StackError::Rule { ref rule, .. } if rule == "RegionOffersEveryService"),
        "{error}"
    );
    settings.region = "eu-central-1".into();
    load(&settings);
}

#[test]
fn with_iam_authentication_functions_have_no_password_secret() {
    let mut settings = settings();
    settings
        .parameters
        .insert("DbIamAuth".into(), "true".into());
    let stack = load(&settings);
    let health = stack.function("HealthFunction").unwrap();
    assert!(!health.environment.contains_key("DB_SECRET_ARN"));
    assert_eq!(health.environment["DB_IAM_AUTH"], "true");
    assert_eq!(stack.secrets.len(), 1, "only the master secret");
    let connect = health
        .policies
        .iter()
        .flat_map(|(_, p)| p["Statement"].as_array().unwrap())
        .find(|s| s["Sid"] == "ConnectWithIamAuth")
        .unwrap();
    let cluster = &stack.database_clusters[0];
    assert_eq!(
        connect["Resource"],
        format!(
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:{}/registry_health",
            cluster.resource_id
        )
    );
}

#[test]
fn a_function_setting_a_reserved_variable_is_refused() {
    let text = std::fs::read_to_string(template()).unwrap().replace(
        "          RECONCILE_GRACE_SECONDS: \"900\"",
        "          AWS_REGION: eu-west-1",
    );
    let template = local_stack::parse_template(&text).unwrap();
    let error = LocalStack::from_template(&template, &settings()).unwrap_err();
    assert!(error.to_string().contains("AWS_REGION"), "{error}");
}

/// Lambda refuses an SQS event source whose queue hides a message for
/// less time than the function may run.
#[test]
fn a_queue_that_hides_messages_for_less_than_the_function_runs_is_refused() {
    let text = std::fs::read_to_string(template()).unwrap().replace(
        "      VisibilityTimeout: 360\n",
        "      VisibilityTimeout: 30\n",
    );
    let template = local_stack::parse_template(&text).unwrap();
    let error = LocalStack::from_template(&template, &settings()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "IndexerFunction: InvalidParameterValueException: Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds"
    );
}

#[test]
fn with_the_alb_its_listener_rules_forward_to_lambda_target_groups() {
    use local_stack::elb::{Action, Unauthenticated};
    let mut settings = settings();
    for (name, value) in [
        ("EnableAlb", "true"),
        (
            "AlbCertificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        ),
        ("AlbDomainName", "registry.example.org"),
    ] {
        settings.parameters.insert(name.into(), value.into());
    }
    let stack = load(&settings);
    let [balancer] = stack.load_balancers.as_slice() else {
        panic!("one load balancer: {:?}", stack.load_balancers)
    };
    assert!(balancer.dns_name.ends_with(".us-east-1.elb.amazonaws.com"));
    let https = balancer
        .listeners
        .iter()
        .find(|l| l.protocol == "HTTPS")
        .expect("an HTTPS listener");
    assert_eq!(https.port, 443);
    let priorities: Vec<u32> = https.rules.iter().map(|r| r.priority).collect();
    assert!(priorities.is_sorted(), "{priorities:?}");
    let rule_for = |path: &str| {
        https
            .rules
            .iter()
            .find(|r| r.matches("GET", path))
            .unwrap_or_else(|| panic!("a rule for {path}"))
    };
    // Public: no authentication before the forward.
    assert!(matches!(
        rule_for("/healthz").actions[..],
        [Action::Forward { .. }]
    ));
    let Action::AuthenticateCognito(page) = &rule_for("/faces").actions[0] else {
        panic!("the faces page authenticates")
    };
    assert_eq!(page.on_unauthenticated, Unauthenticated::Authenticate);
    let Action::AuthenticateCognito(api) = &rule_for("/api/faces/42").actions[0] else {
        panic!("the API authenticates")
    };
    assert_eq!(api.on_unauthenticated, Unauthenticated::Deny);
    let pool = &stack.user_pools[0];
    assert_eq!(api.user_pool_arn, pool.arn);
    assert_eq!(Some(&api.domain), pool.domain_prefix.as_ref());
    // The pages served through the ALB PUT photos from its origin.
    let bucket = stack
        .bucket("face-registry-123456789012-us-east-1-photos")
        .expect("the photo bucket");
    assert!(
        bucket.cors[0]
            .allowed_origins
            .contains(&"https://registry.example.org".to_owned()),
        "{:?}",
        bucket.cors
    );
    // Every target group holds a function of the stack that ELB may invoke.
    assert_eq!(stack.target_groups.len(), 3);
    for group in &stack.target_groups {
        for arn in &group.functions {
            let function = stack.function_by_arn(arn).expect("a function of the stack");
            assert!(stack.lambda_permissions.iter().any(|p| {
                p.principal == "elasticloadbalancing.amazonaws.com"
                    && (p.function == function.name || &p.function == arn)
            }));
        }
    }
}
