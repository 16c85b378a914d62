//! The registry's two languages: English, and French, which the team it was
//! designed for writes. One catalogue per language holds what a person
//! reads: `page` (put into the pages' HTML, once per language), `script`
//! (handed to the pages' scripts as JSON) and, in French, `api` (the API's
//! error messages; in English they are the errors' own words). A request's
//! language is the one its [`LANG_COOKIE`] names (the pages' switch sets it),
//! else the first language of its `Accept-Language` the registry speaks,
//! else English.

mod message;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use http::{HeaderMap, header};
use serde::Deserialize;

pub use message::Message;

/// The cookie the pages' language switch sets.
pub const LANG_COOKIE: &str = "registry-lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Fr,
}

/// One language's texts, by section and key; `{name}` marks where a value goes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub page: BTreeMap<String, String>,
    pub script: BTreeMap<String, String>,
    #[serde(default)]
    pub api: BTreeMap<String, String>,
}

static EN: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("en.json")));
static FR: LazyLock<Catalogue> = LazyLock::new(|| parse(include_str!("fr.json")));

fn parse(json: &str) -> Catalogue {
    // The catalogues are part of the binary, and a test parses both.
    serde_json::from_str(json).expect("a catalogue that is not valid JSON")
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// Its BCP 47 tag, as in `<html lang>` and `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language a tag names (`fr`, `fr-CA`, `EN-us`), if the registry speaks it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.tag()))
    }

    /// The language to answer a request in: its cookie's, else its
    /// `Accept-Language`'s first that the registry speaks (by quality), else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        let chosen = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, value)| Lang::from_tag(value));
        chosen
            .or_else(|| {
                let accepted = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
                accept_language::parse(accepted)
                    .iter()
                    .find_map(|tag| Lang::from_tag(tag))
            })
            .unwrap_or(Lang::En)
    }

    pub fn catalogue(self) -> &'static Catalogue {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }

    /// A whole number as the language writes it: `15 728 640` in French
    /// (a narrow no-break space between groups), `15,728,640` in English.
    pub fn number(self, value: u64) -> String {
        let separator = match self {
            Lang::En => ",",
            Lang::Fr => "\u{202f}",
        };
        let digits = value.to_string();
        let mut out = String::with_capacity(digits.len() * 2);
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(separator);
            }
            out.push(digit);
        }
        out
    }
}

/// `template` with each `{name}` replaced by its value in `args`; a name
/// without a value stays as written.
pub fn fill(template: &str, args: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.split_once('}').and_then(|(name, tail)| {
            args.iter()
                .find(|(given, _)| *given == name)
                .map(|(_, value)| (value, tail))
        });
        match value {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{name}`s a template takes, in order of appearance.
pub fn placeholders(template: &str) -> Vec<&str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_language_is_the_cookies_then_the_browsers_then_english() {
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::En);
        assert_eq!(
            Lang::of(&headers(&[(
                header::ACCEPT_LANGUAGE,
                "fr-FR,fr;q=0.9,en;q=0.8"
            )])),
            Lang::Fr
        );
        // By quality, not by order; languages it does not speak are skipped.
        assert_eq!(
            Lang::of(&headers(&[(
                header::ACCEPT_LANGUAGE,
                "en;q=0.5, de, fr-CA;q=0.8"
            )])),
            Lang::Fr
        );
        assert_eq!(
            Lang::of(&headers(&[(header::ACCEPT_LANGUAGE, "de, it;q=0.5")])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&headers(&[
                (header::ACCEPT_LANGUAGE, "fr"),
                (
                    header::COOKIE,
                    "AWSELBAuthSessionCookie-0=x; registry-lang=en"
                ),
            ])),
            Lang::En
        );
        // A cookie naming a language it does not speak is ignored.
        assert_eq!(
            Lang::of(&headers(&[
                (header::ACCEPT_LANGUAGE, "fr"),
                (header::COOKIE, "registry-lang=de"),
            ])),
            Lang::Fr
        );
    }

    #[test]
    fn numbers_are_grouped_as_each_language_writes_them() {
        assert_eq!(Lang::Fr.number(15_728_640), "15\u{202f}728\u{202f}640");
        assert_eq!(Lang::En.number(15_728_640), "15,728,640");
        assert_eq!(Lang::Fr.number(999), "999");
        assert_eq!(Lang::En.number(0), "0");
    }

    #[test]
    fn templates_are_filled_by_name() {
        let args = [("a", "1".to_owned()), ("b", "{a}".to_owned())];
        assert_eq!(fill("{a} and {b}, {c} {", &args), "1 and {a}, {c} {");
        assert_eq!(placeholders("{a} is {b}; {} {c"), ["a", "b"]);
    }

    /// Both languages have the same texts, each taking the same values.
    #[test]
    fn the_catalogues_match_key_for_key() {
        for (section, en, fr) in [
            (
                "page",
                &Lang::En.catalogue().page,
                &Lang::Fr.catalogue().page,
            ),
            (
                "script",
                &Lang::En.catalogue().script,
                &Lang::Fr.catalogue().script,
            ),
        ] {
            let en_keys: Vec<_> = en.keys().collect();
            let fr_keys: Vec<_> = fr.keys().collect();
            assert_eq!(en_keys, fr_keys, "{section}");
            for (key, text) in en {
                let mut expected = placeholders(text);
                let mut found = placeholders(&fr[key]);
                expected.sort_unstable();
                found.sort_unstable();
                assert_eq!(expected, found, "{section}.{key}");
            }
        }
        assert!(
            Lang::En.catalogue().api.is_empty(),
            "English API messages are the errors' own"
        );
    }
}
