//! What a deployment meets in AWS, met locally: the migrations' custom
//! resource answering CloudFormation through the VPC's S3 endpoint, failing
//! with a reason rather than leaving the stack waiting, updates and
//! deletions, rotated database secrets, and function timeouts.

use crate::common;

use std::time::Duration;

use common::{Harness, edited_template, workspace_root};
use local_runtime::FunctionsBuild;
use local_runtime::cloudformation::RequestType;
use serde_json::{Value, json};
use sqlx::Executor;

/// The statement of the S3 gateway endpoint's policy with `sid`.
fn endpoint_statement<'a>(template: &'a mut Value, sid: &str) -> &'a mut Value {
    template["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array_mut()
        .expect("the endpoint policy's statements")
        .iter_mut()
        .find(|s| s["Sid"] == sid)
        .expect("the statement")
}

fn function_variables<'a>(template: &'a mut Value, function: &str) -> &'a mut Value {
    &mut template["Resources"][function]["Properties"]["Environment"]["Variables"]
}

fn event(name: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join("events").join(name))
        .expect("a sample event");
    serde_json::from_str(&text).expect("JSON")
}

/// The response bucket named as the review found it (with the region's
/// dashes): the migrate function's answer is refused by the endpoint, and
/// CloudFormation waits for it until the ServiceTimeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_policy_that_misnames_the_response_bucket_leaves_the_stack_waiting() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        endpoint_statement(template, "CustomResourceResponses")["Resource"] = json!({
            "Fn::Sub": "arn:${AWS::Partition}:s3:::cloudformation-custom-resource-response-${AWS::Region}/*"
        });
    });
    let started = Harness::try_start_with(|options| {
        options.template = template;
        options.custom_resource_wait = Some(Duration::from_secs(5));
    })
    .await;
    let Err((error, refusals)) = started else {
        panic!("the stack deployed although its answer cannot pass the endpoint");
    };
    assert!(
        error.contains("DatabaseMigrations: no answer within"),
        "{error}"
    );
    assert!(
        refusals.iter().any(|r| r.action == "s3:PutObject"
            && r.resource
                .contains("cloudformation-custom-resource-response-useast1/")),
        "the answer was refused at the endpoint: {refusals:?}"
    );
}

/// Migrations that cannot reach the database answer FAILED with the reason,
/// at once: the stack rolls back instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_that_cannot_reach_the_database_fail_the_deploy_with_the_reason() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        function_variables(template, "MigrateFunction")["DB_PORT"] = json!(port.to_string());
    });
    let started = Harness::try_start_with(|options| options.template = template).await;
    let Err((error, _)) = started else {
        panic!("the stack deployed without its database");
    };
    assert!(
        error.contains("DatabaseMigrations: Create failed:"),
        "answered FAILED, not left waiting: {error}"
    );
}

/// A configuration the migrate function cannot read fails before its
/// handler runs; it answers FAILED all the same, saying what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migrate_function_it_cannot_configure_answers_failed_with_the_reason() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        function_variables(template, "MigrateFunction")["DB_APP_USERS"] = json!("not JSON");
    });
    let started = Harness::try_start_with(|options| options.template = template).await;
    let Err((error, _)) = started else {
        panic!("the stack deployed with a broken configuration");
    };
    assert!(
        error.contains("DatabaseMigrations: Create failed:") && error.contains("DB_APP_USERS"),
        "{error}"
    );
}

/// The function that sets up the operators' client applies only this
/// stack's sign-in URLs: a template (or any invoker) naming another site's
/// fails the deploy with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operators_client_is_never_given_another_sites_sign_in_url() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        template["Resources"]["UserPoolClientSettings"]["Properties"]["Settings"]["CallbackURLs"]
            .as_array_mut()
            .expect("the callback URLs")
            .push(json!("https://evil.example.net/faces"));
    });
    let started = Harness::try_start_with(|options| options.template = template).await;
    let Err((error, _)) = started else {
        panic!("the stack deployed with another site's callback URL");
    };
    assert!(
        error.contains("UserPoolClientSettings: Create failed:")
            && error.contains("https://evil.example.net/faces"),
        "{error}"
    );
}

/// Each deploy after the first is an Update; deleting the stack is a
/// Delete that succeeds and keeps the data (the cluster keeps a snapshot).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_migrations_answer_updates_and_deletion() {
    let harness = Harness::start().await;
    let cloudformation = harness.runtime.cloudformation();
    let created = cloudformation
        .request("DatabaseMigrations", RequestType::Update)
        .await
        .expect("an update succeeds");
    let updated = cloudformation
        .request("DatabaseMigrations", RequestType::Update)
        .await
        .expect("another update succeeds");
    assert_eq!(
        created.physical_id, updated.physical_id,
        "an update keeps the physical id (a new one would make CloudFormation delete the old)"
    );
    let deleted = cloudformation
        .request("DatabaseMigrations", RequestType::Delete)
        .await
        .expect("the deletion succeeds");
    assert_eq!(deleted.physical_id, created.physical_id);

    let admin = harness.token("admins").await;
    let (status, _) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(status, 200, "the data and the users are still there");
    harness.stop().await;
}

/// Whether the stack's database has a table `name`.
async fn has_table(harness: &Harness, name: &str) -> bool {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_one(&harness.database().await)
    .await
    .expect("the tables");
    count == 1
}

/// `sam deploy` alone runs new migrations. They are embedded in the migrate
/// function's code; a new build publishes a new version of it
/// (AutoPublishAlias), which the migrations' custom resource names, so
/// CloudFormation sends it an Update. The same build changes no property,
/// and nothing is sent; an older build (a rollback) ignores the migrations
/// it lacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_of_a_new_build_applies_its_new_migrations() {
    // A build made here, with other migrations, runs in this process: a
    // binary embeds the workspace's own.
    let harness = Harness::start_with(|options| options.functions_dir = None).await;
    assert!(!has_table(&harness, "badge").await);

    // The next build: the workspace's migrations and one more.
    let migrations = tempfile::tempdir().expect("a folder");
    for entry in std::fs::read_dir(workspace_root().join("migrations")).expect("migrations/") {
        let path = entry.expect("an entry").path();
        std::fs::copy(
            &path,
            migrations.path().join(path.file_name().expect("a name")),
        )
        .expect("copied");
    }
    std::fs::write(
        migrations.path().join("29991231000001_badge.sql"),
        "CREATE TABLE badge (id BIGINT UNSIGNED PRIMARY KEY) ENGINE=InnoDB;\n",
    )
    .expect("written");
    let mut migrator = registry_adapters::Migrator::new(migrations.path())
        .await
        .expect("the migrations load");
    migrator.set_ignore_missing(true);
    let next = FunctionsBuild {
        code_sha256: "0".repeat(64),
        migrations: Box::leak(Box::new(migrator)),
    };

    let harness = harness
        .redeploy(|options| options.build = Some(next.clone()))
        .await
        .expect("the new build deploys");
    assert!(has_table(&harness, "badge").await, "the new migration ran");

    // Undone behind the stack's back: a deploy of the same build sends
    // the custom resource nothing, so it stays undone.
    let database = harness.database().await;
    database.execute("DROP TABLE badge").await.expect("dropped");
    database
        .execute("DELETE FROM _sqlx_migrations WHERE version = 29991231000001")
        .await
        .expect("forgotten");
    let harness = harness
        .redeploy(|options| options.build = Some(next.clone()))
        .await
        .expect("the same build deploys");
    assert!(!has_table(&harness, "badge").await, "nothing ran again");

    // Applied again, then the previous build deployed (as a rollback runs
    // it): it lacks that migration and changes nothing.
    let harness = harness
        .redeploy(|options| {
            options.build = Some(FunctionsBuild {
                code_sha256: "1".repeat(64),
                ..next
            })
        })
        .await
        .expect("a third build deploys");
    assert!(has_table(&harness, "badge").await);
    let harness = harness
        .redeploy(|options| options.build = None)
        .await
        .expect("the previous build deploys over a newer schema");
    assert!(
        has_table(&harness, "badge").await,
        "the newer schema is kept"
    );
    // The user pool client's settings, which its custom resource set at
    // the first deploy and no deploy since has sent again, still hold:
    // operators sign in through the API.
    let admin = harness.token("admins").await;
    let (status, _) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(status, 200);
    harness.stop().await;
}

/// Closes every connection `user` has open, as a server restart or a
/// failover does: the pool must sign in again.
async fn disconnect(user: &str) {
    let admin = sqlx::MySqlPool::connect(&std::env::var("DATABASE_URL").expect("DATABASE_URL"))
        .await
        .expect("the server");
    let ids: Vec<(i64,)> =
        sqlx::query_as("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?")
            .bind(user)
            .fetch_all(&admin)
            .await
            .expect("the process list");
    for (id,) in ids {
        // A connection may have closed meanwhile.
        let _ = admin
            .execute(format!("KILL CONNECTION {id}").as_str())
            .await;
    }
    admin.close().await;
}

fn secret_user(harness: &Harness, function: &str) -> String {
    let function = harness
        .runtime
        .stack()
        .function(function)
        .expect("the function");
    function.environment["DB_USER"].clone()
}

/// After a rotation, a warm function's next login is refused (1045); it
/// reads the secret again and signs in with the new password.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_warm_function_signs_in_again_after_its_secret_rotates() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (status, _) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(status, 200, "warm, with the first password");

    harness
        .runtime
        .rotate_secret("FacesDbSecret")
        .await
        .expect("the secret rotates");
    disconnect(&secret_user(&harness, "FacesFunction")).await;

    let (status, body) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(status, 200, "signed in with the rotated password: {body}");
    harness.stop().await;
}

/// The RDS-managed master secret rotates too; the next deploy's migrations
/// read it afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_run_with_a_rotated_master_secret() {
    let harness = Harness::start().await;
    harness
        .runtime
        .rotate_secret("DbCluster.MasterUserSecret")
        .await
        .expect("the master secret rotates");
    harness
        .runtime
        .cloudformation()
        .request("DatabaseMigrations", RequestType::Update)
        .await
        .expect("the migrations sign in with the new master password");
    harness.stop().await;
}

/// An invocation past the function's Timeout is stopped and fails as
/// Lambda fails it; behind the gateway, that is a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invocation_past_the_timeout_fails() {
    // A database that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = silent.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            open.push(connection);
        }
    });
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        template["Resources"]["FacesFunction"]["Properties"]["Timeout"] = json!(1);
        let variables = function_variables(template, "FacesFunction");
        variables["DB_HOST"] = json!("127.0.0.1");
        variables["DB_PORT"] = json!(port.to_string());
    });
    let harness = Harness::start_with(|options| options.template = template).await;

    let failure = harness
        .runtime
        .lambda()
        .function("FacesFunction")
        .expect("the function")
        .invoke(event("faces-list.json"))
        .await
        .expect_err("timed out");
    assert_eq!(failure.error_type, "Sandbox.Timedout", "{failure:?}");
    assert!(failure.message.contains("1.00 seconds"), "{failure:?}");

    let admin = harness.token("admins").await;
    let (status, body) = harness.get("/api/faces", Some(&admin)).await;
    assert_eq!(
        (status, body),
        (500, json!({"message": "Internal Server Error"}))
    );
    held.abort();
    harness.stop().await;
}

/// The database user a function signs in as, from its own secret.
async fn function_login(harness: &Harness, function: &str) -> sqlx::mysql::MySqlConnectOptions {
    let function = harness
        .runtime
        .stack()
        .function(function)
        .expect("the function");
    let credentials = registry_adapters::database::read_secret(
        &harness.sdk().await,
        &function.environment["DB_SECRET_ARN"],
    )
    .await
    .expect("the function's secret");
    let server: sqlx::mysql::MySqlConnectOptions = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL")
        .parse()
        .expect("a MySQL URL");
    server
        .username(&credentials.username)
        .password(&credentials.password)
        .database(&function.environment["DB_NAME"])
}

/// Whether `statement` is allowed; anything but "denied" (1142, 1143) fails.
async fn allowed(connection: &mut sqlx::MySqlConnection, statement: &str) -> bool {
    match connection.execute(statement).await {
        Ok(_) => true,
        Err(error) => {
            let code = error
                .as_database_error()
                .and_then(|e| e.code())
                .map(|c| c.into_owned());
            assert!(
                matches!(code.as_deref(), Some("42000")),
                "{statement}: {error}"
            );
            false
        }
    }
}

/// Each function's database user may do what the function does and
/// nothing more, and only over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_function_signs_in_as_a_user_with_only_its_grants() {
    use sqlx::ConnectOptions;
    use sqlx::mysql::MySqlSslMode;

    let harness = Harness::start().await;
    let insert = "INSERT INTO person (lastname, firstname, object_key, status) \
                  VALUES ('Doe', 'Jane', 'doe_jane.jpg', 'pending')";
    let audit = "INSERT INTO audit_event (action, request_id, detail) VALUES ('rename', 'r', '{}')";
    let expected = [
        // (function, read people, write people, erase people (and read
        //  erasures), touch retired faces, append to the audit trail, read it)
        ("UploadFunction", true, true, true, true, true, false),
        ("FacesFunction", true, false, false, false, true, true),
        ("HealthFunction", true, false, false, false, false, false),
        ("IndexerFunction", true, true, false, true, true, false),
    ];
    for (function, reads, writes, erases, retires, appends, audits) in expected {
        let login = function_login(&harness, function).await;
        let plain = login
            .clone()
            .ssl_mode(MySqlSslMode::Disabled)
            .connect()
            .await;
        assert!(plain.is_err(), "{function}: signed in without TLS");

        let mut connection = login
            .ssl_mode(MySqlSslMode::VerifyIdentity)
            .ssl_ca(std::env::var("DATABASE_TLS_CA").expect("DATABASE_TLS_CA"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{function} signs in: {e}"));
        let mut transaction = sqlx::Connection::begin(&mut connection)
            .await
            .expect("a transaction");
        let actual = (
            function,
            allowed(&mut transaction, "SELECT COUNT(*) FROM person").await,
            allowed(&mut transaction, insert).await,
            allowed(&mut transaction, "DELETE FROM person").await,
            allowed(&mut transaction, "SELECT COUNT(*) FROM retired_face").await,
            allowed(&mut transaction, audit).await,
            allowed(&mut transaction, "SELECT COUNT(*) FROM audit_event").await,
        );
        assert_eq!(
            actual,
            (function, reads, writes, erases, retires, appends, audits)
        );
        // The indexer reads erasures (never to record an erased person
        // again); nobody forgets one.
        assert_eq!(
            allowed(&mut transaction, "SELECT COUNT(*) FROM erasure").await,
            erases || function == "IndexerFunction",
            "{function} reads erasures"
        );
        assert!(
            !allowed(&mut transaction, "DELETE FROM erasure").await,
            "{function} may forget an erasure"
        );
        // The trail is append-only for every function.
        for change in [
            "UPDATE audit_event SET detail = '{}'",
            "DELETE FROM audit_event",
        ] {
            assert!(
                !allowed(&mut transaction, change).await,
                "{function} may change the audit trail: {change}"
            );
        }
        transaction.rollback().await.expect("rolled back");
        // Outside the transaction: DDL commits the one in progress, even refused.
        assert!(
            !allowed(&mut connection, "CREATE TABLE intruder (id INT)").await,
            "{function} may create tables"
        );
    }
    harness.stop().await;
}

/// A route added to the template is served, with nothing changed in
/// `local/`: the gateway's routes are the template's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_route_added_to_the_template_is_served() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        template["Resources"]["HealthFunction"]["Properties"]["Events"]["Status"] = json!({
            "Type": "HttpApi",
            "Properties": {"ApiId": {"Ref": "HttpApi"}, "Method": "GET", "Path": "/status",
                           "Auth": {"Authorizer": "NONE"}}
        });
    });
    let harness = Harness::start_with(|options| options.template = template).await;

    // The health function itself answers (it serves /healthz only)...
    let (status, body) = harness.get("/status", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "no route for /status", "{body}");
    // ...where the gateway answers a path no route has.
    let unrouted = harness.get("/nothing-here", None).await;
    assert_eq!(unrouted, (404, json!({"message": "Not Found"})));
    harness.stop().await;
}

/// ELB registers a function as a target only when its policy lets
/// `elasticloadbalancing.amazonaws.com` invoke it: without the permission
/// the deploy fails, naming the target group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alb_target_without_the_invoke_permission_fails_the_deploy() {
    let dir = tempfile::tempdir().expect("a folder");
    let template = edited_template(dir.path(), |template| {
        let resources = template["Resources"].as_object_mut().expect("resources");
        resources.remove("FacesAlbPermission");
        resources["FacesTargetGroup"]
            .as_object_mut()
            .expect("the target group")
            .remove("DependsOn");
    });
    let started = Harness::try_start_with(|options| {
        options.template = template;
        common::with_alb(options);
    })
    .await;
    let Err((error, _)) = started else {
        panic!("the stack deployed although ELB may not invoke the faces function");
    };
    assert!(
        error.contains("FacesTargetGroup") && error.contains("does not have permission to invoke"),
        "{error}"
    );
}

/// S3 checks that it may send to a notification's queue when the
/// notification is set: without the queue policy's grant, or without the
/// key policy letting S3 use the queue's key, the stack does not deploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_photo_bucket_needs_leave_to_send_to_its_encrypted_queue() {
    let without = |resource: &'static str, path: &'static str, sid: &'static str| {
        move |template: &mut Value| {
            template["Resources"][resource]["Properties"][path]["Statement"]
                .as_array_mut()
                .expect("the policy's statements")
                .retain(|s| s["Sid"] != sid);
        }
    };
    for (edit, action) in [
        (
            without(
                "IndexQueuePolicy",
                "PolicyDocument",
                "PhotoBucketSendsItsEvents",
            ),
            "sqs:SendMessage",
        ),
        (
            without(
                "RegistryKey",
                "KeyPolicy",
                "S3SendsPhotoEventsToTheEncryptedQueue",
            ),
            "kms:GenerateDataKey",
        ),
    ] {
        let dir = tempfile::tempdir().expect("a folder");
        let template = edited_template(dir.path(), edit);
        let started = Harness::try_start_with(|options| options.template = template).await;
        let Err((error, refusals)) = started else {
            panic!("the stack deployed although S3 may not use {action}");
        };
        assert!(
            error.contains("Unable to validate the following destination configurations"),
            "{error}"
        );
        assert!(
            refusals
                .iter()
                .any(|r| r.action == action && r.principal == "s3.amazonaws.com"),
            "{action} refused to S3: {refusals:?}"
        );
    }
}
