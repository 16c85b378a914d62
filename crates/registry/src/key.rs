//! Object keys: `lastname_firstname.ext`, derived from display names and
//! parsed back from keys found in the bucket.

use crate::names::{DisplayName, MAX_SLUG_CHARS, name_from_slug, slug};
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
    lastname_slug: String,
    firstname_slug: String,
    format: PhotoFormat,
}

impl ObjectKey {
    pub fn for_person(
        lastname: &DisplayName,
        firstname: &DisplayName,
        format: PhotoFormat,
    ) -> Self {
        Self {
            lastname_slug: lastname.slug(),
            firstname_slug: firstname.slug(),
            format,
        }
    }

    /// Parses a key as stored in S3 (already URL-decoded).
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let not_conventional = || KeyError::NotConventional {
            key: key.to_owned(),
        };
        let (stem, ext) = key.rsplit_once('.').ok_or_else(not_conventional)?;
        let format = PhotoFormat::from_extension(ext).ok_or_else(not_conventional)?;
        let (last, first) = stem.split_once('_').ok_or_else(not_conventional)?;
        let is_slug = |s: &str| !s.is_empty() && s.len() <= MAX_SLUG_CHARS && slug(s) == s;
        if !is_slug(last) || !is_slug(first) {
            return Err(not_conventional());
        }
        Ok(Self {
            lastname_slug: last.to_owned(),
            firstname_slug: first.to_owned(),
            format,
        })
    }

    pub fn format(&self) -> PhotoFormat {
        self.format
    }

    /// Names readable enough for a person created from a key alone.
    pub fn recovered_names(&self) -> (String, String) {
        (
            name_from_slug(&self.lastname_slug),
            name_from_slug(&self.firstname_slug),
        )
    }

    pub fn as_string(&self) -> String {
        format!(
            "{}_{}.{}",
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
    fn key_is_built_from_slugs() {
        let key =
            ObjectKey::for_person(&name("García Márquez"), &name("Gabriel"), PhotoFormat::Jpeg);
        assert_eq!(key.as_string(), "garcia-marquez_gabriel.jpg");
        let key = ObjectKey::for_person(&name("Obama"), &name("Barack"), PhotoFormat::Png);
        assert_eq!(key.as_string(), "obama_barack.png");
    }

    #[test]
    fn keys_parse_back() {
        let key = ObjectKey::parse("garcia-marquez_gabriel.jpg").unwrap();
        assert_eq!(key.format(), PhotoFormat::Jpeg);
        assert_eq!(
            key.recovered_names(),
            ("Garcia Marquez".to_owned(), "Gabriel".to_owned())
        );
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
            let key = ObjectKey::for_person(&last, &first, format);
            let text = key.as_string();
            prop_assert!(is_external_image_id(&text), "{text}");
            prop_assert_eq!(ObjectKey::parse(&text).unwrap(), key);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,300}") {
            let _ = ObjectKey::parse(&s);
            let _ = decode_event_key(&s);
        }
    }
}
