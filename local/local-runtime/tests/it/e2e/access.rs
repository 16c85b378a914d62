//! Who may call what: the gateway's routes and authorizer, the user pool's
//! sign-in, the command line's loopback sign-in, and the load balancer's
//! forwarded tokens.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_guards_routes_as_api_gateway_does() {
    let harness = Harness::start().await;
    let viewer = harness.token("viewers").await;
    let admin = harness.token("admins").await;

    let (status, body) = harness.get("/api/faces", None).await;
    assert_eq!(
        (status, &body),
        (401, &serde_json::json!({"message": "Unauthorized"}))
    );
    let (status, _) = harness.get("/api/faces", Some("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, body) = harness.get("/api/faces", Some(&viewer)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], serde_json::json!([]));

    let unauthenticated = harness
        .http
        .post(harness.url("/api/uploads"))
        .json(&serde_json::json!({"lastname": "A", "firstname": "B", "contentType": "image/jpeg", "contentLength": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let forbidden = harness
        .http
        .post(harness.url("/api/uploads"))
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"lastname": "A", "firstname": "B", "contentType": "image/jpeg", "contentLength": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);

    let (status, health) = harness.get("/healthz", None).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["bucket"], harness.bucket().as_str());

    for page in ["/upload", "/faces"] {
        let response = harness.http.get(harness.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let (status, body) = harness.get("/nowhere", Some(&admin)).await;
    assert_eq!(
        (status, body),
        (404, serde_json::json!({"message": "Not Found"}))
    );
    let (status, _) = harness.get("/api/uploads", Some(&admin)).await;
    assert_eq!(status, 404, "only POST is routed");
    // No route issues tokens: operators sign in at the user pool's domain.
    let (status, _) = harness.get("/local/token", None).await;
    assert_eq!(status, 404);

    let (status, _) = harness.get("/local/dead-letters", Some(&viewer)).await;
    assert_eq!(status, 403);
    let (status, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
    assert_eq!((status, &letters["items"]), (200, &serde_json::json!([])));

    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_sign_in_at_the_user_pools_domain() {
    let harness = Harness::start().await;
    let pool = harness.runtime.user_pool().expect("a user pool").clone();

    // What the pages read: the local domain stands in for the pool's.
    let (status, config) = harness.get("/auth/config", None).await;
    assert_eq!(status, 200, "{config}");
    let sign_in = harness.runtime.sign_in_url();
    assert_eq!(
        config["authorizationEndpoint"],
        format!("{sign_in}/oauth2/authorize")
    );
    assert_eq!(config["scope"], "openid email profile");
    let client_id = config["clientId"].as_str().unwrap().to_owned();

    // The custom resource gave the client the API's own callback: the
    // template cannot name it on the client itself.
    let client = pool.client(&client_id).expect("the app client");
    let origin = harness.runtime.gateway_url();
    assert!(
        client.callback_urls.contains(&format!("{origin}/faces")),
        "{:?}",
        client.callback_urls
    );
    assert!(
        client
            .callback_urls
            .contains(&"http://localhost:8085/callback".to_owned())
    );
    assert!(client.logout_urls.contains(&format!("{origin}/faces")));

    let password = pool.users().policy().generate();
    pool.users()
        .add("ada@example.org", &["viewers".into()], &password, true)
        .unwrap();
    let signed_in = common::sign_in(&config, &origin, "ada@example.org", &password).await;
    let (status, body) = harness
        .get("/api/faces", Some(&signed_in.access_token))
        .await;
    assert_eq!(status, 200, "{body}");
    // The ID token is accepted too (its audience is the client), as by API Gateway.
    let (status, _) = harness.get("/api/faces", Some(&signed_in.id_token)).await;
    assert_eq!(status, 200);

    // Refreshed, then revoked: the refresh token gives nothing any more.
    let refresh = |token: String| {
        let (endpoint, client_id) = (format!("{sign_in}/oauth2/token"), client_id.clone());
        async move {
            reqwest::Client::new()
                .post(endpoint)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client_id.as_str()),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refreshed: serde_json::Value = refresh(signed_in.refresh_token.clone())
        .await
        .json()
        .await
        .unwrap();
    let (status, _) = harness
        .get(
            "/api/faces",
            Some(refreshed["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    let revoked = reqwest::Client::new()
        .post(format!("{sign_in}/oauth2/revoke"))
        .form(&[
            ("token", signed_in.refresh_token.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(refresh(signed_in.refresh_token.clone()).await.status(), 400);

    // A token the pool did not sign is refused at the gateway.
    let foreign = local_user_pool::TokenAuthority::from_pem(
        &local_user_pool::TokenAuthority::generate_key().unwrap(),
    )
    .unwrap()
    .for_authorizer(pool.issuer(), &client_id)
    .issue(
        local_runtime::Group::Admins,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let (status, _) = harness.get("/api/faces", Some(&foreign.token)).await;
    assert_eq!(status, 401);

    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_command_line_signs_in_through_its_loopback_redirect() {
    let harness = Harness::start().await;
    let (email, password) = harness.member("admins");
    let api = url::Url::parse(&harness.url("/")).unwrap();
    let (shown, authorize) = tokio::sync::oneshot::channel();
    let signing_in = tokio::spawn(async move {
        registry_cli::sign_in::sign_in(&api, |url| shown.send(url.to_string()).unwrap()).await
    });
    let authorize = authorize.await.expect("the address to open");

    // The user's browser: the pool's form, then back to the command line.
    let browser = common::browser();
    let answer = common::fill_in_sign_in_form(&browser, &authorize, &email, &password).await;
    let callback = common::redirect_location(&answer);
    assert!(
        callback.starts_with(&format!("{}?", registry_cli::sign_in::REDIRECT_URI)),
        "{callback}"
    );
    let page = browser
        .get(&callback)
        .send()
        .await
        .expect("the loopback answers");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));

    let tokens = signing_in.await.unwrap().expect("signed in");
    let (status, listed) = harness.get("/api/faces", Some(&tokens.access)).await;
    assert_eq!(status, 200, "{listed}");
    // Its ID token goes beside the access token, as the pages send it: the
    // audit trail names the caller by e-mail.
    let client = registry_cli::client::Client::new(
        url::Url::parse(&harness.url("/")).unwrap(),
        tokens.access.clone(),
    )
    .unwrap()
    .with_id_token(tokens.id.clone());
    client
        .people_with_photo(&"0".repeat(64))
        .await
        .expect("listed");
    let (_, trail) = harness
        .get("/api/audit?action=listing&limit=1", Some(&tokens.access))
        .await;
    assert_eq!(
        trail["items"][0]["caller"]["email"],
        email.as_str(),
        "{trail}"
    );

    // An answer that is not this sign-in's (another state) is refused.
    let api = url::Url::parse(&harness.url("/")).unwrap();
    let (shown, authorize) = tokio::sync::oneshot::channel();
    let signing_in = tokio::spawn(async move {
        registry_cli::sign_in::sign_in(&api, |url| shown.send(url.to_string()).unwrap()).await
    });
    authorize.await.expect("the address to open");
    let forged = format!(
        "{}?code=stolen&state=not-this-one",
        registry_cli::sign_in::REDIRECT_URI
    );
    browser
        .get(&forged)
        .send()
        .await
        .expect("the loopback answers");
    let refused = signing_in.await.unwrap().expect_err("not this sign-in's");
    assert!(
        matches!(refused, registry_cli::sign_in::SignInError::StateMismatch),
        "{refused}"
    );
    harness.stop().await;
}

/// A request as an ALB with `authenticate-cognito` hands it to a Lambda
/// target, with the access token it forwards.
fn alb_event(method: &str, path: &str, access_token: Option<&str>, body: &str) -> Value {
    let mut headers = serde_json::json!({
        "host": "registry.example.org",
        "content-type": "application/json",
        "x-amzn-oidc-identity": "someone",
    });
    if let Some(token) = access_token {
        headers["x-amzn-oidc-accesstoken"] = serde_json::json!(token);
    }
    serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/faces/0123456789abcdef"}},
        "httpMethod": method, "path": path, "queryStringParameters": {},
        "headers": headers, "body": body, "isBase64Encoded": false,
    })
}

/// A page of another site makes the signed-in admin's browser, which sends
/// the ALB's session cookie with it, search (a JPEG body as `text/plain`,
/// a no-cors request), export (as an `<img>` would: fetch metadata, no
/// `Origin`), rename and sign out: each is refused before anything is
/// done, nothing is audited and nothing changes. The same through API
/// Gateway with a bearer token.
async fn refuse_what_another_site_sends(harness: &Harness, admin: &reqwest::Client, alb: &str) {
    let token = harness.token("admins").await;
    let trail = || async {
        let (_, trail) = harness.get("/api/audit?limit=100", Some(&token)).await;
        trail["items"].as_array().unwrap().len()
    };
    let (_, listed) = harness.get("/api/faces", Some(&token)).await;
    let person = listed["items"][0].clone();
    let id = &person["id"];
    let audited = trail().await;
    let evil = "https://evil.example.net";
    for front in [alb.to_owned(), harness.url("")] {
        let via_gateway = front != alb;
        let send = |request: reqwest::RequestBuilder| {
            let request = if via_gateway {
                request.bearer_auth(&token)
            } else {
                request
            };
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }
        };
        let client = if via_gateway { &harness.http } else { admin };
        let forged = [
            client
                .post(format!("{front}/api/search"))
                .header("origin", evil)
                .header("sec-fetch-site", "cross-site")
                .header("content-type", "text/plain")
                .body(test_image("obama2.jpg")),
            client
                .post(format!("{front}/api/faces/{id}/export"))
                .header("sec-fetch-site", "cross-site")
                .header("sec-fetch-dest", "image"),
            client
                .get(format!("{front}/api/faces/{id}"))
                .header("sec-fetch-site", "cross-site"),
            client
                .patch(format!("{front}/api/faces/{id}"))
                .header("origin", evil)
                .header("content-type", "application/json")
                .body(r#"{"lastname":"Forged"}"#),
            client
                .post(format!("{front}/auth/sign-out"))
                .header("origin", "null"),
        ];
        for request in forged {
            let (status, body) = send(request).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (403, Some("cross_site")),
                "{front}: {body}"
            );
        }
    }
    assert_eq!(trail().await, audited, "nothing audited");
    let (_, now) = harness.get(&format!("/api/faces/{id}"), Some(&token)).await;
    assert_eq!(now["lastname"], person["lastname"], "nothing changed");
    // The session survived the forged sign-out, and the registry's own
    // pages still reach the API.
    let own = admin
        .get(format!("{alb}/api/faces"))
        .header("origin", alb)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    // An export from its own page reaches the faces function, not the
    // writes' rule that other POSTs to /api/faces/* take.
    let export = admin
        .post(format!("{alb}/api/faces/{id}/export"))
        .header("origin", alb)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_the_alb_the_functions_verify_the_forwarded_access_token() {
    let harness = Harness::start_with(common::with_alb).await;
    let pool = harness.runtime.user_pool().expect("a user pool").clone();
    // The pool's keys reached the functions at deploy time, by the custom resource.
    let faces = harness
        .runtime
        .lambda()
        .function("FacesFunction")
        .expect("faces")
        .clone();
    let keys: Value = serde_json::from_str(&faces.environment()["USER_POOL_KEYS"]).expect("a JWKS");
    let pool_keys = pool.tokens_for("any").jwks();
    assert_eq!(keys["keys"][0]["kid"], pool_keys["keys"][0]["kid"]);
    assert_eq!(keys["keys"][0]["n"], pool_keys["keys"][0]["n"]);
    let alb_client = faces.environment()["ALB_TOKEN_CLIENT_ID"].clone();
    assert!(
        pool.client(&alb_client)
            .expect("the ALB's client")
            .generate_secret
    );
    // Through the load balancer's listener: its rules, its sign-in.
    let alb = harness.alb_url();
    // The public client also calls back to the ALB's origin (the domain
    // name's, served here by the local listener).
    let web_client = harness.runtime.tokens().audience().to_owned();
    assert!(
        pool.client(&web_client)
            .unwrap()
            .callback_urls
            .contains(&format!("{alb}/faces"))
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{alb}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let other = http.get(format!("{alb}/elsewhere")).send().await.unwrap();
    assert_eq!(other.status(), 404, "the listener's default action");
    // The API denies a request without a session; a forged session cookie is none.
    let denied = http.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(denied.status(), 401);
    let forged = http
        .get(format!("{alb}/api/faces"))
        .header("cookie", "AWSELBAuthSessionCookie-0=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // A viewer opens the faces page: sent to the user pool, back through
    // /oauth2/idpresponse (the ALB's client, with its secret), then to the page.
    let sign_in_at_alb = |group: &'static str| {
        let (email, password) = harness.member(group);
        let (alb, alb_client) = (alb.clone(), alb_client.clone());
        async move {
            let browser = common::browser();
            let to_pool = browser.get(format!("{alb}/faces")).send().await.unwrap();
            let authorize = common::redirect_location(&to_pool);
            assert!(
                authorize.contains(&format!("client_id={alb_client}")),
                "{authorize}"
            );
            let answer =
                common::fill_in_sign_in_form(&browser, &authorize, &email, &password).await;
            let callback = common::redirect_location(&answer);
            assert!(
                callback.starts_with(&format!("{alb}/oauth2/idpresponse?")),
                "{callback}"
            );
            let back = browser.get(&callback).send().await.unwrap();
            assert_eq!(common::redirect_location(&back), format!("{alb}/faces"));
            // As ELB sets it for Chromium 80 and later: sent cross-site too.
            let session = back.headers()["set-cookie"].to_str().unwrap();
            assert!(
                session.contains("SameSite=None") && session.contains("Secure"),
                "{session}"
            );
            // The code is spent: the same callback again opens nothing.
            let replayed = common::browser().get(&callback).send().await.unwrap();
            assert_eq!(replayed.status(), 401);
            (browser, alb)
        }
    };
    let (viewer, alb) = sign_in_at_alb("viewers").await;
    let page = viewer.get(format!("{alb}/faces")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let listed = viewer.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert!(listed["items"].is_array(), "{listed}");
    // The groups decide, as through API Gateway.
    let body = r#"{"lastname":"Lovelace","firstname":"Ada","contentType":"image/jpeg","contentLength":1000}"#;
    let upload = |browser: &reqwest::Client| {
        browser
            .post(format!("{alb}/api/uploads"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(upload(&viewer).await.unwrap().status(), 403);
    let (admin, _) = sign_in_at_alb("admins").await;
    assert_eq!(upload(&admin).await.unwrap().status(), 201);
    refuse_what_another_site_sends(&harness, &admin, &alb).await;
    // The audit trail and search have a rule of their own (ELB: three
    // values in a condition), to the faces function too.
    let audit = admin.get(format!("{alb}/api/audit")).send().await.unwrap();
    assert_eq!(audit.status(), 200);
    let audit: Value = audit.json().await.unwrap();
    assert!(audit["items"].is_array(), "{audit}");
    // Over 1 MB never reaches a Lambda target.
    let too_large = admin
        .post(format!("{alb}/api/uploads"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    // Signing out ends the ALB's session: the API is refused afterwards.
    let signed_out = viewer
        .post(format!("{alb}/auth/sign-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let refused = viewer.get(format!("{alb}/api/faces")).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // Nothing unverified is trusted: a function invoked with no token,
    // another client's, or a forged one refuses it.
    let token_for = |client: &str, group: &str| {
        let groups = vec![group.to_owned()];
        pool.tokens_for(client)
            .access_token(
                &local_user_pool::SignedIn {
                    sub: "7d0c6b5a",
                    username: "7d0c6b5a",
                    email: Some("ada@example.org"),
                    groups: &groups,
                    client_id: client,
                    scopes: &["openid".to_owned(), "email".to_owned()],
                    auth_time: 0,
                    origin_jti: "o",
                },
                Duration::from_secs(300),
            )
            .unwrap()
    };
    let status = |answer: &Value| answer["statusCode"].as_u64().unwrap_or_default();
    for token in [
        None,
        Some(token_for(&web_client, "admins")),
        Some("forged.token.value".to_owned()),
    ] {
        let refused = faces
            .invoke(alb_event("GET", "/api/faces", token.as_deref(), ""))
            .await
            .unwrap();
        assert_eq!(status(&refused), 401, "{refused}");
    }
    let accepted = faces
        .invoke(alb_event(
            "GET",
            "/api/faces",
            Some(&token_for(&alb_client, "viewers")),
            "",
        ))
        .await
        .unwrap();
    assert_eq!(status(&accepted), 200, "{accepted}");

    harness.stop().await;
}
