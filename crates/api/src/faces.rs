//! The `faces` function: `GET /api/faces` (listing), `GET /api/faces/{id}`
//! (one person), `GET /faces` (the cards page), `GET /auth/config`
//! (where the pages sign in), `POST /auth/sign-out` (the ALB's session
//! ended), `POST /api/search` (identify), `POST /api/faces/{id}/export`
//! (the right of access) and `GET /api/audit` with the `/audit` page.

use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use registry::audit::{self, AuditAction, AuditParams, AuditTrail};
use registry::listing::{ListParams, list_people, parse_params};
use registry::person::{Person, PersonId, Status};
use registry::ports::{CallCounter, FaceSearch, PersonStore, PhotoStore};
use registry::search::{self, SearchParams};
use serde_json::{Value, json};

use crate::auth::{ADMINS, Authenticator, Caller, VIEWERS};
use crate::error::ApiError;
use crate::http::{json_response, query_param};
use crate::i18n::Lang;
use crate::pages::{Page, page_html};
use crate::people::{PersonView, parse_person_id};

static FACES_PAGE: Page = Page::new(page_html!("faces"));
static AUDIT_PAGE: Page = Page::new(page_html!("audit"));
static SEARCH_PAGE: Page = Page::new(page_html!("search"));

/// Characters of a key escaped in a public media URL (S3 keys allow more than URLs do).
const KEY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How the cards show photos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoLinks {
    /// A short-lived presigned GET per photo (the default: photos stay private).
    Presigned { ttl: Duration },
    /// A protected CDN in front of the bucket.
    PublicBase(String),
}

/// The user pool domain and app client the pages sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInSettings {
    pub url: String,
    pub client_id: String,
}

/// The scopes the pages ask for (the app client allows these).
const SIGN_IN_SCOPES: &str = "openid email profile";

pub struct FacesApi<P, S, F> {
    pub people: P,
    pub photos: S,
    /// Searches the collection with photos that are not kept (identify).
    pub face_search: F,
    pub photo_links: PhotoLinks,
    pub sign_in: Option<SignInSettings>,
    pub auth: Authenticator,
}

/// An entry of the audit trail as the API shows it.
fn audit_json(entry: &audit::AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": entry.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "action": entry.action,
        "personId": entry.person_id,
        "caller": {
            "subject": entry.actor.subject,
            "username": entry.actor.username,
            // `null` for entries written before e-mails were recorded, and
            // for callers that sent no ID token (scripts).
            "email": entry.actor.email,
            "groups": entry.actor.groups,
        },
        "requestId": entry.request_id,
        "detail": entry.detail,
    })
}

/// The ALB's session cookie (`SessionCookieName`'s default), which ELB
/// splits into shards `-0` to `-3` (16K at most). ELB keeps no sign-out of
/// its own: the application expires the cookies
/// (docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html).
const ALB_SESSION_COOKIE: &str = "AWSELBAuthSessionCookie";
const ALB_SESSION_SHARDS: usize = 4;

/// `POST /auth/sign-out`: ends the ALB's session, if the request came
/// through one (the pages then sign out at the user pool's domain). Through
/// API Gateway there is no such cookie, and this changes nothing.
fn alb_sign_out() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for shard in 0..ALB_SESSION_SHARDS {
        let expired = format!(
            "{ALB_SESSION_COOKIE}-{shard}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
        );
        if let Ok(value) = HeaderValue::from_str(&expired) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

impl<P: PersonStore + AuditTrail + CallCounter, S: PhotoStore, F: FaceSearch> FacesApi<P, S, F> {
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let routed = self.route(&request).await;
        routed.unwrap_or_else(|error| error.answer(&request))
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let path = request.uri().path();
        let method = request.method();
        for (page_path, page) in [
            ("/faces", &FACES_PAGE),
            ("/audit", &AUDIT_PAGE),
            ("/search", &SEARCH_PAGE),
        ] {
            if path == page_path {
                return if method == Method::GET {
                    Ok(page.response(Lang::of(request.headers())))
                } else {
                    Err(ApiError::MethodNotAllowed(method.to_string()))
                };
            }
        }
        if path == "/auth/config" {
            if method != Method::GET {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            return self.sign_in_config();
        }
        if path == "/api/openapi.json" {
            if method != Method::GET {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            return Ok(crate::openapi::response());
        }
        // Beyond the page shells and where to sign in, every route reads
        // people, changes something or is audited.
        self.auth.refuse_cross_site(request)?;
        if path == "/auth/sign-out" {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            return Ok(alb_sign_out());
        }
        if path == "/api/audit" {
            if method != Method::GET {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            self.auth.require(request, &[ADMINS])?;
            return self.audit(request).await;
        }
        if path == "/api/search" {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            let caller = self.auth.require(request, &[ADMINS, VIEWERS])?;
            return self.search(request, &caller).await;
        }
        if path == "/api/faces" {
            if method != Method::GET {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            let caller = self.auth.require(request, &[ADMINS, VIEWERS])?;
            return self.list(request, &caller).await;
        }
        if let Some(id) = path
            .strip_prefix("/api/faces/")
            .and_then(|rest| rest.strip_suffix("/export"))
        {
            // Not a GET: an export is audited, and must not be what a link
            // or an image of another page can start.
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            let caller = self.auth.require(request, &[ADMINS])?;
            return self.export(request, &caller, id).await;
        }
        if let Some(id) = path.strip_prefix("/api/faces/") {
            if method != Method::GET {
                return Err(ApiError::MethodNotAllowed(method.to_string()));
            }
            let caller = self.auth.require(request, &[ADMINS, VIEWERS])?;
            return self.one(request, &caller, id).await;
        }
        Err(ApiError::no_route(path))
    }

    /// What the pages need to sign in, the same in every runtime: the
    /// authorization server (the user pool's domain) and the client.
    fn sign_in_config(&self) -> Result<Response<Body>, ApiError> {
        let sign_in = self
            .sign_in
            .as_ref()
            .ok_or_else(ApiError::sign_in_not_configured)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "authorizationEndpoint": format!("{}/oauth2/authorize", sign_in.url),
                "tokenEndpoint": format!("{}/oauth2/token", sign_in.url),
                "revocationEndpoint": format!("{}/oauth2/revoke", sign_in.url),
                "logoutEndpoint": format!("{}/logout", sign_in.url),
                "clientId": sign_in.client_id,
                "scope": SIGN_IN_SCOPES,
            }),
        ))
    }

    /// `POST /api/search`: who is in this photo (the body: a JPEG or PNG)?
    /// The largest faces, each with the people it matches or "unknown";
    /// the photo is not kept, and the search is recorded in the audit
    /// trail. Counted against the caller's rate before anything else.
    async fn search(&self, request: &Request, caller: &Caller) -> Result<Response<Body>, ApiError> {
        search::admit(&self.people, &caller.rate_key(), chrono::Utc::now()).await?;
        let settings = search::parse_params(
            &SearchParams {
                threshold: query_param(request, "threshold")?,
                max_matches: query_param(request, "maxMatches")?,
            },
            caller.is_in(ADMINS),
        )?;
        let photo: &[u8] = request.body().as_ref();
        let identified = search::identify(&self.people, &self.face_search, photo, settings).await?;
        let found = &identified.faces;
        let summary = json!({
            "faces": found.len() + identified.not_searched.len(),
            "searched": found.len(),
            "threshold": settings.threshold,
        });
        let mut entries: Vec<(AuditAction, Option<PersonId>, Value)> = found
            .iter()
            .flat_map(|face| &face.matches)
            .map(|m| {
                let mut detail = summary.clone();
                detail["similarity"] = json!(m.similarity);
                (AuditAction::Search, Some(m.person.id), detail)
            })
            .collect();
        if entries.is_empty() {
            entries.push((AuditAction::Search, None, summary));
        }
        self.people.append(&entries, &caller.audit(request)).await?;
        let lang = Lang::of(request.headers());
        let mut faces = Vec::with_capacity(found.len());
        for face in found {
            let mut matches = Vec::with_capacity(face.matches.len());
            for m in &face.matches {
                matches.push(json!({
                    "similarity": m.similarity,
                    "person": self.item(&m.person).await?.in_language(lang),
                }));
            }
            faces.push(json!({
                "box": face.face_box,
                "sharpness": face.sharpness,
                "unknown": face.is_unknown(),
                "matches": matches,
            }));
        }
        tracing::info!(
            faces = found.len(),
            not_searched = identified.not_searched.len(),
            matched = entries.iter().filter(|(_, p, _)| p.is_some()).count(),
            "photo searched"
        );
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "threshold": settings.threshold,
                "faces": faces,
                "notSearched": identified.not_searched.iter().map(|b| json!({ "box": b })).collect::<Vec<_>>(),
            }),
        ))
    }

    /// `POST /api/faces/{id}/export` (the right of access): everything the
    /// registry holds about one person in one document: the record with a
    /// link to the photo, every FaceId ever recorded, and the audit trail
    /// about them. The export itself is recorded.
    async fn export(
        &self,
        request: &Request,
        caller: &Caller,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let id = parse_person_id(id)?;
        let person = self
            .people
            .get(id)
            .await?
            .ok_or_else(|| ApiError::no_such_person(id))?;
        let faces = self.people.faces_ever(id).await?;
        self.people
            .append(
                &[(AuditAction::Export, Some(id), json!({}))],
                &caller.audit(request),
            )
            .await?;
        let mut trail = Vec::new();
        let mut before_id = None;
        loop {
            let page = self
                .people
                .audit_trail(&audit::AuditFilter {
                    person_id: Some(id),
                    before_id,
                    limit: audit::MAX_PAGE_SIZE,
                    ..audit::AuditFilter::default()
                })
                .await?;
            before_id = page.last().map(|entry| entry.id);
            let full = page.len() == audit::MAX_PAGE_SIZE as usize;
            trail.extend(page.iter().map(audit_json));
            if !full {
                break;
            }
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "exportedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "person": self.item(&person).await?,
                "faceIds": faces,
                "audit": trail,
            }),
        ))
    }

    /// `GET /api/audit`: the trail, newest first, by person, action or caller.
    async fn audit(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let params = AuditParams {
            person: query_param(request, "person")?,
            action: query_param(request, "action")?,
            caller: query_param(request, "caller")?,
            limit: query_param(request, "limit")?,
            cursor: query_param(request, "cursor")?,
        };
        let filter = audit::parse_params(&params)?;
        let page = audit::read_trail(&self.people, &filter).await?;
        let items: Vec<Value> = page.items.iter().map(audit_json).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "items": items, "nextCursor": page.next_cursor }),
        ))
    }

    /// `GET /api/faces`: a page of people, each with a link to their photo.
    /// The page is recorded: who listed, with which filter.
    async fn list(&self, request: &Request, caller: &Caller) -> Result<Response<Body>, ApiError> {
        let params = ListParams {
            status: query_param(request, "status")?,
            duplicates: query_param(request, "duplicates")?,
            q: query_param(request, "q")?,
            sha256: query_param(request, "sha256")?,
            limit: query_param(request, "limit")?,
            cursor: query_param(request, "cursor")?,
        };
        let filter = parse_params(&params)?;
        // Recorded while the page is read: the entry holds the filter, not
        // the people found, and the listing keeps the speed of its query.
        let entry = [(AuditAction::Listing, None, audit::detail::listing(&filter))];
        let audit = caller.audit(request);
        let (page, ()) = tokio::try_join!(
            async {
                list_people(&self.people, &filter)
                    .await
                    .map_err(ApiError::from)
            },
            async {
                self.people
                    .append(&entry, &audit)
                    .await
                    .map_err(ApiError::from)
            },
        )?;
        let lang = Lang::of(request.headers());
        let mut items = Vec::with_capacity(page.items.len());
        for person in &page.items {
            items.push(self.item(person).await?.in_language(lang));
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct PeoplePage<'a> {
            items: Vec<PersonView<'a>>,
            next_cursor: Option<String>,
        }
        Ok(json_response(
            StatusCode::OK,
            &PeoplePage {
                items,
                next_cursor: page.next_cursor,
            },
        ))
    }

    /// `GET /api/faces/{id}`: one person and a link to their photo; the
    /// view is recorded before it is answered.
    async fn one(
        &self,
        request: &Request,
        caller: &Caller,
        id: &str,
    ) -> Result<Response<Body>, ApiError> {
        let id = parse_person_id(id)?;
        let person = self
            .people
            .get(id)
            .await?
            .ok_or_else(|| ApiError::no_such_person(id))?;
        self.people
            .append(
                &[(AuditAction::View, Some(id), json!({}))],
                &caller.audit(request),
            )
            .await?;
        let view = self.item(&person).await?;
        Ok(json_response(
            StatusCode::OK,
            &view.in_language(Lang::of(request.headers())),
        ))
    }

    async fn item<'a>(&self, person: &'a Person) -> Result<PersonView<'a>, ApiError> {
        Ok(PersonView::of(person).with_photo_url(self.photo_url(person).await?))
    }

    async fn photo_url(&self, person: &Person) -> Result<Option<String>, ApiError> {
        // A person still waiting for a first photo has nothing to show.
        if person.status == Status::Pending && person.object_etag.is_none() {
            return Ok(None);
        }
        Ok(Some(match &self.photo_links {
            PhotoLinks::Presigned { ttl } => {
                self.photos
                    .presign_download(&person.object_key, *ttl)
                    .await?
            }
            PhotoLinks::PublicBase(base) => format!(
                "{base}/{}",
                utf8_percent_encode(&person.object_key, KEY_ESCAPES)
            ),
        }))
    }
}
