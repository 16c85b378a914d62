//! Object keys: `<token>.lastname_firstname.ext` for a person the registry
//! enrols, `lastname_firstname.ext` for a photo dropped straight into the
//! bucket; derived from display names and parsed back from keys found in
//! the bucket.
//!
//! The token (128 random bits, 32 hexadecimal digits) makes the key one
//! person's: two people of the same name get two keys, and nobody can guess
//! a key from a name. The file name after it keeps the convention, so the
//! names can still be read back from the key.

use crate::names::{DisplayName, MAX_NAME_CHARS, MAX_SLUG_CHARS, name_from_slug, slug};
use percent_encoding::percent_decode_str;

/// The photo formats the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoFormat {
    Jpeg,
    Png,
}

impl PhotoFormat {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        // Parameters such as `; charset=` are not part of the media type.
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        match media_type.to_ascii_lowercase().as_str() {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            _ => None,
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "JPEG",
            Self::Png => "PNG",
        }
    }
}

/// Hexadecimal digits of a key's token: 128 bits.
pub const TOKEN_CHARS: usize = 32;

/// Longest slug of a key made now: with the token, two slugs, `_` and
/// `.jpg` stay within Rekognition's 255-character `ExternalImageId`
/// (33 + 100 + 1 + 100 + 4 = 238). Keys parsed from the bucket may have
/// slugs up to [`MAX_SLUG_CHARS`].
pub const MAX_KEY_SLUG_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("object key {key:?} does not follow lastname_firstname.jpg or lastname_firstname.png")]
    NotConventional { key: String },
    #[error("object key is not valid UTF-8 once URL-decoded")]
    NotUtf8,
}

/// A key that follows the convention. Always a valid Rekognition
/// `ExternalImageId` (`[a-zA-Z0-9_.\-:]+`, at most 255 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// What makes the key one person's; `None` under the plain convention.
    token: Option<String>,
    lastname_slug: String,
    firstname_slug: String,
    format: PhotoFormat,
}

/// A name's slug as a key holds it: capped, and not ending in `-`.
fn key_slug(name: &DisplayName) -> String {
    let mut slug = name.slug();
    slug.truncate(MAX_KEY_SLUG_CHARS);
    slug.trim_end_matches('-').to_owned()
}

impl ObjectKey {
    /// A new person's key: a fresh random token, then the names' slugs.
    pub fn for_new_person(
        lastname: &DisplayName,
        firstname: &DisplayName,
        format: PhotoFormat,
    ) -> Self {
        let token: [u8; TOKEN_CHARS / 2] = rand::random();
        Self::with_token(hex::encode(token), lastname, firstname, format)
    }

    fn with_token(
        token: String,
        lastname: &DisplayName,
        firstname: &DisplayName,
        format: PhotoFormat,
    ) -> Self {
        Self {
            token: Some(token),
            lastname_slug: key_slug(lastname),
            firstname_slug: key_slug(firstname),
            format,
        }
    }

    /// Whether the key was made for one person (it has a token), rather
    /// than following the plain convention.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Parses a key as stored in S3 (already URL-decoded).
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let not_conventional = || KeyError::NotConventional {
            key: key.to_owned(),
        };
        let (stem, ext) = key.rsplit_once('.').ok_or_else(not_conventional)?;
        let format = PhotoFormat::from_extension(ext).ok_or_else(not_conventional)?;
        let (token, stem) = match stem.split_once('.') {
            Some((token, rest)) => {
                let is_token = token.len() == TOKEN_CHARS
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !is_token {
                    return Err(not_conventional());
                }
                (Some(token.to_owned()), rest)
            }
            None => (None, stem),
        };
        let (last, first) = stem.split_once('_').ok_or_else(not_conventional)?;
        let is_slug = |s: &str| !s.is_empty() && s.len() <= MAX_SLUG_CHARS && slug(s) == s;
        if !is_slug(last) || !is_slug(first) {
            return Err(not_conventional());
        }
        Ok(Self {
            token,
            lastname_slug: last.to_owned(),
            firstname_slug: first.to_owned(),
            format,
        })
    }

    pub fn format(&self) -> PhotoFormat {
        self.format
    }

    /// Whether the key spells these names (as slugs: case, accents and
    /// punctuation aside), so that it need not change with them.
    pub fn spells(&self, lastname: &DisplayName, firstname: &DisplayName) -> bool {
        self.lastname_slug == key_slug(lastname) && self.firstname_slug == key_slug(firstname)
    }

    /// Names readable enough for a person created from a key alone, within
    /// the length of a display name.
    pub fn recovered_names(&self) -> (String, String) {
        let name = |slug: &str| {
            name_from_slug(slug)
                .chars()
                .take(MAX_NAME_CHARS)
                .collect::<String>()
                .trim_end()
                .to_owned()
        };
        (name(&self.lastname_slug), name(&self.firstname_slug))
    }

    pub fn as_string(&self) -> String {
        let token = self
            .token
            .as_ref()
            .map_or_else(String::new, |t| format!("{t}."));
        format!(
            "{token}{}_{}.{}",
            self.lastname_slug,
            self.firstname_slug,
            self.format.extension()
        )
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// Decodes a key as it arrives in an S3 event: URL-encoded, `+` for space.
pub fn decode_event_key(encoded: &str) -> Result<String, KeyError> {
    let plus_as_space = encoded.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| KeyError::NotUtf8)
}

/// True when `id` matches Rekognition's `ExternalImageId` pattern.
pub fn is_external_image_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(s: &str) -> DisplayName {
        DisplayName::parse("name", s).unwrap()
    }

    #[test]
    fn key_is_a_token_then_the_slugs() {
        let key =
            ObjectKey::for_new_person(&name("García Márquez"), &name("Gabriel"), PhotoFormat::Jpeg);
        let text = key.as_string();
        let (token, file_name) = text.split_once('.').unwrap();
        assert_eq!(token.len(), TOKEN_CHARS);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(file_name, "garcia-marquez_gabriel.jpg");
        let key = ObjectKey::for_new_person(&name("Obama"), &name("Barack"), PhotoFormat::Png);
        assert!(key.as_string().ends_with(".obama_barack.png"));
    }

    #[test]
    fn namesakes_get_keys_of_their_own() {
        let (last, first) = (name("Dupont"), name("Jean"));
        let one = ObjectKey::for_new_person(&last, &first, PhotoFormat::Jpeg);
        let other = ObjectKey::for_new_person(&last, &first, PhotoFormat::Jpeg);
        assert_ne!(one.as_string(), other.as_string());
        assert_eq!(one.recovered_names(), other.recovered_names());
    }

    #[test]
    fn keys_parse_back() {
        for text in [
            "garcia-marquez_gabriel.jpg",
            "0123456789abcdef0123456789abcdef.garcia-marquez_gabriel.jpg",
        ] {
            let key = ObjectKey::parse(text).unwrap();
            assert_eq!(key.format(), PhotoFormat::Jpeg);
            assert_eq!(key.as_string(), text);
            assert_eq!(
                key.recovered_names(),
                ("Garcia Marquez".to_owned(), "Gabriel".to_owned())
            );
        }
    }

    #[test]
    fn names_recovered_from_long_slugs_fit_a_display_name() {
        let long = format!("{}_b.jpg", "a".repeat(MAX_SLUG_CHARS));
        let (last, _) = ObjectKey::parse(&long).unwrap().recovered_names();
        assert_eq!(last.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn unconventional_keys_are_refused() {
        for key in [
            "obama.jpg",
            "obama_barack.gif",
            "obama_barack",
            "Obama_Barack.jpg",
            "obama_barack.JPG",
            "obama_barack_jr.jpg",
            "_barack.jpg",
            "obama_.jpg",
            "photos/obama_barack.jpg",
            "obama_barack.jpeg",
            "obama-_barack.jpg",
            "0123456789abcdef.obama_barack.jpg",
            "0123456789ABCDEF0123456789ABCDEF.obama_barack.jpg",
            "0123456789abcdef0123456789abcdeg.obama_barack.jpg",
            "0123456789abcdef0123456789abcdef.obama.jpg",
            "x.y.obama_barack.jpg",
        ] {
            assert!(ObjectKey::parse(key).is_err(), "{key} should be refused");
        }
    }

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(
            decode_event_key("obama_barack.jpg").unwrap(),
            "obama_barack.jpg"
        );
        assert_eq!(
            decode_event_key("my+photo%281%29.jpg").unwrap(),
            "my photo(1).jpg"
        );
        assert_eq!(decode_event_key("caf%C3%A9.png").unwrap(), "café.png");
        assert_eq!(decode_event_key("%FF.png"), Err(KeyError::NotUtf8));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PhotoFormat::from_content_type("image/jpeg"),
            Some(PhotoFormat::Jpeg)
        );
        assert_eq!(
            PhotoFormat::from_content_type("IMAGE/PNG"),
            Some(PhotoFormat::Png)
        );
        assert_eq!(PhotoFormat::from_content_type("image/gif"), None);
        assert_eq!(PhotoFormat::from_content_type("image/jpg"), None);
    }

    proptest! {
        #[test]
        fn every_derived_key_parses_back_and_is_an_external_image_id(
            last in "\\PC{1,150}", first in "\\PC{1,150}", png in any::<bool>()
        ) {
            let (Ok(last), Ok(first)) = (DisplayName::parse("l", &last), DisplayName::parse("f", &first)) else {
                return Ok(());
            };
            let format = if png { PhotoFormat::Png } else { PhotoFormat::Jpeg };
            let key = ObjectKey::for_new_person(&last, &first, format);
            let text = key.as_string();
            prop_assert!(is_external_image_id(&text), "{text}");
            prop_assert!(text.len() <= 255, "{text}");
            prop_assert_eq!(ObjectKey::parse(&text).unwrap(), key);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,300}") {
            let _ = ObjectKey::parse(&s);
            let _ = decode_event_key(&s);
        }
    }
}
