//! Cross-site requests refused. Behind the ALB a browser authenticates
//! with the load balancer's session cookie, which ELB sets `SameSite=None`
//! for Chromium: a page of another site could make the signed-in operator's
//! browser search, export, change or sign out, audited under their name.
//! Every route that changes something or is audited refuses, before doing
//! anything, a browser request that is not from the registry's own pages:
//!
//! - `Sec-Fetch-Site` other than `same-origin` or `none` (a user's own
//!   navigation). Browsers send no `Origin` with a no-cors GET (an `<img>`),
//!   but they do send the fetch metadata.
//! - `Origin` other than the request's own (its `Host`), or `null`.
//!
//! The one exception is the template's `AppOrigin`, a front end of another
//! origin that calls the API with CORS and tokens: a request whose `Origin`
//! is that one passes. Requests with neither header (the CLI, scripts with a bearer token) are
//! not a browser's, and pass.

use lambda_http::Request;

use crate::error::ApiError;

pub fn refuse_cross_site(request: &Request, app_origin: Option<&str>) -> Result<(), ApiError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap_or("?"))
    };
    if app_origin.is_some() && header("origin") == app_origin {
        return Ok(());
    }
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::CrossSite(format!("Sec-Fetch-Site: {site}")));
    }
    if let Some(origin) = header("origin") {
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        let same = matches!(
            (authority, header("host")),
            (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host)
        );
        if !same {
            return Err(ApiError::CrossSite(format!("Origin: {origin}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut request = Request::default();
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        request
    }

    #[test]
    fn the_registrys_own_pages_and_non_browsers_pass() {
        let host = ("host", "registry.example.org");
        for headers in [
            vec![],
            vec![host],
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
            vec![
                host,
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://registry.example.org"),
            ],
            vec![
                ("host", "127.0.0.1:3000"),
                ("origin", "http://127.0.0.1:3000"),
            ],
        ] {
            assert_eq!(
                refuse_cross_site(&request(&headers), None),
                Ok(()),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn other_sites_are_refused_by_fetch_metadata_or_origin() {
        let host = ("host", "registry.example.org");
        for headers in [
            // An <img> on another site: no Origin, but the fetch metadata.
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("origin", "https://evil.example.net")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "https://registry.example.org.evil.net")],
            // An Origin and no Host to compare it with.
            vec![("origin", "https://registry.example.org")],
        ] {
            assert!(
                matches!(
                    refuse_cross_site(&request(&headers), None),
                    Err(ApiError::CrossSite(_))
                ),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn the_app_origin_passes_and_only_it() {
        let app = Some("https://app.example.org");
        let from = |origin: &str| {
            request(&[
                ("host", "registry.example.org"),
                ("sec-fetch-site", "same-site"),
                ("origin", origin),
            ])
        };
        assert_eq!(
            refuse_cross_site(&from("https://app.example.org"), app),
            Ok(())
        );
        assert!(refuse_cross_site(&from("https://evil.example.net"), app).is_err());
        assert!(refuse_cross_site(&from("https://app.example.org"), None).is_err());
    }
}
