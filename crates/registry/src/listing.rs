//! Browsing: the listing's query, its keyset cursor and its pages.

use crate::paging;
use crate::person::{Person, PersonId, Status};
use crate::ports::{ListFilter, PersonStore, PortError};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 100;
pub const MAX_QUERY_CHARS: usize = 100;
const CURSOR_PREFIX: &str = "p1:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error("limit must be a whole number from 1 to {MAX_PAGE_SIZE}")]
    BadLimit,
    #[error("cursor is not one this listing issued")]
    BadCursor,
    #[error(transparent)]
    BadStatus(#[from] crate::person::UnknownStatus),
    #[error("q is longer than {MAX_QUERY_CHARS} characters or holds control characters")]
    BadQuery,
    #[error("duplicates must be true or false")]
    BadDuplicates,
    #[error("sha256 must be 64 hexadecimal digits")]
    BadSha256,
    #[error(transparent)]
    Port(#[from] PortError),
}

/// The listing's parameters as they arrive (query string values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub status: Option<String>,
    /// `true`: only possible duplicates.
    pub duplicates: Option<String>,
    pub q: Option<String>,
    /// Only the people whose photo, as uploaded, has this SHA-256 (hex).
    pub sha256: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Person>,
    pub next_cursor: Option<String>,
}

pub fn encode_cursor(last: PersonId) -> String {
    paging::encode_cursor(CURSOR_PREFIX, last.0)
}

pub fn decode_cursor(cursor: &str) -> Result<PersonId, ListError> {
    paging::decode_cursor(CURSOR_PREFIX, cursor)
        .map(PersonId)
        .ok_or(ListError::BadCursor)
}

pub fn parse_params(params: &ListParams) -> Result<ListFilter, ListError> {
    let non_empty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let status = non_empty(&params.status)
        .map(|s| s.parse::<Status>())
        .transpose()?;
    let possible_duplicates = match non_empty(&params.duplicates).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ListError::BadDuplicates),
    };
    let name_prefix = non_empty(&params.q);
    if let Some(q) = &name_prefix
        && (q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control))
    {
        return Err(ListError::BadQuery);
    }
    let photo_sha256 = non_empty(&params.sha256)
        .map(|h| crate::photo::parse_sha256_hex(&h).ok_or(ListError::BadSha256))
        .transpose()?;
    let limit = paging::parse_limit(
        non_empty(&params.limit).as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )
    .ok_or(ListError::BadLimit)?;
    let before_id = non_empty(&params.cursor)
        .map(|c| decode_cursor(&c))
        .transpose()?;
    Ok(ListFilter {
        status,
        name_prefix,
        possible_duplicates,
        photo_sha256,
        before_id,
        limit,
    })
}

/// One page of people, newest first, and the cursor of the next page.
pub async fn list_people<P: PersonStore + ?Sized>(
    people: &P,
    filter: &ListFilter,
) -> Result<Page, ListError> {
    let mut probe = filter.clone();
    probe.limit = filter.limit + 1;
    let (items, next_cursor) = paging::split_page(people.list(&probe).await?, filter.limit, |p| {
        encode_cursor(p.id)
    });
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    fn params(
        status: Option<&str>,
        q: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> ListParams {
        ListParams {
            status: status.map(Into::into),
            duplicates: None,
            q: q.map(Into::into),
            sha256: None,
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        }
    }

    #[test]
    fn defaults() {
        let filter = parse_params(&ListParams::default()).unwrap();
        assert_eq!(
            filter,
            ListFilter {
                limit: DEFAULT_PAGE_SIZE,
                ..Default::default()
            }
        );
    }

    #[test]
    fn parameters_are_checked() {
        let cursor = encode_cursor(PersonId(42));
        let filter = parse_params(&params(
            Some("indexed"),
            Some(" oba "),
            Some("100"),
            Some(&cursor),
        ))
        .unwrap();
        assert_eq!(filter.status, Some(Status::Indexed));
        assert_eq!(filter.name_prefix.as_deref(), Some("oba"));
        assert_eq!(filter.before_id, Some(PersonId(42)));
        assert_eq!(filter.limit, 100);

        for limit in ["0", "101", "-1", "ten", "1.5"] {
            assert_eq!(
                parse_params(&params(None, None, Some(limit), None)),
                Err(ListError::BadLimit)
            );
        }
        for cursor in [
            "xyz",
            "!!!",
            &URL_SAFE_NO_PAD.encode("p1:abc"),
            &URL_SAFE_NO_PAD.encode("42"),
        ] {
            assert_eq!(
                parse_params(&params(None, None, None, Some(cursor))),
                Err(ListError::BadCursor)
            );
        }
        assert!(matches!(
            parse_params(&params(Some("deleted"), None, None, None)),
            Err(ListError::BadStatus(_))
        ));
        assert_eq!(
            parse_params(&params(None, Some(&"a".repeat(101)), None, None)),
            Err(ListError::BadQuery)
        );
        let duplicates = |value: &str| {
            parse_params(&ListParams {
                duplicates: Some(value.into()),
                ..Default::default()
            })
            .map(|f| f.possible_duplicates)
        };
        assert_eq!(duplicates("true"), Ok(true));
        assert_eq!(duplicates("false"), Ok(false));
        assert_eq!(duplicates("yes"), Err(ListError::BadDuplicates));
        let sha256 = |value: &str| {
            parse_params(&ListParams {
                sha256: Some(value.into()),
                ..Default::default()
            })
            .map(|f| f.photo_sha256)
        };
        let upper = "AB".repeat(32);
        assert_eq!(sha256(&upper), Ok(Some("ab".repeat(32))));
        assert_eq!(sha256(""), Ok(None));
        for bad in ["ab", &"g".repeat(64), &"a".repeat(65)] {
            assert_eq!(sha256(bad), Err(ListError::BadSha256), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cursors_round_trip(id in any::<u64>()) {
            prop_assert_eq!(decode_cursor(&encode_cursor(PersonId(id))).unwrap(), PersonId(id));
        }

        #[test]
        fn decoding_never_panics(s in "\\PC{0,64}") {
            let _ = decode_cursor(&s);
        }
    }
}
