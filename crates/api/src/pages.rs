//! The pages: shells of static HTML in each language (the `page` texts of
//! the catalogues put in once per language), with their styles and scripts
//! inline and allowed by their hashes in the Content-Security-Policy. Their
//! files are in `pages/`: the layout every page shares, then a folder per page.

use std::sync::OnceLock;

use base64::Engine;
use http::{HeaderValue, header};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};

use crate::i18n::Lang;

/// The HTML of the page in `pages/$dir/`, inside the layout every page
/// shares (`pages/layout/`: styles, header, sign-in form, session script).
/// Assembled at compile time, with `{{key}}` where a text of the `page`
/// catalogue goes and `{{script-texts}}` where the scripts' texts go; each
/// `<style>` and `<script>` block gets its own hash in the page's
/// Content-Security-Policy.
macro_rules! page_html {
    ($dir:literal) => {
        concat!(
            include_str!("pages/layout/head.html"),
            include_str!(concat!("pages/", $dir, "/head.html")),
            include_str!("pages/layout/body.html"),
            include_str!(concat!("pages/", $dir, "/main.html")),
            "<script type=\"application/json\" id=\"strings\">{{script-texts}}</script>\n",
            "<script>\n",
            include_str!("pages/layout/session.js"),
            "</script>\n<script>\n",
            include_str!(concat!("pages/", $dir, "/page.js")),
            "</script>\n</body>\n</html>\n",
        )
    };
}
pub(crate) use page_html;

/// A page shell: static HTML in each language, whose inline script and
/// style are allowed by their hashes in the Content-Security-Policy,
/// nothing else inline.
pub struct Page {
    template: &'static str,
    /// By language ([`Lang::ALL`]'s order): the HTML and its policy.
    rendered: [OnceLock<(String, String)>; Lang::ALL.len()],
}

impl Page {
    pub const fn new(template: &'static str) -> Self {
        Self {
            template,
            rendered: [const { OnceLock::new() }; Lang::ALL.len()],
        }
    }

    /// The page in `lang`, and its Content-Security-Policy.
    fn rendered(&self, lang: Lang) -> &(String, String) {
        self.rendered[lang as usize].get_or_init(|| {
            let html = render(self.template, lang);
            let csp = csp(&html);
            (html, csp)
        })
    }

    pub fn response(&self, lang: Lang) -> Response<Body> {
        let (html, csp) = self.rendered(lang);
        let mut response = Response::new(Body::Text(html.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.tag()),
        );
        // The language comes from the cookie, else Accept-Language.
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Cookie, Accept-Language"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if let Ok(csp) = HeaderValue::from_str(csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}

/// `template` with its `{{key}}`s replaced by `lang`'s texts (escaped for
/// HTML) and `{{script-texts}}` by the scripts' texts as JSON. A key the
/// catalogue lacks stays as written (a test renders every page).
fn render(template: &str, lang: Lang) -> String {
    let catalogue = lang.catalogue();
    let mut out = String::with_capacity(template.len() + 8 * 1024);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let key = &after[..close];
        if key == "script-texts" {
            // `<` escaped, so that no text can close the script element.
            let json = serde_json::to_string(&catalogue.script).unwrap_or_default();
            out.push_str(&json.replace('<', "\\u003c"));
        } else if let Some(text) = catalogue.page.get(key) {
            out.push_str(&escape_html(text));
        } else {
            out.push_str(&rest[open..open + 2 + close + 2]);
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The policy that allows exactly the page's inline `<script>` and
/// `<style>` blocks (JSON data blocks are not run, and need no hash).
fn csp(html: &str) -> String {
    let hashes = |open: &str, close: &str| -> String {
        html.split(open)
            .skip(1)
            .filter_map(|rest| rest.split_once(close).map(|(inner, _)| inner))
            .map(|inner| {
                let digest = Sha256::digest(inner.as_bytes());
                format!(
                    " 'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            })
            .collect()
    };
    format!(
        "default-src 'none'; script-src{}; style-src{}; img-src 'self' https: http: data: blob:; \
                 connect-src 'self' https: http:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        hashes("<script>", "</script>"),
        hashes("<style>", "</style>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_policy_allows_exactly_its_inline_code() {
        static PAGE: Page = Page::new("<style>b{}</style><script>let a=1;</script>");
        let response = PAGE.response(Lang::En);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        let script = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"let a=1;"));
        assert!(
            csp.contains(&format!("script-src 'sha256-{script}';")),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"));
    }

    const PAGES: [&str; 4] = [
        page_html!("upload"),
        page_html!("faces"),
        page_html!("audit"),
        page_html!("search"),
    ];

    #[test]
    fn pages_are_whole_documents_in_the_shared_layout() {
        for lang in Lang::ALL {
            for template in PAGES {
                let html = render(template, lang);
                assert!(html.starts_with("<!doctype html>\n"));
                assert!(html.ends_with("</body>\n</html>\n"));
                assert_eq!(html.matches("<title>").count(), 1);
                assert_eq!(html.matches("<header>").count(), 1);
                assert_eq!(html.matches(r#"<section id="signin""#).count(), 1);
                assert!(html.find("</head>") < html.find("<body>"));
                // The texts first, then the session script: the page's script calls it.
                assert_eq!(html.matches("<script>").count(), 2);
                assert!(html.find(r#"id="strings""#) < html.find("<script>"));
                assert!(html.find("function api(") < html.rfind("<script>"));
                assert_eq!(html.matches("<style>").count(), 2);
                assert_eq!(html.matches("</style>").count(), 2);
            }
        }
    }

    /// Every `{{key}}` of every page is in both catalogues, and every text
    /// of the `page` catalogue is on some page.
    #[test]
    fn every_page_text_is_in_both_languages() {
        for lang in Lang::ALL {
            for template in PAGES {
                let html = render(template, lang);
                assert!(
                    !html.contains("{{"),
                    "{:?}: {}",
                    lang,
                    &html[html.find("{{").unwrap()..][..40]
                );
                assert!(html.contains(&format!(r#"<html lang="{}">"#, lang.tag())));
            }
        }
        for key in Lang::En.catalogue().page.keys() {
            let marker = format!("{{{{{key}}}}}");
            assert!(
                PAGES.iter().any(|page| page.contains(&marker)),
                "{key} is on no page"
            );
        }
    }

    /// The scripts' texts arrive as JSON the page parses, and each key a
    /// script asks for (`t("key"`) is there.
    #[test]
    fn every_script_text_is_in_both_languages() {
        for lang in Lang::ALL {
            let html = render(PAGES[1], lang);
            let json = html
                .split(r#"<script type="application/json" id="strings">"#)
                .nth(1)
                .and_then(|rest| rest.split("</script>").next())
                .unwrap();
            let texts: std::collections::BTreeMap<String, String> =
                serde_json::from_str(json).unwrap();
            assert_eq!(texts, lang.catalogue().script);
        }
        let needle = concat!("t(", "\"");
        for template in PAGES {
            // `t("` as a call of its own, not the end of `split("`.
            let calls = template.match_indices(needle).filter(|(at, _)| {
                !template[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
            });
            for (at, _) in calls {
                let rest = &template[at + needle.len()..];
                let key = rest.split('"').next().unwrap();
                // `t("action." + entry.action)` and the like: a prefix.
                let known = Lang::En
                    .catalogue()
                    .script
                    .keys()
                    .any(|k| k == key || (key.ends_with('.') && k.starts_with(key)));
                assert!(known, "t(\"{key}\") has no text");
            }
        }
    }

    #[test]
    fn texts_are_escaped_for_the_page_they_go_into() {
        assert_eq!(
            escape_html(r#"<a href="x">&"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        let html = render("<p>{{no.such.key}}</p>{{script-texts}}", Lang::Fr);
        assert!(html.starts_with("<p>{{no.such.key}}</p>"));
        assert!(!html[20..].contains('<'), "{html}");
    }
}
