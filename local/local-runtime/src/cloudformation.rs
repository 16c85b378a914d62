//! Custom resources run as CloudFormation runs them: the function is
//! invoked asynchronously (with its `EventInvokeConfig` retries) with a
//! request whose `ResponseURL` is a presigned PUT to CloudFormation's
//! response bucket; CloudFormation then waits up to the resource's
//! `ServiceTimeout` for an answer there, and checks it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::presigning::PresigningConfig;
use local_stack::{CustomResource, LocalStack};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::lambda::{LOCAL_RETRY_DELAYS, LocalLambda};
use crate::urls::LocalUrls;

/// CloudFormation refuses answers larger than this.
const MAX_ANSWER_BYTES: usize = 4096;
/// How long CloudFormation's presigned response URLs stay valid.
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    fn as_str(self) -> &'static str {
        match self {
            RequestType::Create => "Create",
            RequestType::Update => "Update",
            RequestType::Delete => "Delete",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CloudFormationError {
    #[error("{resource}: no answer within its ServiceTimeout of {timeout:?}")]
    NoAnswer { resource: String, timeout: Duration },
    #[error("{resource}: the answer is not what CloudFormation accepts: {reason}")]
    BadAnswer { resource: String, reason: String },
    #[error("{resource}: {request} failed: {reason}")]
    Failed {
        resource: String,
        request: &'static str,
        reason: String,
    },
    #[error("{resource}: its ServiceToken is not a function of the stack")]
    NotAFunction { resource: String },
    #[error("{0}")]
    S3(String),
    #[error("{path}: {source}")]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub success: bool,
    pub reason: Option<String>,
    pub physical_id: String,
    /// What `Fn::GetAtt` gives for the resource's attributes.
    pub data: Map<String, Value>,
}

/// A function's latest published version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Published {
    version: u64,
    code_sha256: String,
}

/// `properties` with each function version placeholder replaced by the
/// version's ARN.
fn with_versions(
    properties: &Map<String, Value>,
    versions: &BTreeMap<String, String>,
) -> Map<String, Value> {
    fn replace(value: &mut Value, versions: &BTreeMap<String, String>) {
        match value {
            Value::String(text) => {
                let replaced = local_stack::replace_deferred(text, |resource, attribute| {
                    match (attribute, versions.get(resource)) {
                        ("Version", Some(arn)) => Ok::<_, ()>(arn.clone()),
                        _ => Ok(local_stack::deferred_attribute(resource, attribute)),
                    }
                });
                if let Ok(replaced) = replaced {
                    *text = replaced;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| replace(v, versions)),
            Value::Object(map) => map.values_mut().for_each(|v| replace(v, versions)),
            _ => {}
        }
    }
    let mut value = Value::Object(properties.clone());
    replace(&mut value, versions);
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// What the stack remembers of a deployed custom resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Deployed {
    physical_id: String,
    properties: Map<String, Value>,
    #[serde(default)]
    data: Map<String, Value>,
}

/// The attributes (`Data`) each custom resource answered at the last
/// deploy, as `record` (the stack's custom-resources.json) keeps them.
pub fn deployed_attributes(record: &Path) -> BTreeMap<String, Map<String, Value>> {
    let records: Map<String, Value> = std::fs::read(record)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    records
        .into_iter()
        .filter_map(|(id, record)| {
            let deployed: Deployed = serde_json::from_value(record).ok()?;
            Some((id, deployed.data))
        })
        .collect()
}

/// What `Fn::GetAtt` gives a variable for a custom resource's attribute:
/// text as it is, any other value as JSON.
pub fn attribute_text(
    attributes: &BTreeMap<String, Map<String, Value>>,
    resource: &str,
    attribute: &str,
) -> Option<String> {
    match attributes.get(resource)?.get(attribute)? {
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// The bucket CloudFormation reads answers from: the region without dashes.
pub fn response_bucket(region: &str) -> String {
    format!(
        "cloudformation-custom-resource-response-{}",
        region.replace('-', "")
    )
}

pub struct LocalCloudFormation {
    stack: Arc<LocalStack>,
    lambda: Arc<LocalLambda>,
    /// Signed as CloudFormation: presigns the response URLs, reads answers.
    s3: aws_sdk_s3::Client,
    record: PathBuf,
    /// Tests wait less than a resource's ServiceTimeout for an answer.
    pub wait_at_most: Option<Duration>,
    /// AWS URLs served locally (a property that is one names the local one).
    pub local_urls: LocalUrls,
}

impl LocalCloudFormation {
    pub fn new(
        stack: Arc<LocalStack>,
        lambda: Arc<LocalLambda>,
        s3: aws_sdk_s3::Client,
        record: PathBuf,
    ) -> Self {
        Self {
            stack,
            lambda,
            s3,
            record,
            wait_at_most: None,
            local_urls: LocalUrls::default(),
        }
    }

    fn records(&self) -> Result<Map<String, Value>, CloudFormationError> {
        match std::fs::read(&self.record) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(source) => Err(CloudFormationError::Record {
                path: self.record.clone(),
                source,
            }),
        }
    }

    fn save(&self, records: &Map<String, Value>) -> Result<(), CloudFormationError> {
        let io = |source| CloudFormationError::Record {
            path: self.record.clone(),
            source,
        };
        if let Some(parent) = self.record.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(
            &self.record,
            serde_json::to_vec_pretty(records).unwrap_or_default(),
        )
        .map_err(io)
    }

    /// A new stack (its database was just created): nothing of an earlier
    /// one is deployed.
    pub fn forget_deployed(&self) -> Result<(), CloudFormationError> {
        self.save(&Map::new())
    }

    /// A stack deploy: the functions' versions published, then each custom
    /// resource created the first time, and afterwards updated only when
    /// its properties changed, as CloudFormation does. Returns each one's
    /// attributes (its answer's `Data`).
    pub async fn deploy(
        &self,
    ) -> Result<BTreeMap<String, Map<String, Value>>, CloudFormationError> {
        let mut records = self.records()?;
        let versions = self.publish_versions(&mut records);
        self.save(&records)?;
        let mut attributes = BTreeMap::new();
        for resource in &self.stack.custom_resources {
            let mut resource = resource.clone();
            resource.properties = with_versions(&resource.properties, &versions);
            let deployed: Option<Deployed> = records
                .get(&resource.logical_id)
                .and_then(|r| serde_json::from_value(r.clone()).ok());
            let answer = match &deployed {
                None => self.run(&resource, RequestType::Create, None).await?,
                Some(deployed) if deployed.properties == resource.properties => {
                    tracing::info!(resource = %resource.logical_id, "custom resource unchanged");
                    attributes.insert(resource.logical_id.clone(), deployed.data.clone());
                    continue;
                }
                Some(deployed) => {
                    self.run(&resource, RequestType::Update, Some(deployed))
                        .await?
                }
            };
            records.insert(
                resource.logical_id.clone(),
                json!(Deployed {
                    physical_id: answer.physical_id,
                    properties: resource.properties.clone(),
                    data: answer.data.clone(),
                }),
            );
            self.save(&records)?;
            attributes.insert(resource.logical_id.clone(), answer.data);
        }
        Ok(attributes)
    }

    /// Publishes a version of each function with an `AutoPublishAlias`
    /// whose code is not the latest version's, as SAM's new
    /// `AWS::Lambda::Version` does for new code; returns each function's
    /// current version ARN by logical id.
    fn publish_versions(&self, records: &mut Map<String, Value>) -> BTreeMap<String, String> {
        let mut versions = BTreeMap::new();
        for function in self.lambda.functions() {
            if function.spec.alias.is_none() {
                continue;
            }
            let key = format!("{}.Version", function.spec.logical_id);
            let code = &function.code_sha256();
            let latest: Option<Published> = records
                .get(&key)
                .and_then(|r| serde_json::from_value(r.clone()).ok());
            let published = match latest {
                Some(latest) if latest.code_sha256 == *code => latest,
                latest => {
                    let version = latest.map_or(1, |l| l.version + 1);
                    tracing::info!(function = %function.spec.logical_id, version, "version published");
                    Published {
                        version,
                        code_sha256: code.clone(),
                    }
                }
            };
            versions.insert(
                function.spec.logical_id.clone(),
                format!("{}:{}", function.spec.arn, published.version),
            );
            records.insert(key, json!(published));
        }
        versions
    }

    /// One request to a custom resource, as CloudFormation makes it.
    pub async fn request(
        &self,
        logical_id: &str,
        kind: RequestType,
    ) -> Result<Answer, CloudFormationError> {
        let resource = self
            .stack
            .custom_resources
            .iter()
            .find(|r| r.logical_id == logical_id)
            .ok_or_else(|| CloudFormationError::NotAFunction {
                resource: logical_id.to_owned(),
            })?;
        let mut records = self.records()?;
        let mut resource = resource.clone();
        resource.properties =
            with_versions(&resource.properties, &self.publish_versions(&mut records));
        let deployed: Option<Deployed> = records
            .get(logical_id)
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        self.run(&resource, kind, deployed.as_ref()).await
    }

    /// A request event for `resource`, answered at a fresh response URL.
    pub async fn event(
        &self,
        resource: &CustomResource,
        kind: RequestType,
        deployed: Option<&Value>,
    ) -> Result<(Value, String), CloudFormationError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let stack_id = self.stack_id();
        // CloudFormation's keys begin with the whole stack ARN; the local
        // store keeps object metadata in a file named after the key, so the
        // key is kept shorter here.
        let answer_key = format!("{}|{}|{request_id}", self.stack.name, resource.logical_id);
        let response_url = self
            .s3
            .put_object()
            .bucket(response_bucket(&self.stack.region))
            .key(&answer_key)
            .presigned(
                PresigningConfig::expires_in(RESPONSE_URL_LIFETIME)
                    .map_err(|e| CloudFormationError::S3(e.to_string()))?,
            )
            .await
            .map_err(|e| {
                CloudFormationError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
            })?
            .uri()
            .to_owned();
        let mut event = json!({
            "RequestType": kind.as_str(),
            "ServiceToken": resource.service_token,
            "ResponseURL": response_url,
            "StackId": stack_id,
            "RequestId": request_id,
            "ResourceType": resource.resource_type,
            "LogicalResourceId": resource.logical_id,
            "ResourceProperties": self.localized(&resource.properties),
        });
        if let Some(deployed) = deployed {
            event["PhysicalResourceId"] = deployed["physicalId"].clone();
            if kind == RequestType::Update {
                event["OldResourceProperties"] = deployed["properties"].clone();
            }
        }
        Ok((event, answer_key))
    }

    fn localized(&self, properties: &Map<String, Value>) -> Value {
        let mut value = Value::Object(properties.clone());
        self.local_urls.localize(&mut value);
        value
    }

    fn stack_id(&self) -> String {
        format!(
            "arn:aws:cloudformation:{}:{}:stack/{}/{}",
            self.stack.region,
            self.stack.account_id,
            self.stack.name,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, self.stack.name.as_bytes())
        )
    }

    async fn run(
        &self,
        resource: &CustomResource,
        kind: RequestType,
        deployed: Option<&Deployed>,
    ) -> Result<Answer, CloudFormationError> {
        let function = resource
            .function
            .as_deref()
            .and_then(|id| self.lambda.function(id))
            .cloned()
            .ok_or_else(|| CloudFormationError::NotAFunction {
                resource: resource.logical_id.clone(),
            })?;
        let deployed = deployed.map(|d| json!(d));
        let (event, answer_key) = self.event(resource, kind, deployed.as_ref()).await?;
        let request_id = event["RequestId"].as_str().unwrap_or_default().to_owned();
        tracing::info!(resource = %resource.logical_id, request = kind.as_str(), "custom resource request");

        // Asynchronous invocation: retried as the EventInvokeConfig of what
        // the ServiceToken names says.
        let retries = function
            .spec
            .asynchronous_for(&resource.service_token)
            .maximum_retry_attempts as usize;
        let invocation = tokio::spawn(async move {
            for attempt in 0..=retries {
                if attempt > 0 {
                    tokio::time::sleep(LOCAL_RETRY_DELAYS[(attempt - 1).min(1)]).await;
                }
                match function.invoke(event.clone()).await {
                    Ok(_) => return,
                    Err(error) => {
                        tracing::warn!(function = %function.spec.logical_id, attempt, %error, "custom resource invocation failed")
                    }
                }
            }
        });

        let timeout = self.wait_at_most.map_or(resource.service_timeout, |cap| {
            cap.min(resource.service_timeout)
        });
        let answer = self.wait_for_answer(&answer_key, timeout).await;
        invocation.abort();
        let answer = answer.ok_or_else(|| CloudFormationError::NoAnswer {
            resource: resource.logical_id.clone(),
            timeout,
        })?;
        let answer =
            check_answer(&answer, &request_id, &resource.logical_id).map_err(|reason| {
                CloudFormationError::BadAnswer {
                    resource: resource.logical_id.clone(),
                    reason,
                }
            })?;
        if answer.success {
            tracing::info!(resource = %resource.logical_id, request = kind.as_str(), "custom resource succeeded");
            Ok(answer)
        } else {
            Err(CloudFormationError::Failed {
                resource: resource.logical_id.clone(),
                request: kind.as_str(),
                reason: answer.reason.unwrap_or_default(),
            })
        }
    }

    async fn wait_for_answer(&self, key: &str, timeout: Duration) -> Option<Vec<u8>> {
        let started = Instant::now();
        let bucket = response_bucket(&self.stack.region);
        loop {
            if let Ok(object) = self.s3.get_object().bucket(&bucket).key(key).send().await
                && let Ok(body) = object.body.collect().await
            {
                return Some(body.into_bytes().to_vec());
            }
            if started.elapsed() >= timeout {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The checks CloudFormation makes of an answer.
fn check_answer(body: &[u8], request_id: &str, logical_id: &str) -> Result<Answer, String> {
    if body.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "{} bytes; at most {MAX_ANSWER_BYTES} are accepted",
            body.len()
        ));
    }
    let answer: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let text = |name: &str| answer.get(name).and_then(Value::as_str);
    let success = match text("Status") {
        Some("SUCCESS") => true,
        Some("FAILED") => false,
        other => return Err(format!("Status is {other:?}, not SUCCESS or FAILED")),
    };
    if text("RequestId") != Some(request_id) || text("LogicalResourceId") != Some(logical_id) {
        return Err("it names another request".to_owned());
    }
    let physical_id = text("PhysicalResourceId")
        .filter(|id| !id.is_empty() && id.len() <= 1024)
        .ok_or("PhysicalResourceId must be 1 to 1024 bytes")?
        .to_owned();
    let reason = text("Reason").map(str::to_owned);
    let data = match answer.get("Data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data.clone(),
        Some(_) => return Err("Data must be an object".to_owned()),
    };
    if !success && reason.as_deref().is_none_or(str::is_empty) {
        return Err("a FAILED answer needs a Reason".to_owned());
    }
    Ok(Answer {
        success,
        reason,
        physical_id,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_as_cloudformation_checks_them() {
        let good = br#"{"Status":"SUCCESS","PhysicalResourceId":"p","StackId":"s","RequestId":"r","LogicalResourceId":"L"}"#;
        assert!(check_answer(good, "r", "L").unwrap().success);
        assert!(check_answer(good, "other", "L").is_err());
        let failed = br#"{"Status":"FAILED","PhysicalResourceId":"p","RequestId":"r","LogicalResourceId":"L"}"#;
        assert!(
            check_answer(failed, "r", "L")
                .unwrap_err()
                .contains("Reason")
        );
        let big = format!(
            r#"{{"Status":"FAILED","Reason":"{}","PhysicalResourceId":"p","RequestId":"r","LogicalResourceId":"L"}}"#,
            "x".repeat(4096)
        );
        assert!(
            check_answer(big.as_bytes(), "r", "L")
                .unwrap_err()
                .contains("bytes")
        );
        assert_eq!(
            response_bucket("us-east-1"),
            "cloudformation-custom-resource-response-useast1"
        );
    }
}
