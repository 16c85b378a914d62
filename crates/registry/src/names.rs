//! Display names as typed by people, and the slugs derived from them.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Longest slug kept, in characters. Two slugs, `_`, and `.jpg` stay within
/// Rekognition's 255-character `ExternalImageId`.
pub const MAX_SLUG_CHARS: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {MAX_NAME_CHARS} characters")]
    TooLong { field: &'static str },
    #[error("{field} contains control characters")]
    ControlCharacters { field: &'static str },
    #[error(
        "{field} contains invisible formatting characters (such as bidirectional overrides or zero-width spaces)"
    )]
    FormatCharacters { field: &'static str },
    #[error("{field} has no letters or digits to build a file name from")]
    NoSlug { field: &'static str },
}

/// A name as a person typed it: trimmed, NFC-normalised, length-limited,
/// without control or format characters (Unicode category Cf: bidi
/// overrides would show it reversed, zero-width characters make two names
/// that look alike differ), and with at least one letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates `raw` as the name called `field` (used in error messages).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, NameError> {
        let name: String = raw.trim().nfc().collect();
        if name.is_empty() {
            return Err(NameError::Empty { field });
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong { field });
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::ControlCharacters { field });
        }
        if name
            .chars()
            .any(|c| c.general_category() == GeneralCategory::Format)
        {
            return Err(NameError::FormatCharacters { field });
        }
        if slug(&name).is_empty() {
            return Err(NameError::NoSlug { field });
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn slug(&self) -> String {
        slug(&self.0)
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The slug of a name: NFKD, diacritics removed, lower case, every run of
/// other characters replaced by `-`, trimmed of `-`, at most
/// [`MAX_SLUG_CHARS`] characters. Only `[a-z0-9-]` remain.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_dash = false;
    for c in name.nfkd().filter(|c| !is_combining_mark(*c)) {
        // Letters outside ASCII that have no decomposition (ø, ß, ł) count as
        // "other characters"; the slug is an ASCII file name, not a transliteration.
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if out.len() > MAX_SLUG_CHARS {
        out.truncate(MAX_SLUG_CHARS);
        while out.ends_with('-') {
            out.pop();
        }
    }
    out
}

/// A readable name recovered from a slug, for photos dropped straight into
/// the bucket: `garcia-marquez` becomes `Garcia Marquez`.
pub fn name_from_slug(slug: &str) -> String {
    slug.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slug_follows_the_convention() {
        assert_eq!(slug("Obama"), "obama");
        assert_eq!(slug("  Barack Hussein "), "barack-hussein");
        assert_eq!(slug("García Márquez"), "garcia-marquez");
        assert_eq!(slug("Zoë  O'Brien--Smith"), "zoe-o-brien-smith");
        assert_eq!(slug("Ｆｕｌｌｗｉｄｔｈ"), "fullwidth");
        assert_eq!(slug("Łukasz"), "ukasz");
        assert_eq!(slug("李小龙"), "");
        assert_eq!(slug("---"), "");
    }

    #[test]
    fn slug_is_capped_without_a_trailing_dash() {
        let long = "ab ".repeat(100);
        let s = slug(&long);
        assert!(s.len() <= MAX_SLUG_CHARS);
        assert!(!s.ends_with('-'));
    }

    #[test]
    fn display_names_are_trimmed_and_nfc() {
        let decomposed = "Jose\u{301}";
        let name = DisplayName::parse("firstname", &format!("  {decomposed} ")).unwrap();
        assert_eq!(name.as_str(), "Jos\u{e9}");
    }

    #[test]
    fn bad_display_names_say_what_is_wrong() {
        assert_eq!(
            DisplayName::parse("lastname", "   "),
            Err(NameError::Empty { field: "lastname" })
        );
        assert_eq!(
            DisplayName::parse("lastname", &"a".repeat(101)),
            Err(NameError::TooLong { field: "lastname" })
        );
        assert_eq!(
            DisplayName::parse("firstname", "Ann\u{7}"),
            Err(NameError::ControlCharacters { field: "firstname" })
        );
        for invisible in ["a\u{202e}b", "Ann\u{200b}", "\u{2066}Bob", "Zoe\u{feff}"] {
            assert_eq!(
                DisplayName::parse("firstname", invisible),
                Err(NameError::FormatCharacters { field: "firstname" }),
                "{invisible:?}"
            );
        }
        assert_eq!(
            DisplayName::parse("firstname", "李小龙"),
            Err(NameError::NoSlug { field: "firstname" })
        );
        assert!(DisplayName::parse("lastname", &"é".repeat(100)).is_ok());
    }

    #[test]
    fn names_come_back_from_slugs() {
        assert_eq!(name_from_slug("garcia-marquez"), "Garcia Marquez");
        assert_eq!(name_from_slug("obama"), "Obama");
    }

    proptest! {
        #[test]
        fn slugs_only_hold_the_allowed_characters(s in "\\PC{0,200}") {
            let out = slug(&s);
            prop_assert!(out.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            prop_assert!(!out.starts_with('-') && !out.ends_with('-'));
            prop_assert!(!out.contains("--"));
            prop_assert!(out.len() <= MAX_SLUG_CHARS);
        }

        #[test]
        fn slugging_is_idempotent(s in "\\PC{0,200}") {
            let once = slug(&s);
            prop_assert_eq!(slug(&once), once.clone());
        }

        #[test]
        fn a_slug_survives_the_trip_through_a_recovered_name(s in "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,3}") {
            prop_assert_eq!(slug(&name_from_slug(&s)), s);
        }
    }
}
