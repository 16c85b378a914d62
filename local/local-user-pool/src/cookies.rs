//! The cookies of the hosted UI and of the load balancer's sign-in: read
//! from a request, set on a response (`cookie` crate).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
pub use cookie::{Cookie, SameSite};

/// The value of the cookie `name` a request carries, if any.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// Sets cookie `name` for the whole site, out of scripts' reach, for
/// `max_age_seconds` (0 removes it).
pub fn set(response: &mut Response, name: &str, value: &str, max_age_seconds: u64) {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(seconds(max_age_seconds))
        .build();
    append(response, &cookie);
}

/// A cookie's `Max-Age` of `count` seconds.
pub fn seconds(count: u64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(count).unwrap_or(i64::MAX))
}

/// Adds `cookie` to the response's `Set-Cookie` headers.
pub fn append(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn a_cookie_is_found_among_several_headers_and_pairs() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; session=s1"));
        headers.append(header::COOKIE, HeaderValue::from_static("csrf=c2"));
        assert_eq!(read(&headers, "session").as_deref(), Some("s1"));
        assert_eq!(read(&headers, "csrf").as_deref(), Some("c2"));
        assert_eq!(read(&headers, "missing"), None);
    }

    #[test]
    fn a_cookie_set_is_read_back() {
        let mut response = axum::http::StatusCode::OK.into_response();
        set(&mut response, "session", "s1", 3600);
        let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
        for attribute in [
            "session=s1",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=3600",
        ] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(set_cookie.split(';').next().unwrap()).unwrap(),
        );
        assert_eq!(read(&headers, "session").as_deref(), Some("s1"));
    }
}
