//! The functions' permissions, proven as the cfn-guard rules are: the whole
//! flow passes with the template as it is and uses every permission it
//! grants; and for each permission, a copy of the template without it makes
//! the flow fail locally with AccessDenied for that very action, as it would
//! fail in AWS.

use crate::common;

use std::time::{Duration, Instant};

use common::{Harness, test_image, workspace_root};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(20);

/// Fails early when an event reached the dead-letter queue unexpectedly.
async fn no_dead_letter(harness: &Harness) -> Result<(), String> {
    let letters = harness
        .runtime
        .dead_letters()
        .expect("the indexer's dead letters")
        .list();
    match letters.first() {
        Some(letter) => Err(format!("an event was dead-lettered: {letter}")),
        None => Ok(()),
    }
}

async fn person(harness: &Harness, token: &str, id: &Value) -> Result<Value, String> {
    let (status, person) = harness.get(&format!("/api/faces/{id}"), Some(token)).await;
    if status == 200 {
        Ok(person)
    } else {
        Err(format!("GET /api/faces/{id}: {status} {person}"))
    }
}

/// Waits until `check` holds for the person, failing early on a dead letter.
async fn until(
    harness: &Harness,
    token: &str,
    id: &Value,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value, String> {
    let started = Instant::now();
    loop {
        let current = person(harness, token, id).await?;
        if check(&current) {
            return Ok(current);
        }
        no_dead_letter(harness).await?;
        if started.elapsed() > WITHIN {
            return Err(format!("{what}: not reached after {WITHIN:?}: {current}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn enrol(harness: &Harness, token: &str, photo: &[u8]) -> Result<Value, String> {
    upload(harness, token, photo, None).await
}

/// Enrols someone new, or sends a new photo of person `replacing`.
async fn upload(
    harness: &Harness,
    token: &str,
    photo: &[u8],
    replacing: Option<&Value>,
) -> Result<Value, String> {
    let (path, body, expected) = match replacing {
        None => (
            "/api/uploads".to_owned(),
            json!({"lastname": "Obama", "firstname": "Barack", "contentType": "image/jpeg", "contentLength": photo.len()}),
            201,
        ),
        Some(id) => (
            format!("/api/faces/{id}/photo"),
            json!({"contentType": "image/jpeg", "contentLength": photo.len()}),
            200,
        ),
    };
    let response = harness
        .http
        .post(harness.url(&path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let ticket: Value = response.json().await.unwrap_or(Value::Null);
    if status != expected {
        return Err(format!("POST {path}: {status} {ticket}"));
    }
    let mut put = harness
        .http
        .put(ticket["uploadUrl"].as_str().unwrap_or_default())
        .body(photo.to_vec());
    for (name, value) in ticket["headers"].as_object().into_iter().flatten() {
        if name != "host" && name != "content-length" {
            put = put.header(name, value.as_str().unwrap_or_default());
        }
    }
    let response = put.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        let status = response.status();
        return Err(format!(
            "PUT photo: {status} {}",
            response.text().await.unwrap_or_default()
        ));
    }
    Ok(ticket)
}

/// Everything the functions do: health, enrolment through the presigned
/// PUT, metadata stripped, indexing, the photo link, a replacement (the old face deleted),
/// identify, a corrected name (the photo moved to a new key), an erasure, an event for an object that is gone, and an event
/// that fails every attempt reaching the dead-letter queue.
async fn whole_flow(harness: &Harness) -> Result<(), String> {
    let (status, health) = harness.get("/healthz", None).await;
    if status != 200 {
        return Err(format!("GET /healthz: {status} {health}"));
    }
    let admin = harness.token("admins").await;

    // A phone's photo: stored again without its metadata, the version as
    // uploaded deleted, then indexed.
    let phone = registry_testkit::jpeg_with_revealing_metadata(&test_image("obama.jpg"), 1);
    let ticket = enrol(harness, &admin, &phone).await?;
    let id = &ticket["personId"];
    let indexed = until(harness, &admin, id, "indexed", |p| p["status"] != "pending").await?;
    if indexed["status"] != "indexed" {
        return Err(format!("not indexed: {indexed}"));
    }
    let versions = harness
        .photo_versions(ticket["key"].as_str().unwrap_or_default())
        .await?;
    if versions.versions().len() != 1 {
        return Err(format!(
            "the photo as uploaded is kept: {} versions",
            versions.versions().len()
        ));
    }
    let photo = harness
        .http
        .get(indexed["photoUrl"].as_str().unwrap_or_default())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if photo.status() != 200 {
        return Err(format!("GET photo: {}", photo.status()));
    }

    // A new photo replaces the face; the old one leaves the collection.
    let old_face = indexed["identity"].clone();
    upload(harness, &admin, &test_image("obama2.jpg"), Some(id)).await?;
    let replaced = until(harness, &admin, id, "replaced", |p| {
        p["status"] == "indexed" && p["identity"] != old_face
    })
    .await?;
    let started = Instant::now();
    while harness.face_ids().await
        != vec![replaced["identity"].as_str().unwrap_or_default().to_owned()]
    {
        no_dead_letter(harness).await?;
        if started.elapsed() > WITHIN {
            return Err(format!(
                "the old face {old_face} is still in the collection"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Identify: the new photo's face is found again.
    let searched = harness
        .http
        .post(harness.url("/api/search"))
        .bearer_auth(&admin)
        .header("content-type", "image/jpeg")
        .body(test_image("obama2.jpg"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = searched.status();
    let answer: Value = searched.json().await.unwrap_or(Value::Null);
    if status != 200 || answer["faces"][0]["unknown"] != false {
        return Err(format!("POST /api/search: {status} {answer}"));
    }

    // A corrected name: the photo copied to a key of the new name (read as
    // the upload function), indexed anew there, the old key's versions gone.
    let renamed = harness
        .http
        .patch(harness.url(&format!("/api/faces/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"lastname": "Dunham"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = renamed.status();
    let renamed: Value = renamed.json().await.unwrap_or(Value::Null);
    if status != 200 {
        return Err(format!("PATCH /api/faces/{id}: {status} {renamed}"));
    }
    let before = replaced["identity"].clone();
    until(harness, &admin, id, "indexed under the new key", |p| {
        p["status"] == "indexed" && p["identity"] != before
    })
    .await?;

    // Erasure: the faces, every version of the photo, and the record go.
    let erased = harness
        .http
        .delete(harness.url(&format!("/api/faces/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = erased.status();
    let receipt: Value = erased.json().await.unwrap_or(Value::Null);
    if status != 200 || receipt["checked"]["photoVersionsLeft"] != 0 {
        return Err(format!("DELETE /api/faces/{id}: {status} {receipt}"));
    }
    if !harness.face_ids().await.is_empty() {
        return Err("the erased person's face is still in the collection".into());
    }

    // Reconcile: a row lost (its photo and face left behind) is rebuilt by
    // writing the photo again, and the face nobody records is deleted; an
    // interrupted erasure is finished.
    reconcile_flow(harness, &admin).await?;

    // An event for an object that is gone changes nothing and succeeds.
    let gone = std::fs::read_to_string(workspace_root().join("events/s3-put.json"))
        .map_err(|e| e.to_string())?;
    let mut gone: Value = serde_json::from_str(&gone).map_err(|e| e.to_string())?;
    gone["Records"][0]["s3"]["bucket"]["name"] = json!(harness.bucket());
    gone["Records"][0]["s3"]["object"]["key"] = json!("gone_person.jpg");
    let event = serde_json::from_value(gone).map_err(|e| e.to_string())?;
    harness
        .invoke_indexer(&event)
        .await
        .map_err(|e| format!("an event for a gone object: {e}"))?;

    // An event that fails every attempt reaches the dead-letter queue.
    let rekognition = harness.rekognition().await;
    rekognition
        .delete_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let ticket = enrol(harness, &admin, &test_image("obama3.jpg")).await?;
    let letters = harness.runtime.dead_letters().expect("dead letters");
    let started = Instant::now();
    while letters.list().is_empty() {
        if started.elapsed() > WITHIN {
            return Err(format!(
                "the failing event for {} never reached the dead-letter queue",
                ticket["key"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn reconcile(harness: &Harness) -> Result<Value, String> {
    let report = harness
        .reconcile()
        .await
        .map_err(|e| format!("reconcile: {e}"))?;
    no_dead_letter(harness).await?;
    Ok(report)
}

async fn reconcile_flow(harness: &Harness, admin: &str) -> Result<(), String> {
    let database = harness.database().await;
    let ticket = enrol(harness, admin, &test_image("biden.jpg")).await?;
    let key = ticket["key"].as_str().unwrap_or_default().to_owned();
    let lost = until(harness, admin, &ticket["personId"], "indexed", |p| {
        p["status"] == "indexed"
    })
    .await?;
    sqlx::query("DELETE FROM person WHERE id = ?")
        .bind(lost["id"].as_u64())
        .execute(&database)
        .await
        .map_err(|e| e.to_string())?;
    reconcile(harness).await?;
    harness.let_reconcile_grace_pass().await;
    let report = reconcile(harness).await?;
    if report["photosRedriven"] != 1 || report["orphanFacesDeleted"] != 1 {
        return Err(format!("reconcile repaired nothing: {report}"));
    }
    let restored: Option<u64> = {
        let started = Instant::now();
        loop {
            let id: Option<u64> = sqlx::query_scalar(
                "SELECT id FROM person WHERE object_key = ? AND status = 'indexed'",
            )
            .bind(&key)
            .fetch_optional(&database)
            .await
            .map_err(|e| e.to_string())?;
            if id.is_some() || started.elapsed() > WITHIN {
                break id;
            }
            no_dead_letter(harness).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let restored = restored.ok_or("the lost row's photo was not indexed again")?;
    sqlx::query("INSERT INTO erasure (person_id, key_digest) VALUES (?, ?)")
        .bind(restored)
        .bind(registry::erasure::key_digest(&key).as_slice())
        .execute(&database)
        .await
        .map_err(|e| e.to_string())?;
    harness.let_reconcile_grace_pass().await;
    let report = reconcile(harness).await?;
    if report["erasuresFinished"] != 1 {
        return Err(format!("the interrupted erasure is not finished: {report}"));
    }
    database.close().await;
    if !harness.face_ids().await.is_empty() {
        return Err("faces are left after reconcile".into());
    }
    Ok(())
}

/// One permission of one function, as its statement grants it.
#[derive(Debug, Clone)]
struct Grant {
    function: String,
    statement: String,
    action: String,
}

/// The permissions the functions' statements grant with the default
/// parameters (statements of other conditions are not in force).
fn grants(harness: &Harness) -> Vec<Grant> {
    let mut grants = Vec::new();
    for function in &harness.runtime.stack().functions {
        for (name, policy) in &function.policies {
            // What SAM adds (the on-failure queue) is not in the template.
            if !name.contains("RolePolicy") {
                continue;
            }
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                let actions = match &statement["Action"] {
                    Value::String(action) => vec![action.clone()],
                    Value::Array(actions) => actions
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                for action in actions {
                    grants.push(Grant {
                        function: function.logical_id.clone(),
                        statement: statement["Sid"].as_str().unwrap_or_default().to_owned(),
                        action,
                    });
                }
            }
        }
    }
    grants
}

/// template.yaml without `grant`, written in `dir`.
fn template_without(grant: &Grant, dir: &std::path::Path) -> std::path::PathBuf {
    common::edited_template(dir, |template| {
        let statements =
            template["Resources"][&grant.function]["Properties"]["Policies"][0]["Statement"]
                .as_array_mut()
                .expect("the function's statements");
        for entry in statements.iter_mut() {
            // A statement may sit in the "then" branch of an Fn::If.
            let statement = match entry.get_mut("Fn::If") {
                Some(branches) => &mut branches[1],
                None => &mut *entry,
            };
            if statement["Sid"] != grant.statement.as_str() {
                continue;
            }
            let remaining: Vec<Value> = match &statement["Action"] {
                Value::Array(actions) => actions
                    .iter()
                    .filter(|a| **a != grant.action.as_str())
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            if remaining.is_empty() {
                *entry = json!({"Ref": "AWS::NoValue"});
            } else {
                statement["Action"] = Value::Array(remaining);
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_flow_uses_every_permission_the_template_grants() {
    let harness = Harness::start().await;
    whole_flow(&harness)
        .await
        .unwrap_or_else(|error| panic!("the whole flow fails: {error}"));
    let functions: Vec<_> = harness
        .runtime
        .stack()
        .functions
        .iter()
        .filter_map(|f| harness.runtime.access().keys.named(&f.logical_id))
        .collect();
    let unused = harness
        .runtime
        .access()
        .authorizer
        .unused_grants(functions.iter().map(AsRef::as_ref));
    // AWS's managed policy SAM attaches for an SQS event is not the
    // template's to trim (its logs grants serve CloudWatch Logs, which the
    // local runtime does not stand in for).
    let report: Vec<String> = unused
        .iter()
        .filter(|grant| grant.policy != "AWSLambdaSQSQueueExecutionRole")
        .map(ToString::to_string)
        .collect();
    assert!(
        report.is_empty(),
        "granted, and used by no code path:\n{}",
        report.join("\n")
    );
    harness.stop().await;
}

/// Removes each permission of `functions` in turn.
async fn each_permission_is_needed(functions: &[&str]) {
    let probe = Harness::start().await;
    let grants: Vec<Grant> = grants(&probe)
        .into_iter()
        .filter(|g| functions.contains(&g.function.as_str()))
        .collect();
    probe.stop().await;
    assert!(!grants.is_empty());
    let mut not_needed = Vec::new();
    for grant in grants {
        let dir = tempfile::tempdir().expect("a folder");
        let template = template_without(&grant, dir.path());
        let label = format!("{} {} {}", grant.function, grant.statement, grant.action);
        let started = Harness::try_start_with(|options| {
            options.template = template.clone();
            options.custom_resource_wait = Some(Duration::from_secs(10));
        })
        .await;
        let (failure, refusals) = match started {
            // Without a permission the migrations need, the stack does not deploy.
            Err((error, refusals)) => (error, refusals),
            Ok(harness) => {
                let failure = whole_flow(&harness).await.err();
                let refusals = harness.runtime.access().authorizer.refusals();
                harness.stop().await;
                match failure {
                    Some(failure) => (failure, refusals),
                    None => {
                        not_needed.push(label);
                        continue;
                    }
                }
            }
        };
        let refused_it = refusals.iter().any(|r| r.action == grant.action);
        assert!(
            refused_it,
            "without {label}, the flow fails ({failure}), but not for lack of {}: {refusals:?}",
            grant.action
        );
        eprintln!("without {label}: {failure}");
    }
    assert!(
        not_needed.is_empty(),
        "the flow passes without: {not_needed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_permission_of_the_api_functions_is_needed() {
    each_permission_is_needed(&["UploadFunction", "FacesFunction", "HealthFunction"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_permission_of_reconcile_is_needed() {
    each_permission_is_needed(&["ReconcileFunction"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_permission_of_the_indexer_and_the_custom_resources_is_needed() {
    each_permission_is_needed(&[
        "IndexerFunction",
        "MigrateFunction",
        "UserPoolSetupFunction",
    ])
    .await;
}
