//! The sign-in and new-password forms, as plain HTML with its own style.

use super::*;

pub(super) enum Form {
    SignIn,
    /// The first sign-in with a temporary password: choose a new one.
    NewPassword(String),
}

pub(super) const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2430;margin:0}\
main{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0003}\
h1{font-size:1.2rem}label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #6b7585;border-radius:4px}\
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#1f5fc9;color:#fff;font-weight:600;cursor:pointer}\
.error{color:#a11;margin-top:.8rem}";

/// The sign-in form. Nothing of the request is written into the page: it
/// posts back to its own URL, which carries the sign-in request.
pub(super) fn form(
    status: StatusCode,
    kind: &Form,
    error: Option<&str>,
    csrf: Option<String>,
) -> Response {
    let csrf = csrf.unwrap_or_else(random_token);
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let fields = match kind {
        Form::SignIn => r#"<h1>Sign in</h1>
<label for="username">E-mail</label><input id="username" name="username" type="email" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>"#
            .to_owned(),
        Form::NewPassword(challenge) => format!(
            r#"<h1>Change your password</h1><p>Please enter a new password.</p>
<input type="hidden" name="challenge" value="{}">
<label for="new_password">New password</label><input id="new_password" name="new_password" type="password" autocomplete="new-password" required autofocus>
<label for="confirm_password">Enter the new password again</label><input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required>
<button type="submit">Change password</button>"#,
            escape(challenge)
        ),
    };
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Face Registry</title><style>{STYLE}</style></head>
<body><main><form method="post">
<input type="hidden" name="_csrf" value="{csrf}">
{fields}{error}
</form></main></body></html>"#
    );
    let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(csp) = HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'sha256-{style_hash}'; frame-ancestors 'none'; base-uri 'none'"
    )) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    cookies::set(&mut response, CSRF_COOKIE, &csrf, CODE_LIFETIME.as_secs());
    response
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
