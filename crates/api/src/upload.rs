//! The `upload` function: `POST /api/uploads` issues a presigned PUT and
//! records the person as pending; `GET /upload` serves the upload page.

use std::time::Duration;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use registry::ports::{PersonStore, PhotoStore};
use registry::upload::{UploadRequest, start_upload};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{ADMINS, Authenticator};
use crate::error::ApiError;
use crate::http::{Page, json_response, page_html, read_json, request_id};
use crate::metrics::{Metrics, Unit};

static UPLOAD_PAGE: Page = Page::new(page_html!("upload"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UploadBody {
    lastname: String,
    firstname: String,
    content_type: String,
    content_length: u64,
}

pub struct UploadApi<P, S> {
    pub people: P,
    pub photos: S,
    pub url_ttl: Duration,
    pub auth: Authenticator,
    pub metrics: Metrics,
}

impl<P: PersonStore, S: PhotoStore> UploadApi<P, S> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        self.metrics.cold_start();
        let routed = self.route(&request).await;
        routed.unwrap_or_else(|error| error.into_response(&request_id(&request)))
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/upload") => Ok(UPLOAD_PAGE.response()),
            (&Method::POST, "/api/uploads") => self.create(request).await,
            (method, "/upload" | "/api/uploads") => {
                Err(ApiError::MethodNotAllowed(method.to_string()))
            }
            (_, path) => Err(ApiError::NotFound(format!("no route for {path}"))),
        }
    }

    async fn create(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let caller = self.auth.require(request, &[ADMINS])?;
        let body: UploadBody = read_json(request)?;
        let upload = UploadRequest {
            lastname: body.lastname,
            firstname: body.firstname,
            content_type: body.content_type,
            content_length: body.content_length,
        };
        let ticket = start_upload(&self.people, &self.photos, &upload, self.url_ttl).await?;
        tracing::info!(
            person_id = ticket.person.id.0,
            key = %ticket.key,
            caller = caller.subject.as_deref().unwrap_or("-"),
            "upload URL issued"
        );
        self.metrics.emit(&[("UploadUrlsIssued", 1.0, Unit::Count)]);
        let headers: serde_json::Map<String, serde_json::Value> = ticket
            .request
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        Ok(json_response(
            StatusCode::CREATED,
            &json!({
                "personId": ticket.person.id,
                "key": ticket.key,
                "uploadUrl": ticket.request.url,
                "method": ticket.request.method,
                "headers": headers,
                "expiresAt": ticket.request.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        ))
    }
}
