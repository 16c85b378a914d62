//! `registry-local env`: each function's variables as the running stack
//! gives them, so that `cargo lambda watch` runs a function as the stack
//! would; Lambda's own variables among them.

use std::collections::BTreeMap;

use crate::common;

use common::{Harness, template};
use local_runtime::runtime::function_environment_for;
use local_stack::StackSettings;

#[tokio::test]
async fn the_printed_environment_is_the_one_each_function_runs_with() {
    // On free ports, as a `make dev` stack would announce its own.
    let harness = Harness::start_with(|options| options.announce_addresses = true).await;
    let options = harness.options();
    let mut settings = StackSettings::new(&options.stack_name);
    settings.region.clone_from(&options.region);
    settings.account_id.clone_from(&options.account_id);
    settings.parameters.clone_from(&options.parameters);
    assert_eq!(harness.runtime.lambda().functions().count(), 7);
    for function in harness.runtime.lambda().functions() {
        let id = &function.spec.logical_id;
        let printed =
            function_environment_for(&options.state, &template(), settings.clone(), id, None)
                .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(printed, function.environment(), "{id}");
        // What Lambda sets for the template's LoggingConfig (JSON), which
        // the Rust runtime reads to write JSON logs.
        assert_eq!(printed["AWS_LAMBDA_LOG_FORMAT"], "JSON", "{id}");
        assert_eq!(
            printed["AWS_LAMBDA_LOG_GROUP_NAME"],
            format!("/aws/lambda/{}", function.spec.name),
            "{id}"
        );
        // LogLevel (info) as Lambda's level and as RUST_LOG.
        assert_eq!(printed["AWS_LAMBDA_LOG_LEVEL"], "INFO", "{id}");
        assert_eq!(printed["RUST_LOG"], "info", "{id}");
        assert!(printed.values().all(|v| !v.contains("{{deployed:")), "{id}");
    }
    // The database as the stack reaches it, not the default port.
    let faces = harness
        .runtime
        .lambda()
        .function("FacesFunction")
        .expect("faces");
    let printed = function_environment_for(
        &options.state,
        &template(),
        settings.clone(),
        "FacesFunction",
        None,
    )
    .expect("faces");
    let server = url::Url::parse(&options.database_url).expect("a URL");
    assert_eq!(
        printed["DB_PORT"],
        server.port().unwrap_or(3306).to_string()
    );
    assert_eq!(printed["DB_PORT"], faces.environment()["DB_PORT"]);
    // And a configuration the functions accept.
    registry_adapters::Config::from_lookup(|name| printed.get(name).cloned())
        .expect("a valid configuration");
    assert!(
        function_environment_for(
            &options.state,
            &template(),
            settings.clone(),
            "NoSuchFunction",
            None
        )
        .is_err()
    );
    // LogLevel reaches Lambda's level too (the template's LoggingConfig), or
    // Lambda would drop the debug lines RUST_LOG lets through.
    let mut debug = settings;
    debug.parameters.insert("LogLevel".into(), "debug".into());
    let printed =
        function_environment_for(&options.state, &template(), debug, "FacesFunction", None)
            .expect("faces");
    assert_eq!(printed["RUST_LOG"], "debug");
    assert_eq!(printed["AWS_LAMBDA_LOG_LEVEL"], "DEBUG");
}

/// `--env-vars`, as `sam local invoke` reads it: `Parameters` for every
/// function, the function's own entry over them, and only the variables
/// the template declares.
#[tokio::test]
async fn env_vars_override_what_the_template_declares() {
    let harness = Harness::start().await;
    let healthz = || registry_testkit::events::event_json("healthz.json");
    let status = |answer: serde_json::Value| answer["statusCode"].as_u64();
    let invoke =
        |event| local_runtime::runtime::invoke_event(&harness.runtime, "HealthFunction", event);
    assert_eq!(status(invoke(healthz()).await.expect("healthz")), Some(200));

    let port = harness
        .runtime
        .lambda()
        .function("HealthFunction")
        .expect("health")
        .environment()["DB_PORT"]
        .clone();
    let closed = serde_json::json!({"Parameters": {"DB_PORT": "1", "NOT_IN_THE_TEMPLATE": "x"}});
    let ignored =
        local_runtime::runtime::apply_env_vars(&harness.runtime, "HealthFunction", &closed)
            .await
            .expect("applied");
    assert_eq!(ignored, ["NOT_IN_THE_TEMPLATE"]);
    assert_eq!(
        status(invoke(healthz()).await.expect("healthz")),
        Some(503),
        "no database on port 1"
    );

    let own =
        serde_json::json!({"Parameters": {"DB_PORT": "1"}, "HealthFunction": {"DB_PORT": port}});
    local_runtime::runtime::apply_env_vars(&harness.runtime, "HealthFunction", &own)
        .await
        .expect("applied");
    assert_eq!(status(invoke(healthz()).await.expect("healthz")), Some(200));

    let bad = serde_json::json!({"HealthFunction": {"DB_PORT": ["1"]}});
    assert!(
        local_runtime::runtime::apply_env_vars(&harness.runtime, "HealthFunction", &bad)
            .await
            .is_err()
    );
}

/// The `--env-vars` file `registry-local sam-env-vars` writes, read by SAM
/// CLI's own code (`tests/iac/sam_local_env.py`: the template as `sam local
/// invoke` reads it, with `SamLocalInvoke=true`), gives each container what
/// the local invoke gives the function. Docker does not run here: the
/// container itself is untested.
#[tokio::test]
async fn sam_local_invoke_gets_what_the_local_invoke_gives() {
    let harness = Harness::start().await;
    let environments: BTreeMap<_, _> = harness
        .runtime
        .lambda()
        .functions()
        .map(|function| (function.spec.logical_id.clone(), function.environment()))
        .collect();
    let folder = tempfile::tempdir().expect("a folder");
    let file = folder.path().join("env.json");
    let json = local_runtime::runtime::sam_env_vars_file(&environments);
    std::fs::write(&file, json.to_string()).expect("written");

    // SAM takes the credentials and region from the shell's session.
    let health = &environments["HealthFunction"];
    let mut sam = std::process::Command::new(common::workspace_root().join(".venv/bin/python"));
    sam.arg(common::workspace_root().join("tests/iac/sam_local_env.py"))
        .arg(template())
        .arg(&file)
        .arg("SamLocalInvoke=true")
        .args(
            harness
                .options()
                .parameters
                .iter()
                .map(|(k, v)| format!("{k}={v}")),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("SAM_CLI_TELEMETRY", "0");
    for name in [
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        sam.env(name, &health[name]);
    }
    let output = sam.output().expect("SAM CLI's Python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let containers: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_slice(&output.stdout).expect("JSON");

    assert_eq!(
        containers.keys().collect::<Vec<_>>(),
        environments.keys().collect::<Vec<_>>()
    );
    for (id, environment) in &environments {
        let container = &containers[id];
        for (name, value) in environment {
            let expected = match name.as_str() {
                "DB_TLS_CA_FILE" => local_runtime::runtime::SAM_CONTAINER_DATABASE_CA,
                // SAM names the function and its log group by logical id.
                "AWS_LAMBDA_FUNCTION_NAME" | "AWS_LAMBDA_LOG_GROUP_NAME" => continue,
                // The shell's session: the health function's here.
                "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" if id != "HealthFunction" => continue,
                _ => value,
            };
            assert_eq!(
                container.get(name).map(String::as_str),
                Some(expected),
                "{id} {name}"
            );
        }
    }
}
