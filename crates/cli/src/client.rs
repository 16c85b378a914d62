//! The registry's JSON API as the command line uses it: the caller's access
//! token on every request, and transient failures (no answer, 429, 5xx)
//! retried with backoff. What the API refuses is not retried: its message
//! says why.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use registry::duplicates::PossibleDuplicate;
use registry::person::Status;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry refused the request (4xx): its message says why.
    #[error("{message}")]
    Refused { status: u16, message: String },
    /// No answer, or a 429 or 5xx: worth trying again.
    #[error("{0}")]
    Unavailable(String),
    #[error("the registry's answer is not understood: {0}")]
    BadAnswer(String),
}

impl ClientError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A person as the API shows them (the fields the import reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemotePerson {
    pub id: u64,
    pub lastname: String,
    pub firstname: String,
    pub status: Status,
    pub status_reason: Option<String>,
    pub possible_duplicate: Option<PossibleDuplicate>,
    pub photo_sha256: Option<String>,
}

/// Where and how to send a photo: `POST /api/uploads`'s answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadTicket {
    pub person_id: u64,
    pub upload_url: String,
    pub method: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

/// One face the search found in a photo.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchedFace {
    #[serde(rename = "box")]
    pub face_box: FaceBox,
    pub sharpness: Option<f32>,
}

/// Ratios of the photo's width and height, as Rekognition gives them.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct FaceBox {
    pub width: f32,
    pub height: f32,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
    /// Sent as `X-Id-Token`, as the pages send it: the audit trail then
    /// names the caller by e-mail rather than by subject.
    id_token: Option<String>,
    retry: ExponentialBuilder,
}

impl Client {
    /// A client of the registry at `base` (its API's URL), signed in with `token`.
    pub fn new(mut base: Url, token: String) -> Result<Self, ClientError> {
        // Paths are joined onto it: a stage's path must end with `/`.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ClientError::Unavailable(format!("no HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            token,
            id_token: None,
            retry: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(5)
                .with_jitter(),
        })
    }

    /// With the ID token of the same sign-in, sent beside the access token.
    #[must_use]
    pub fn with_id_token(mut self, id_token: Option<String>) -> Self {
        self.id_token = id_token;
        self
    }

    /// The people whose photo, as uploaded, has this SHA-256.
    pub async fn people_with_photo(&self, sha256: &str) -> Result<Vec<RemotePerson>, ClientError> {
        #[derive(Deserialize)]
        struct Page {
            items: Vec<RemotePerson>,
        }
        let mut url = self.url("/api/faces")?;
        url.query_pairs_mut()
            .append_pair("sha256", sha256)
            .append_pair("limit", "100");
        let page: Page = self.call(|| self.api(Method::GET, url.clone())).await?;
        Ok(page.items)
    }

    pub async fn person(&self, id: u64) -> Result<RemotePerson, ClientError> {
        let url = self.url(&format!("/api/faces/{id}"))?;
        self.call(|| self.api(Method::GET, url.clone())).await
    }

    /// `POST /api/uploads`: a new person, pending, and where to send the
    /// photo; retried, never a second person.
    pub async fn request_upload(
        &self,
        lastname: &str,
        firstname: &str,
        content_type: &str,
        content_length: usize,
    ) -> Result<UploadTicket, ClientError> {
        let url = self.url("/api/uploads")?;
        let body = json!({
            "lastname": lastname,
            "firstname": firstname,
            "contentType": content_type,
            "contentLength": content_length,
        });
        // One key for this request and its retries: a retry whose first
        // reply was lost answers the person the first one created.
        let idempotency_key = uuid::Uuid::new_v4().to_string();
        self.call(|| {
            self.api(Method::POST, url.clone())
                .header("idempotency-key", &idempotency_key)
                .json(&body)
        })
        .await
    }

    /// Sends the photo to the presigned URL with the headers it was signed with.
    pub async fn upload(&self, ticket: &UploadTicket, photo: &[u8]) -> Result<(), ClientError> {
        let method = Method::from_bytes(ticket.method.as_bytes())
            .map_err(|_| ClientError::BadAnswer(format!("upload method {:?}", ticket.method)))?;
        let send = || {
            let mut request = self
                .http
                .request(method.clone(), &ticket.upload_url)
                .body(photo.to_vec());
            for (name, value) in &ticket.headers {
                // The HTTP client writes these itself.
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            async move {
                let response = request.send().await.map_err(unreachable)?;
                check(response).await.map(drop)
            }
        };
        send.retry(self.retry).when(ClientError::is_transient).await
    }

    /// `POST /api/search`: the faces the registry finds in `photo`; `None`
    /// when it finds none or cannot judge the photo.
    pub async fn faces_in(
        &self,
        photo: &[u8],
        content_type: &str,
    ) -> Result<Option<Vec<SearchedFace>>, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            faces: Vec<SearchedFace>,
        }
        let url = self.url("/api/search")?;
        let answer: Result<Answer, ClientError> = self
            .call(|| {
                self.api(Method::POST, url.clone())
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(photo.to_vec())
            })
            .await;
        match answer {
            Ok(answer) => Ok(Some(answer.faces)),
            Err(ClientError::Refused { status, .. })
                if status == StatusCode::UNPROCESSABLE_ENTITY.as_u16()
                    || status == StatusCode::BAD_REQUEST.as_u16()
                    || status == StatusCode::PAYLOAD_TOO_LARGE.as_u16()
                    || status == StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16() =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::BadAnswer(format!("{path}: {e}")))
    }

    fn api(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url).bearer_auth(&self.token);
        match &self.id_token {
            Some(id_token) => request.header("x-id-token", id_token),
            None => request,
        }
    }

    /// Sends the request `build` makes, again while it fails transiently,
    /// and reads the answer as JSON.
    async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, ClientError> {
        let send = || async {
            let response = build().send().await.map_err(unreachable)?;
            let response = check(response).await?;
            response
                .json::<T>()
                .await
                .map_err(|e| ClientError::BadAnswer(e.to_string()))
        };
        send.retry(self.retry).when(ClientError::is_transient).await
    }
}

fn unreachable(error: reqwest::Error) -> ClientError {
    ClientError::Unavailable(format!("no answer from the registry: {error}"))
}

/// A success, or the error the answer describes: the API's own message
/// (`{"error": {"message": ...}}`), or S3's XML as it came.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| body["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!(
                    "HTTP {status}: {}",
                    text.chars().take(300).collect::<String>()
                )
            }
        });
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(ClientError::Unavailable(message))
    } else {
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}
