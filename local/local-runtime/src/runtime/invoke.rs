//! One function invoked with an event file, as `sam local invoke` does.

use super::*;

/// Why an invocation by hand failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "the template has no function {0} (functions are named by their logical id, e.g. HealthFunction)"
    )]
    NoFunction(String),
    #[error("the function failed: {0}")]
    Function(#[from] crate::lambda::FunctionError),
    #[error(transparent)]
    CloudFormation(#[from] crate::cloudformation::CloudFormationError),
    #[error("--env-vars: {0}")]
    EnvVars(String),
}

/// Gives `function` the variables an `--env-vars` file names for it, as
/// `sam local invoke` does: the file's `Parameters` for every function,
/// then those under the function's logical id or name, which win. Only
/// variables the template declares for it are overridden (SAM ignores the
/// others); their names are returned. Its next invocation starts cold.
pub async fn apply_env_vars(
    runtime: &LocalRuntime,
    function: &str,
    file: &serde_json::Value,
) -> Result<Vec<String>, InvokeError> {
    let target = runtime
        .lambda()
        .function(function)
        .ok_or_else(|| InvokeError::NoFunction(function.to_owned()))?;
    let file = file
        .as_object()
        .ok_or_else(|| InvokeError::EnvVars("not a JSON object".into()))?;
    let mut values = BTreeMap::new();
    for section in ["Parameters", target.spec.name.as_str(), function] {
        let Some(section_values) = file.get(section) else {
            continue;
        };
        let section_values = section_values
            .as_object()
            .ok_or_else(|| InvokeError::EnvVars(format!("{section} is not an object")))?;
        for (name, value) in section_values {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
                _ => {
                    return Err(InvokeError::EnvVars(format!(
                        "{section}.{name} is not a string, number or boolean"
                    )));
                }
            };
            values.insert(name.clone(), text);
        }
    }
    Ok(target.override_variables(&values).await)
}

/// Invokes `function` with `event`, as `sam local invoke` does. A custom
/// resource request gets a local `ResponseURL` (and the ids CloudFormation
/// would send), so that the function's answer reaches the local bucket.
pub async fn invoke_event(
    runtime: &LocalRuntime,
    function: &str,
    event: serde_json::Value,
) -> Result<serde_json::Value, InvokeError> {
    let target = runtime
        .lambda()
        .function(function)
        .ok_or_else(|| InvokeError::NoFunction(function.to_owned()))?;
    // The stack's resource the request names (a function may serve several),
    // else the function's first.
    let named = event
        .get("LogicalResourceId")
        .and_then(serde_json::Value::as_str);
    let served = || {
        runtime
            .stack()
            .custom_resources
            .iter()
            .filter(|r| r.function.as_deref() == Some(function))
    };
    let custom_resource = served()
        .find(|r| Some(r.logical_id.as_str()) == named)
        .or_else(|| served().next());
    let kind = match event.get("RequestType").and_then(serde_json::Value::as_str) {
        Some("Create") => Some(crate::cloudformation::RequestType::Create),
        Some("Update") => Some(crate::cloudformation::RequestType::Update),
        Some("Delete") => Some(crate::cloudformation::RequestType::Delete),
        _ => None,
    };
    let event = match (custom_resource, kind) {
        (Some(resource), Some(kind)) => {
            let deployed = serde_json::json!({"physicalId": event.get("PhysicalResourceId").cloned().unwrap_or_default(), "properties": resource.properties});
            let (local, _) = runtime
                .cloudformation()
                .event(resource, kind, Some(&deployed))
                .await?;
            local
        }
        _ => event,
    };
    Ok(target.invoke(event).await?)
}
