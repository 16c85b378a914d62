//! The metrics as CloudWatch reads them: Embedded Metric Format documents in
//! the namespace, with the function's name as the `FunctionName` dimension
//! the dashboard and alarms name, and each metric's unit. (Its own test
//! binary: the collector is the process's one recorder.)

use registry_api::metrics;
use serde_json::{Value, json};

fn flushed(collector: &metrics::Collector) -> Vec<Value> {
    let mut out = Vec::new();
    collector.flush(&mut out).expect("flushed");
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON document a line"))
        .collect()
}

#[test]
fn metrics_are_embedded_metric_format_documents_of_the_function() {
    let collector =
        metrics::collector("FaceRegistryTest", "stack-indexer").expect("the first collector");
    metrics::count("PhotosIndexed", 1);
    metrics::count("PhotosIndexed", 2);
    metrics::milliseconds("IndexingDuration", 12.5);
    metrics::milliseconds("IndexingDuration", 40.0);
    metrics::per_run("ReconcileDrift", 0);

    let documents = flushed(collector);
    assert_eq!(documents.len(), 1, "{documents:?}");
    let document = &documents[0];
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "FaceRegistryTest");
    assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
    assert_eq!(document["FunctionName"], "stack-indexer");
    assert!(document["_aws"]["Timestamp"].as_u64().is_some());
    let unit = |name: &str| {
        directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == name)
            .map(|m| m["Unit"].clone())
    };
    assert_eq!(unit("PhotosIndexed"), Some(json!("Count")));
    assert_eq!(unit("IndexingDuration"), Some(json!("Milliseconds")));
    assert_eq!(unit("ReconcileDrift"), Some(json!("Count")));
    assert_eq!(document["PhotosIndexed"], 3);
    assert_eq!(document["IndexingDuration"], json!([12.5, 40.0]));
    // A run's figure is sent even when it is zero: the drift alarm takes
    // the minimum of the runs' figures.
    assert_eq!(document["ReconcileDrift"], 0.0);

    // The next invocation's flush: counts start again from nothing; a run's
    // figure is sent again until the next run sets it.
    metrics::count("PeopleErased", 1);
    let next = flushed(collector);
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0]["PeopleErased"], 1);
    assert!(next[0].get("PhotosIndexed").is_none(), "{next:?}");
    assert_eq!(next[0]["ReconcileDrift"], 0.0);

    assert!(
        metrics::collector("FaceRegistryTest", "again").is_err(),
        "one collector a process"
    );
}
