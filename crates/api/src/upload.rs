//! The `upload` function, which writes people: `POST /api/uploads` issues a
//! presigned PUT and records a new person as pending; `POST
//! /api/faces/{id}/photo` does the same for a new photo of person `id`;
//! `PATCH /api/faces/{id}` corrects a person's names; `POST
//! /api/faces/{id}/duplicate` resolves a possible duplicate; `DELETE
//! /api/faces/{id}` erases a person; `GET /upload` serves the upload page.

use std::time::Duration;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use registry::duplicates::{self, Resolution};
use registry::erasure::Eraser;
use registry::ports::{FaceIndex, PersonStore, PhotoStore};
use registry::upload::{
    Rename, UploadError, UploadRequest, UploadTicket, rename, start_replacement, start_upload,
};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{ADMINS, Authenticator};
use crate::error::ApiError;
use crate::http::{json_response, read_json};
use crate::i18n::Lang;
use crate::metrics;
use crate::pages::{Page, page_html};
use crate::people::{PersonView, parse_person_id};

static UPLOAD_PAGE: Page = Page::new(page_html!("upload"));

/// A new photo of a person already enrolled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PhotoBody {
    content_type: String,
    content_length: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicateBody {
    /// `same` or `different`.
    resolution: Resolution,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    lastname: Option<String>,
    firstname: Option<String>,
}

/// The header a client names an enrolment with, so that sending it again
/// (the reply lost) creates nobody new.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UploadBody {
    lastname: String,
    firstname: String,
    content_type: String,
    content_length: u64,
}

pub struct UploadApi<P, S, F> {
    pub people: P,
    pub photos: S,
    /// The collection, where an erasure deletes the person's faces.
    pub faces: F,
    pub url_ttl: Duration,
    pub auth: Authenticator,
}

impl<P: PersonStore, S: PhotoStore, F: FaceIndex> UploadApi<P, S, F> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let routed = self.route(&request).await;
        routed.unwrap_or_else(|error| error.answer(&request))
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let path = request.uri().path();
        let person = path.strip_prefix("/api/faces/");
        // Every route but the page shell changes something.
        if path != "/upload" {
            self.auth.refuse_cross_site(request)?;
        }
        match (request.method(), path) {
            (&Method::GET, "/upload") => Ok(UPLOAD_PAGE.response(Lang::of(request.headers()))),
            (&Method::POST, "/api/uploads") => self.create(request).await,
            (method, "/upload" | "/api/uploads") => {
                Err(ApiError::MethodNotAllowed(method.to_string()))
            }
            _ => match (request.method(), person.map(|p| p.split_once('/'))) {
                (&Method::POST, Some(Some((id, "photo")))) => self.replace(request, id).await,
                (&Method::POST, Some(Some((id, "duplicate")))) => {
                    self.resolve_duplicate(request, id).await
                }
                (&Method::PATCH, Some(None)) => {
                    self.rename(request, person.unwrap_or_default()).await
                }
                (&Method::DELETE, Some(None)) => {
                    self.erase(request, person.unwrap_or_default()).await
                }
                (method, Some(Some((_, "photo" | "duplicate")) | None)) => {
                    Err(ApiError::MethodNotAllowed(method.to_string()))
                }
                _ => Err(ApiError::no_route(path)),
            },
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
        let audit = caller.audit(request);
        let idempotency_key = request
            .headers()
            .get(IDEMPOTENCY_KEY)
            .map(|value| value.to_str().map_err(|_| UploadError::BadIdempotencyKey))
            .transpose()?;
        let ticket = start_upload(
            &self.people,
            &self.photos,
            &upload,
            idempotency_key,
            self.url_ttl,
            &audit,
        )
        .await?;
        tracing::info!(
            person_id = ticket.person.id.0,
            caller = caller.subject.as_deref().unwrap_or("-"),
            "upload URL issued"
        );
        metrics::count("UploadUrlsIssued", 1);
        Ok(ticket_response(StatusCode::CREATED, &ticket))
    }

    async fn replace(&self, request: &Request, id: &str) -> Result<Response<Body>, ApiError> {
        let caller = self.auth.require(request, &[ADMINS])?;
        let id = parse_person_id(id)?;
        let body: PhotoBody = read_json(request)?;
        let ticket = start_replacement(
            &self.people,
            &self.photos,
            id,
            &body.content_type,
            body.content_length,
            self.url_ttl,
            &caller.audit(request),
        )
        .await?;
        tracing::info!(
            person_id = id.0,
            caller = caller.subject.as_deref().unwrap_or("-"),
            "replacement upload URL issued"
        );
        metrics::count("UploadUrlsIssued", 1);
        Ok(ticket_response(StatusCode::OK, &ticket))
    }

    async fn rename(&self, request: &Request, id: &str) -> Result<Response<Body>, ApiError> {
        let caller = self.auth.require(request, &[ADMINS])?;
        let id = parse_person_id(id)?;
        let body: RenameBody = read_json(request)?;
        let person = rename(
            &self.people,
            &self.photos,
            id,
            &Rename {
                lastname: body.lastname,
                firstname: body.firstname,
            },
            &caller.audit(request),
        )
        .await?;
        tracing::info!(
            person_id = id.0,
            caller = caller.subject.as_deref().unwrap_or("-"),
            "person renamed"
        );
        Ok(json_response(StatusCode::OK, &PersonView::of(&person)))
    }

    async fn resolve_duplicate(
        &self,
        request: &Request,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let caller = self.auth.require(request, &[ADMINS])?;
        let id = parse_person_id(id)?;
        let body: DuplicateBody = read_json(request)?;
        let person =
            duplicates::resolve(&self.people, id, body.resolution, &caller.audit(request)).await?;
        tracing::info!(
            person_id = id.0,
            caller = caller.subject.as_deref().unwrap_or("-"),
            resolution = ?body.resolution,
            "possible duplicate resolved"
        );
        Ok(json_response(StatusCode::OK, &PersonView::of(&person)))
    }

    /// Erases the person (or finishes an erasure begun earlier) and answers
    /// the receipt; asked again, it answers the same receipt.
    async fn erase(&self, request: &Request, id: &str) -> Result<Response<Body>, ApiError> {
        let caller = self.auth.require(request, &[ADMINS])?;
        let id = parse_person_id(id)?;
        let eraser = Eraser {
            people: &self.people,
            photos: &self.photos,
            faces: &self.faces,
        };
        let erased = eraser.erase(id, &caller.audit(request)).await?;
        let receipt = &erased.receipt;
        let caller_id = caller.subject.as_deref().unwrap_or("-");
        if erased.by_this_request {
            tracing::info!(
                person_id = id.0,
                caller = caller_id,
                faces = receipt.removed.face_ids.len(),
                photo_versions = receipt.removed.photo_versions,
                "person erased"
            );
            metrics::count("PeopleErased", 1);
        } else {
            tracing::info!(
                person_id = id.0,
                caller = caller_id,
                "erased before; its receipt answered again"
            );
        }
        let receipt = serde_json::to_value(receipt)
            .map_err(|e| ApiError::Internal(format!("the erasure receipt: {e}")))?;
        Ok(json_response(StatusCode::OK, &receipt))
    }
}

/// Where and how the browser sends the photo.
fn ticket_response(status: StatusCode, ticket: &UploadTicket) -> Response<Body> {
    let headers: serde_json::Map<String, serde_json::Value> = ticket
        .request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json_response(
        status,
        &json!({
            "personId": ticket.person.id,
            "key": ticket.key,
            "uploadUrl": ticket.request.url,
            "method": ticket.request.method,
            "headers": headers,
            "expiresAt": ticket.request.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}
