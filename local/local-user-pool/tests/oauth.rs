//! The local user pool's domain endpoints, driven by a standard OAuth 2.0
//! client (the `oauth2` crate) and a cookie-keeping HTTP client in the
//! place of a browser: the authorization code flow with PKCE, and every
//! bad request answered as Cognito answers it, with nothing issued.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use local_user_pool::{ClientSettings, PasswordPolicy, PoolSpec, UserPool};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;

const CLIENT: &str = "web-client";
const CALLBACK: &str = "http://localhost:8085/callback";
const SIGNED_OUT: &str = "http://localhost:8085/signed-out";
/// A confidential client, as a load balancer's.
const CONFIDENTIAL: &str = "alb-client";
const IDP_RESPONSE: &str = "https://registry.example.org/oauth2/idpresponse";

struct Pool {
    pool: Arc<UserPool>,
    url: String,
    admin_password: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn signing_key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| local_user_pool::TokenAuthority::generate_key().unwrap())
}

async fn start(code_lifetime: Duration) -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let client: ClientSettings = serde_json::from_value(serde_json::json!({
        "ClientName": "web",
        "AllowedOAuthFlowsUserPoolClient": true,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": ["openid", "email", "profile"],
        "SupportedIdentityProviders": ["COGNITO"],
        "CallbackURLs": [CALLBACK],
        "LogoutURLs": [SIGNED_OUT],
    }))
    .unwrap();
    let confidential: ClientSettings = serde_json::from_value(serde_json::json!({
        "ClientName": "alb",
        "GenerateSecret": true,
        "AllowedOAuthFlowsUserPoolClient": true,
        "AllowedOAuthFlows": ["code"],
        "AllowedOAuthScopes": ["openid", "email"],
        "SupportedIdentityProviders": ["COGNITO"],
        "CallbackURLs": [IDP_RESPONSE],
    }))
    .unwrap();
    let policy = PasswordPolicy {
        minimum_length: 12,
        require_symbols: false,
        ..PasswordPolicy::default()
    };
    let spec = PoolSpec {
        id: "us-east-1_Local".into(),
        arn: "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Local".into(),
        issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Local".into(),
        region: "us-east-1".into(),
        groups: vec!["admins".into(), "viewers".into()],
        password_policy: policy.clone(),
        clients: BTreeMap::from([
            (CLIENT.to_owned(), client),
            (CONFIDENTIAL.to_owned(), confidential),
        ]),
    };
    let access = local_iam::Access::single_key("AKIDLOCAL", "secret", "123456789012").unwrap();
    let pool = UserPool::open(spec, &dir.path().join("users.json"), signing_key(), access)
        .unwrap()
        .with_code_lifetime(code_lifetime);
    let admin_password = policy.generate();
    pool.users()
        .add(
            "admin@example.org",
            &["admins".into()],
            &admin_password,
            true,
        )
        .unwrap();
    let pool = Arc::new(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(Arc::clone(&pool).serve(listener, async {
        stopped.await.ok();
    }));
    Pool {
        pool,
        url,
        admin_password,
        _dir: dir,
        _stop: stop,
    }
}

/// A browser: keeps cookies, does not follow redirects (the test reads them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn oauth_client(
    pool: &Pool,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(CLIENT.into()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", pool.url)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", pool.url)).unwrap())
        .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap())
}

fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "a redirect");
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// The hidden `_csrf` (and `challenge`) fields of a form page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Opens the authorize URL, is sent to the form, and submits `fields`;
/// returns the form's answer.
async fn sign_in(
    browser: &reqwest::Client,
    pool: &Pool,
    authorize: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let to_login = browser.get(authorize).send().await.unwrap();
    let login = format!("{}{}", pool.url, location(&to_login));
    let page = browser.get(&login).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "_csrf");
    let mut form: Vec<(&str, &str)> = vec![("_csrf", &csrf)];
    form.extend_from_slice(fields);
    browser.post(&login).form(&form).send().await.unwrap()
}

fn authorize_url(pool: &Pool) -> (String, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = oauth_client(pool)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    (url.to_string(), state, verifier)
}

async fn code_for_admin(browser: &reqwest::Client, pool: &Pool) -> (String, PkceCodeVerifier) {
    let (url, state, verifier) = authorize_url(pool);
    let answer = sign_in(
        browser,
        pool,
        &url,
        &[
            ("username", "admin@example.org"),
            ("password", &pool.admin_password),
        ],
    )
    .await;
    let callback = location(&answer);
    assert!(callback.starts_with(CALLBACK), "{callback}");
    let params = query_of(&callback);
    assert_eq!(&params["state"], state.secret());
    (params["code"].clone(), verifier)
}

async fn token_request(pool: &Pool, fields: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/token", pool.url))
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Exchanges `code` (with its PKCE verifier) for tokens.
async fn exchange(pool: &Pool, code: &str, verifier: &str) -> (u16, Value) {
    token_request(
        pool,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Exchanges a refresh token for tokens.
async fn refresh(pool: &Pool, client: &str, refresh_token: &str) -> (u16, Value) {
    token_request(
        pool,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

#[tokio::test]
async fn the_code_flow_with_pkce_issues_cognito_tokens() {
    let pool = start(local_user_pool::CODE_LIFETIME).await;
    let browser = browser();
    let (code, verifier) = code_for_admin(&browser, &pool).await;
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tokens = oauth_client(&pool)
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code is exchanged");
    let claims = pool
        .pool
        .tokens_for(CLIENT)
        .verify(tokens.access_token().secret())
        .expect("the access token verifies as the API's authorizer checks it");
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["cognito:groups"], "[admins]");
    assert_eq!(
        claims["iss"],
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Local"
    );
    assert_eq!(claims["scope"], "openid email");
    assert!(!claims["username"].is_empty());
    assert!(tokens.refresh_token().is_some());

    // The code is spent: replayed, it gives nothing.
    let (status, body) = exchange(&pool, &code, "x".repeat(43).as_str()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // The browser is signed in at the domain: the next authorization needs no form.
    let (url, _, _) = authorize_url(&pool);
    let again = browser.get(&url).send().await.unwrap();
    assert!(location(&again).starts_with(CALLBACK));

    // The refresh token gives new tokens (and no new refresh token), until revoked.
    let refresh_token = tokens.refresh_token().unwrap().secret().clone();
    let (status, body) = refresh(&pool, CLIENT, &refresh_token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string() && body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none());
    let id_claims = pool
        .pool
        .tokens_for(CLIENT)
        .verify(body["id_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(id_claims["email"], "admin@example.org");
    assert_eq!(id_claims["aud"], CLIENT);
    assert_eq!(id_claims["token_use"], "id");
    let revoke = |token: String| {
        let url = format!("{}/oauth2/revoke", pool.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&[("token", token.as_str()), ("client_id", CLIENT)])
                .send()
                .await
                .unwrap()
        }
    };
    let access_revoke = revoke(tokens.access_token().secret().clone()).await;
    assert_eq!(access_revoke.status(), 400);
    assert_eq!(
        access_revoke.json::<Value>().await.unwrap()["error"],
        "unsupported_token_type"
    );
    assert_eq!(revoke(refresh_token.clone()).await.status(), 200);
    assert_eq!(
        revoke(refresh_token.clone()).await.status(),
        200,
        "revoking twice is not an error"
    );
    let (status, body) = refresh(&pool, CLIENT, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Signing out ends the session: the next authorization shows the form.
    let (url, _, _) = authorize_url(&pool);
    let logout = browser
        .get(format!(
            "{}/logout?client_id={CLIENT}&logout_uri={SIGNED_OUT}",
            pool.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&logout), SIGNED_OUT);
    let after = browser.get(&url).send().await.unwrap();
    assert!(location(&after).starts_with("/login?"));
    let elsewhere = browser
        .get(format!(
            "{}/logout?client_id={CLIENT}&logout_uri=https://evil.example/",
            pool.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 400);

    // The keys the gateway would fetch.
    let jwks: Value = reqwest::get(format!(
        "{}/us-east-1_Local/.well-known/jwks.json",
        pool.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let configuration: Value = reqwest::get(format!(
        "{}/us-east-1_Local/.well-known/openid-configuration",
        pool.url
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        configuration["issuer"],
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Local"
    );
    assert_eq!(
        configuration["token_endpoint"],
        format!("{}/oauth2/token", pool.url)
    );
}

#[tokio::test]
async fn bad_sign_ins_and_bad_exchanges_issue_nothing() {
    let pool = start(local_user_pool::CODE_LIFETIME).await;
    let browser = browser();

    // A wrong password, or a user who does not exist: the same answer, no code.
    for (user, password) in [
        ("admin@example.org", "Wrong-password-123"),
        ("nobody@example.org", pool.admin_password.as_str()),
    ] {
        let (url, _, _) = authorize_url(&pool);
        let answer = sign_in(
            &browser,
            &pool,
            &url,
            &[("username", user), ("password", password)],
        )
        .await;
        assert_eq!(answer.status(), 200);
        assert!(answer.headers().get("location").is_none());
        assert!(
            answer
                .text()
                .await
                .unwrap()
                .contains("Incorrect username or password.")
        );
    }

    // A form posted without its CSRF token is refused.
    let (url, _, _) = authorize_url(&pool);
    let login = format!(
        "{}{}",
        pool.url,
        location(&browser.get(&url).send().await.unwrap())
    );
    let forged = browser
        .post(&login)
        .form(&[
            ("username", "admin@example.org"),
            ("password", pool.admin_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // A redirect URI the client does not list never receives anything.
    let (url, _, _) = authorize_url(&pool);
    let mismatched = url.replace("localhost%3A8085%2Fcallback", "evil.example%2Fcallback");
    assert_ne!(mismatched, url);
    let answer = browser.get(&mismatched).send().await.unwrap();
    assert!(location(&answer).starts_with("/error?error=redirect_mismatch"));
    // An unknown client, a flow or a challenge method it may not use, a scope it does not have.
    let unknown = browser
        .get(url.replace("client_id=web-client", "client_id=other"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    for (from, to, error) in [
        (
            "response_type=code",
            "response_type=token",
            "unauthorized_client",
        ),
        (
            "code_challenge_method=S256",
            "code_challenge_method=plain",
            "invalid_request",
        ),
        ("scope=openid+email", "scope=phone", "invalid_scope"),
    ] {
        let bad = url.replace(from, to);
        assert_ne!(bad, url, "{from}");
        let answer = browser.get(&bad).send().await.unwrap();
        let back = location(&answer);
        assert!(back.starts_with(CALLBACK), "{back}");
        assert_eq!(query_of(&back)["error"], error);
    }

    // A good code with a wrong verifier, without one, or for another
    // redirect URI: refused, and spent.
    for (verifier, redirect, error) in [
        (Some("a".repeat(43)), CALLBACK, "invalid_grant"),
        (None, CALLBACK, "invalid_request"),
        (None, "http://localhost:9999/callback", "invalid_grant"),
    ] {
        // A browser of its own each time, not signed in at the domain yet.
        let (code, good) = code_for_admin(&self::browser(), &pool).await;
        let verifier = verifier.unwrap_or_default();
        let mut fields = vec![
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        if !verifier.is_empty() {
            fields.push(("code_verifier", &verifier));
        }
        if redirect != CALLBACK {
            fields.push(("code_verifier", good.secret()));
        }
        let (status, body) = token_request(&pool, &fields).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{fields:?}"
        );
        assert!(body.get("access_token").is_none());
        let (status, body) = exchange(&pool, &code, good.secret()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "a refused code is spent"
        );
    }
    let (status, body) =
        token_request(&pool, &[("grant_type", "password"), ("client_id", CLIENT)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = refresh(&pool, "other", "x").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_its_secret_and_reads_the_user_info() {
    use oauth2::{ClientSecret, EndpointSet, basic::BasicClient};
    let pool = start(local_user_pool::CODE_LIFETIME).await;
    let secret = pool
        .pool
        .client_secret(CONFIDENTIAL)
        .expect("a secret")
        .to_owned();
    assert!(
        pool.pool.client_secret(CLIENT).is_none(),
        "a public client has none"
    );
    let confidential =
        |secret: &str| -> oauth2::Client<_, _, _, _, _, EndpointSet, _, _, _, EndpointSet> {
            BasicClient::new(ClientId::new(CONFIDENTIAL.into()))
                .set_client_secret(ClientSecret::new(secret.into()))
                .set_auth_uri(AuthUrl::new(format!("{}/oauth2/authorize", pool.url)).unwrap())
                .set_token_uri(TokenUrl::new(format!("{}/oauth2/token", pool.url)).unwrap())
                .set_redirect_uri(RedirectUrl::new(IDP_RESPONSE.into()).unwrap())
        };
    // A new browser each time: a session at the domain would skip the form.
    let code = |browser: reqwest::Client| {
        let client = confidential(&secret);
        let pool = &pool;
        async move {
            let (url, _) = client
                .authorize_url(CsrfToken::new_random)
                .add_scope(Scope::new("openid".into()))
                .add_scope(Scope::new("email".into()))
                .url();
            let answer = sign_in(
                &browser,
                pool,
                url.as_str(),
                &[
                    ("username", "admin@example.org"),
                    ("password", &pool.admin_password),
                ],
            )
            .await;
            query_of(&location(&answer))["code"].clone()
        }
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Without its secret, or with a wrong one, nothing is issued (and the code is spent).
    let first = code(browser()).await;
    let (status, body) = token_request(
        &pool,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CONFIDENTIAL),
            ("code", &first),
            ("redirect_uri", IDP_RESPONSE),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let second = code(browser()).await;
    let wrong = confidential("not-the-secret")
        .exchange_code(AuthorizationCode::new(second))
        .request_async(&http)
        .await;
    assert!(wrong.is_err(), "a wrong secret is refused");

    // With it (HTTP Basic, as the `oauth2` crate sends it), tokens.
    let third = code(browser()).await;
    let tokens = confidential(&secret)
        .exchange_code(AuthorizationCode::new(third))
        .request_async(&http)
        .await
        .expect("tokens");
    let user_info = |token: Option<String>| {
        let request = http.get(format!("{}/oauth2/userInfo", pool.url));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let answer = user_info(Some(tokens.access_token().secret().clone())).await;
    assert_eq!(answer.status(), 200);
    let info: Value = answer.json().await.unwrap();
    assert_eq!(info["email"], "admin@example.org");
    // Users sign in by e-mail; their user name is an id of their own.
    assert!(
        info["username"].as_str().is_some_and(|u| !u.is_empty()),
        "{info}"
    );
    assert!(
        info["sub"].as_str().is_some_and(|s| !s.is_empty()),
        "{info}"
    );

    // Refused as Cognito refuses: no token, a token that is not this pool's.
    let answer = user_info(None).await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
    let answer = user_info(Some("forged.token.value".into())).await;
    assert_eq!(answer.status(), 401);
    assert!(
        answer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let pool = start(Duration::from_millis(200)).await;
    let browser = browser();
    let (code, verifier) = code_for_admin(&browser, &pool).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, body) = exchange(&pool, &code, verifier.secret()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_new_user_sets_a_password_at_the_first_sign_in() {
    let pool = start(local_user_pool::CODE_LIFETIME).await;
    let temporary = pool.pool.users().policy().generate();
    pool.pool
        .users()
        .add("viewer@example.org", &["viewers".into()], &temporary, false)
        .unwrap();
    let browser = browser();
    let (url, _, verifier) = authorize_url(&pool);
    let answer = sign_in(
        &browser,
        &pool,
        &url,
        &[("username", "viewer@example.org"), ("password", &temporary)],
    )
    .await;
    assert_eq!(answer.status(), 200);
    let login = answer.url().to_string();
    let html = answer.text().await.unwrap();
    assert!(html.contains("Change your password"));
    let (csrf, challenge) = (hidden(&html, "_csrf"), hidden(&html, "challenge"));
    let fresh = pool.pool.users().policy().generate();
    // A password the policy refuses, then two that differ: asked again.
    for (new, confirm, message) in [
        ("short", "short", "Password not long enough"),
        (fresh.as_str(), "different-Password-1", "do not match"),
    ] {
        let again = browser
            .post(&login)
            .form(&[
                ("_csrf", csrf.as_str()),
                ("challenge", &challenge),
                ("new_password", new),
                ("confirm_password", confirm),
            ])
            .send()
            .await
            .unwrap();
        assert!(again.headers().get("location").is_none());
        assert!(again.text().await.unwrap().contains(message), "{message}");
    }
    let done = browser
        .post(&login)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("challenge", &challenge),
            ("new_password", &fresh),
            ("confirm_password", &fresh),
        ])
        .send()
        .await
        .unwrap();
    let code = query_of(&location(&done))["code"].clone();
    let (status, body) = exchange(&pool, &code, verifier.secret()).await;
    assert_eq!(status, 200, "{body}");
    let claims = pool
        .pool
        .tokens_for(CLIENT)
        .verify(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims["cognito:groups"], "[viewers]");
    assert!(
        pool.pool
            .users()
            .authenticate("viewer@example.org", &temporary)
            .is_none()
    );
}
