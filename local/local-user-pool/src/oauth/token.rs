//! The token endpoint (codes and refresh tokens exchanged, the client and
//! its PKCE verifier checked), revocation and `/oauth2/userInfo`.

use super::*;

/// A form body's fields, each given at most once; `None` for anything else
/// (an `invalid_request`).
pub(super) fn form_fields(headers: &HeaderMap, body: &[u8]) -> Option<HashMap<String, String>> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return None;
    }
    let mut fields = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if fields
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return None;
        }
    }
    Some(fields)
}

/// The client a token or revocation request comes from, authenticated as
/// Cognito authenticates it: a confidential client by its secret, in HTTP
/// Basic (`client_secret_basic`) or in the body (`client_secret_post`); a
/// public client by its id alone, and never with a secret
/// (docs.aws.amazon.com/cognito/latest/developerguide/token-endpoint.html).
pub(super) fn authenticated_client(
    pool: &UserPool,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Option<(String, ClientSettings)> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()
        })
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| {
            v.split_once(':')
                .map(|(id, secret)| (id.to_owned(), Some(secret.to_owned())))
        });
    let (client_id, secret) = match basic {
        Some(credentials) => credentials,
        None => (
            fields.get("client_id").filter(|id| !id.is_empty())?.clone(),
            fields
                .get("client_secret")
                .filter(|s| !s.is_empty())
                .cloned(),
        ),
    };
    let client = pool.client(&client_id)?;
    let authenticated = match (pool.client_secret(&client_id), secret) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        (Some(_), None) | (None, Some(_)) => false,
        (None, None) => true,
    };
    authenticated.then_some((client_id, client))
}

/// PKCE S256: BASE64URL(SHA256(code_verifier)) is the challenge (RFC 7636).
pub(super) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    valid
        && base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
            == challenge
}

/// `POST /oauth2/token`: a code (with its PKCE verifier) or a refresh token
/// for tokens.
pub(super) async fn token(
    State(pool): State<Arc<UserPool>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
    let Some((client_id, client)) = authenticated_client(&pool, &headers, &fields) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    };
    if !client.allows_code_flow() {
        return oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    }
    let (username, scopes, auth_time, origin_jti, refresh_token) = match field("grant_type")
        .as_deref()
    {
        Some("authorization_code") => {
            let (Some(code), Some(redirect_uri)) = (field("code"), field("redirect_uri")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            // Taken out at the first attempt: a code is never used twice.
            let grant = pool.grants().codes.remove(&code);
            let Some(grant) = grant.filter(|g| g.expires > Instant::now()) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if grant.client_id != client_id || grant.redirect_uri != redirect_uri {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if let Some(challenge) = &grant.code_challenge {
                let Some(verifier) = field("code_verifier") else {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
                };
                if !verifier_matches(&verifier, challenge) {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
            let refresh_token = random_token();
            let origin_jti = uuid::Uuid::new_v4().to_string();
            pool.grants().refresh_tokens.insert(
                refresh_token.clone(),
                RefreshGrant {
                    client_id: client_id.clone(),
                    username: grant.username.clone(),
                    scopes: grant.scopes.clone(),
                    auth_time: grant.auth_time,
                    origin_jti: origin_jti.clone(),
                    expires: Instant::now() + client.refresh_token_lifetime(),
                },
            );
            (
                grant.username,
                grant.scopes,
                grant.auth_time,
                origin_jti,
                Some(refresh_token),
            )
        }
        Some("refresh_token") => {
            let Some(token) = field("refresh_token") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            };
            let grant = pool.grants().refresh_tokens.get(&token).cloned();
            let Some(grant) = grant.filter(|g| g.client_id == client_id) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            (
                grant.username,
                grant.scopes,
                grant.auth_time,
                grant.origin_jti,
                None,
            )
        }
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let Some(user) = pool.users.get(&username) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let signed_in = SignedIn {
        sub: &user.sub,
        username: &user.username,
        email: Some(&user.email),
        groups: &user.groups,
        client_id: &client_id,
        scopes: &scopes,
        auth_time,
        origin_jti: &origin_jti,
    };
    let tokens = pool.tokens_for(&client_id);
    let lifetime = client.access_token_lifetime();
    let issued = tokens
        .access_token(&signed_in, lifetime)
        .and_then(|access| {
            // An ID token only with the openid scope.
            let id = if scopes.iter().any(|s| s == "openid") {
                Some(tokens.id_token(&signed_in, client.id_token_lifetime())?)
            } else {
                None
            };
            Ok((access, id))
        });
    let (access_token, id_token) = match issued {
        Ok(issued) => issued,
        Err(error) => {
            tracing::error!(%error, "could not sign tokens");
            return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
        }
    };
    let mut body = json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    if let Some(id_token) = id_token {
        body["id_token"] = json!(id_token);
    }
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    token_response(StatusCode::OK, &body)
}

/// `POST /oauth2/revoke`: ends a refresh token (and so the sign-in it came from).
pub(super) async fn revoke(
    State(pool): State<Arc<UserPool>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(fields) = form_fields(&headers, &body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some(token) = fields.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Some((client_id, client)) = authenticated_client(&pool, &headers, &fields) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !client.enable_token_revocation {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    // Access and ID tokens are JWTs; only refresh tokens are revoked.
    if token.split('.').count() == 3 {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_token_type");
    }
    let mut grants = pool.grants();
    if grants
        .refresh_tokens
        .get(token)
        .is_some_and(|g| g.client_id == client_id)
    {
        grants.refresh_tokens.remove(token);
        tracing::info!(client = %client_id, "refresh token revoked");
    }
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// `GET /oauth2/userInfo`: the attributes of the user an access token was
/// issued to, within its scopes (`openid` required; `email` adds the
/// e-mail). Errors as Cognito's, in `WWW-Authenticate`
/// (docs.aws.amazon.com/cognito/latest/developerguide/userinfo-endpoint.html).
pub(super) async fn user_info(State(pool): State<Arc<UserPool>>, headers: HeaderMap) -> Response {
    let refuse = |status: StatusCode, challenge: &'static str| {
        let mut response = status.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        response
    };
    const BAD_REQUEST: &str =
        r#"error="invalid_request", error_description="Bad OAuth2 request at UserInfo Endpoint""#;
    const INVALID_TOKEN: &str = r#"error="invalid_token", error_description="Access token is expired, disabled, or deleted, or the user has globally signed out.""#;
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse(StatusCode::BAD_REQUEST, BAD_REQUEST);
    };
    let claims = pool.verified_access_token(token.trim());
    let Some(claims) = claims.filter(|c| {
        c.get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"))
    }) else {
        return refuse(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    };
    let Some(user) = claims.get("username").and_then(|u| pool.users.get(u)) else {
        return refuse(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    };
    let mut body = json!({ "sub": user.sub, "username": user.username });
    if claims["scope"].split(' ').any(|s| s == "email") {
        // Users are created by an administrator, their e-mail verified;
        // Cognito's answer carries the flag as a string.
        body["email"] = json!(user.email);
        body["email_verified"] = json!("true");
    }
    token_response(StatusCode::OK, &body)
}
