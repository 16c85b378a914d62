//! Signing in at `/oauth2/authorize` and `/login`: the request checked
//! against its client, the session cookie, the code sent back to the
//! client; and signing out at `/logout`.

use super::*;

/// A request to sign in, checked against the client it names.
#[derive(Debug, Clone)]
pub(super) struct Authorization {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scopes: Vec<String>,
    code_challenge: Option<String>,
}

/// Why a request to sign in is refused.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Shown on the domain: there is no client to send it to.
    Page(&'static str),
    /// A redirect URI the client does not list.
    RedirectMismatch(String),
    /// Sent back to the client's redirect URI.
    ToClient {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
    },
}

impl Refusal {
    pub(super) fn into_response(self) -> Response {
        match self {
            Refusal::Page(message) => error_response(StatusCode::BAD_REQUEST, message),
            Refusal::RedirectMismatch(client_id) => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("error", "redirect_mismatch")
                    .append_pair("client_id", &client_id)
                    .finish();
                redirect(&format!("/error?{query}"))
            }
            Refusal::ToClient {
                redirect_uri,
                state,
                error,
            } => {
                let mut pairs = vec![("error", error.to_owned())];
                if let Some(state) = state {
                    pairs.push(("state", state));
                }
                redirect(&with_query(&redirect_uri, &pairs))
            }
        }
    }
}

impl UserPool {
    pub(super) fn check_authorization(
        &self,
        query: Option<&str>,
    ) -> Result<Authorization, Refusal> {
        let params = query_params(query).map_err(Refusal::Page)?;
        let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        let client_id = get("client_id").ok_or(Refusal::Page("client_id is missing."))?;
        let client = self
            .client(&client_id)
            .ok_or(Refusal::Page("The client does not exist."))?;
        let redirect_uri = get("redirect_uri")
            .filter(|uri| client.callback_urls.contains(uri))
            .ok_or_else(|| Refusal::RedirectMismatch(client_id.clone()))?;
        let state = get("state");
        let to_client = |error| Refusal::ToClient {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
        };
        match get("response_type").as_deref() {
            Some("code") if client.allows_code_flow() => {}
            Some("code" | "token") => return Err(to_client("unauthorized_client")),
            _ => return Err(to_client("invalid_request")),
        }
        let code_challenge = get("code_challenge");
        match (get("code_challenge_method").as_deref(), &code_challenge) {
            (None, None) | (Some("S256"), Some(_)) => {}
            _ => return Err(to_client("invalid_request")),
        }
        // Scopes the client may not have are left out; none left is an error.
        let scopes: Vec<String> = match get("scope") {
            None => client.allowed_oauth_scopes.clone(),
            Some(requested) => requested
                .split_whitespace()
                .filter(|s| client.allowed_oauth_scopes.iter().any(|a| a == s))
                .map(str::to_owned)
                .collect(),
        };
        if scopes.is_empty() {
            return Err(to_client("invalid_scope"));
        }
        Ok(Authorization {
            client_id,
            redirect_uri,
            state,
            scopes,
            code_challenge,
        })
    }

    /// The user signed in at the domain (by the session cookie), if any.
    pub(super) fn session(&self, headers: &HeaderMap) -> Option<(User, i64)> {
        let id = cookies::read(headers, SESSION_COOKIE)?;
        let session = self.grants().sessions.get(&id).cloned()?;
        let user = self.users.get(&session.username)?;
        Some((user, session.auth_time))
    }

    /// Signs `user` in at the domain and sends them back to the client with a code.
    pub(super) fn complete(
        &self,
        user: &User,
        auth_time: i64,
        authorization: Authorization,
    ) -> Response {
        let session_id = random_token();
        let code = uuid::Uuid::new_v4().to_string();
        {
            let mut grants = self.grants();
            grants.sessions.insert(
                session_id.clone(),
                Session {
                    username: user.username.clone(),
                    auth_time,
                    expires: Instant::now() + SESSION_LIFETIME,
                },
            );
            grants.codes.insert(
                code.clone(),
                CodeGrant {
                    client_id: authorization.client_id.clone(),
                    redirect_uri: authorization.redirect_uri.clone(),
                    username: user.username.clone(),
                    scopes: authorization.scopes.clone(),
                    code_challenge: authorization.code_challenge.clone(),
                    auth_time,
                    expires: Instant::now() + self.code_lifetime,
                },
            );
        }
        tracing::info!(user = %user.sub, client = %authorization.client_id, "signed in");
        let mut pairs = vec![("code", code)];
        if let Some(state) = authorization.state {
            pairs.push(("state", state));
        }
        let mut response = redirect(&with_query(&authorization.redirect_uri, &pairs));
        cookies::set(
            &mut response,
            SESSION_COOKIE,
            &session_id,
            SESSION_LIFETIME.as_secs(),
        );
        response
    }
}

/// `GET /oauth2/authorize`: straight back to the client with a code when
/// the browser is signed in at the domain, else to the sign-in form.
pub(super) async fn authorize(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let authorization = match pool.check_authorization(query.as_deref()) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some((user, auth_time)) = pool.session(&headers) {
        return pool.complete(&user, auth_time, authorization);
    }
    redirect(&format!("/login?{}", query.unwrap_or_default()))
}

/// `GET /login`: the sign-in form.
pub(super) async fn login_page(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
) -> Response {
    match pool.check_authorization(query.as_deref()) {
        Ok(_) => form(StatusCode::OK, &Form::SignIn, None, None),
        Err(refusal) => refusal.into_response(),
    }
}

/// `POST /login`: the form's answer.
pub(super) async fn login(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = match pool.check_authorization(query.as_deref()) {
        Ok(authorization) => authorization,
        Err(refusal) => return refusal.into_response(),
    };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let csrf = cookies::read(&headers, CSRF_COOKIE)
        .filter(|expected| !expected.is_empty() && expected == field("_csrf"));
    if csrf.is_none() {
        return form(
            StatusCode::FORBIDDEN,
            &Form::SignIn,
            Some("The form expired: sign in again."),
            None,
        );
    }
    // The same form is shown again: it keeps its CSRF token.
    let form = |status, kind: &Form, error: Option<&str>| form(status, kind, error, csrf.clone());
    let now = chrono::Utc::now().timestamp();
    if !field("challenge").is_empty() {
        let challenge = field("challenge").to_owned();
        let pending = pool.grants().challenges.get(&challenge).cloned();
        let Some(pending) = pending else {
            return form(
                StatusCode::BAD_REQUEST,
                &Form::SignIn,
                Some("The form expired: sign in again."),
            );
        };
        let again = Form::NewPassword(challenge.clone());
        if field("new_password") != field("confirm_password") {
            return form(StatusCode::OK, &again, Some("The passwords do not match."));
        }
        return match pool
            .users
            .set_password(&pending.username, field("new_password"))
        {
            Ok(user) => {
                pool.grants().challenges.remove(&challenge);
                tracing::info!(user = %user.sub, "temporary password replaced");
                pool.complete(&user, now, authorization)
            }
            Err(error) => form(StatusCode::OK, &again, Some(&error.to_string())),
        };
    }
    let Some(user) = pool
        .users
        .authenticate(field("username"), field("password"))
    else {
        tracing::info!(client = %authorization.client_id, "sign-in refused: wrong credentials");
        return form(StatusCode::OK, &Form::SignIn, Some(WRONG_CREDENTIALS));
    };
    match user.status {
        UserStatus::Confirmed => pool.complete(&user, now, authorization),
        UserStatus::ForceChangePassword => {
            let challenge = random_token();
            pool.grants().challenges.insert(
                challenge.clone(),
                PasswordChallenge {
                    username: user.username.clone(),
                    expires: Instant::now() + CODE_LIFETIME,
                },
            );
            form(StatusCode::OK, &Form::NewPassword(challenge), None)
        }
    }
}

/// `GET /logout`: ends the session at the domain and goes to a sign-out URL
/// of the client (`logout_uri`), or back to the sign-in form (`redirect_uri`).
pub(super) async fn logout(
    State(pool): State<Arc<UserPool>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(params) => params,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, message),
    };
    let Some(client) = params.get("client_id").and_then(|id| pool.client(id)) else {
        return error_response(StatusCode::BAD_REQUEST, "The client does not exist.");
    };
    let next = if let Some(logout_uri) = params.get("logout_uri") {
        if !client.logout_urls.contains(logout_uri) {
            return error_response(
                StatusCode::BAD_REQUEST,
                "The logout_uri is not one of the client's sign-out URLs.",
            );
        }
        logout_uri.clone()
    } else if params.contains_key("redirect_uri") {
        if let Err(refusal) = pool.check_authorization(query.as_deref()) {
            return refusal.into_response();
        }
        format!("/login?{}", query.unwrap_or_default())
    } else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "logout_uri or redirect_uri is missing.",
        );
    };
    if let Some(id) = cookies::read(&headers, SESSION_COOKIE) {
        pool.grants().sessions.remove(&id);
    }
    let mut response = redirect(&next);
    cookies::set(&mut response, SESSION_COOKIE, "", 0);
    response
}
