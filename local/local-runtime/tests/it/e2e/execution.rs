//! The functions run as Lambda runs them: each its own binary, a process
//! per execution environment speaking the Runtime API, reused while warm,
//! within the template's `MemorySize`, each invocation reported as Lambda's
//! REPORT line reports it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_function_of_the_flow_runs_its_own_binary_within_its_memory() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    enrol_obama(&harness, &admin).await;
    let (status, _) = identify(&harness, &admin, &test_image("obama2.jpg"), "").await;
    assert_eq!(status, 200);
    let (status, _) = harness.get("/healthz", None).await;
    assert_eq!(status, 200);

    let functions_dir = common::functions_dir();
    let mut warm = false;
    for function in harness.runtime.lambda().functions() {
        let id = &function.spec.logical_id;
        assert_eq!(
            function.executable(),
            Some(functions_dir.join(&function.spec.binary).as_path()),
            "{id}"
        );
        let reports = function.reports();
        if id == "ReconcileFunction" {
            continue; // Scheduled every 10 minutes: not in this flow.
        }
        let first = reports.first().unwrap_or_else(|| panic!("{id} ran"));
        assert!(
            first.init_duration.is_some(),
            "{id}: a cold start first: {first}"
        );
        for report in &reports {
            assert_eq!(
                report.memory_size_mb,
                u64::from(function.spec.memory_mb),
                "{id}"
            );
            assert!(report.max_memory_used_mb > 0, "{id}: {report}");
            assert!(
                report.max_memory_used_mb <= report.memory_size_mb,
                "{id}: {report}"
            );
            assert_eq!(report.error_type, None, "{id}: {report}");
        }
        warm |= reports.iter().skip(1).any(|r| r.init_duration.is_none());
    }
    assert!(warm, "a warm environment served a second invocation");
}

/// In Lambda, with the template's `Tracing: Active`, every invocation has
/// its trace id (`_X_AMZN_TRACE_ID`), which the SDK adds to its requests:
/// signed into an upload URL, the browser would have to send it, and the
/// bucket's CORS would refuse its preflight. The page sends every header
/// the ticket names (but the two it cannot set): each must pass.
#[tokio::test]
async fn an_upload_ticket_asks_only_for_headers_the_buckets_cors_allows() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let ticket = harness
        .request_upload(&admin, "Obama", "Barack", 1000, "image/jpeg")
        .await;
    let headers: Vec<&str> = ticket["headers"]
        .as_object()
        .expect("the signed headers")
        .keys()
        .map(String::as_str)
        .filter(|name| !matches!(*name, "content-length" | "host"))
        .collect();
    assert!(headers.contains(&"content-type"), "{ticket}");
    let origin = harness.url("");
    let preflight = harness
        .http
        .request(
            reqwest::Method::OPTIONS,
            ticket["uploadUrl"].as_str().expect("a URL"),
        )
        .header("origin", origin.trim_end_matches('/'))
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", headers.join(","))
        .send()
        .await
        .expect("the preflight");
    assert!(
        preflight.status().is_success(),
        "{headers:?}: {} {}",
        preflight.status(),
        preflight.text().await.unwrap_or_default()
    );
}

/// A stack whose functions' binaries are not built does not start, and
/// says which one is missing and what builds it.
#[tokio::test]
async fn a_missing_binary_stops_the_start_and_says_what_builds_it() {
    let empty = tempfile::tempdir().expect("a folder");
    let folder = empty.path().to_path_buf();
    let Err((error, _)) =
        Harness::try_start_with(|options| options.functions_dir = Some(folder)).await
    else {
        panic!("started without the functions' binaries");
    };
    assert!(error.contains("its binary"), "{error}");
    assert!(error.contains("make registry-local"), "{error}");
}
