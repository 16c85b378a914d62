//! Keyset pagination, as the listings share it: a page size within limits,
//! an opaque cursor naming the last id shown, and one row more than asked
//! to know whether another page exists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A page size: `default` when not given, `None` when not a whole number
/// from 1 to `max`.
pub fn parse_limit(value: Option<&str>, default: u32, max: u32) -> Option<u32> {
    match value {
        None => Some(default),
        Some(l) => l.parse::<u32>().ok().filter(|l| (1..=max).contains(l)),
    }
}

/// The cursor after `last`, for the listing that writes `prefix` in its
/// cursors (so that one listing's cursor is refused by another).
pub fn encode_cursor(prefix: &str, last: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}{last}"))
}

/// The id a cursor of the listing with `prefix` names; `None` for any
/// other text.
pub fn decode_cursor(prefix: &str, cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

/// Of `items` fetched with `limit + 1`, the page and the cursor of the next.
pub fn split_page<T>(
    mut items: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_more_tells_whether_a_next_page_exists() {
        assert_eq!(
            split_page(vec![5, 4, 3], 2, |n| n.to_string()),
            (vec![5, 4], Some("4".into()))
        );
        assert_eq!(
            split_page(vec![5, 4], 2, |n| n.to_string()),
            (vec![5, 4], None)
        );
    }

    #[test]
    fn cursors_name_their_listing() {
        let cursor = encode_cursor("p1:", 42);
        assert_eq!(decode_cursor("p1:", &cursor), Some(42));
        assert_eq!(decode_cursor("a1:", &cursor), None);
        assert_eq!(parse_limit(None, 50, 100), Some(50));
        assert_eq!(parse_limit(Some("0"), 50, 100), None);
        assert_eq!(parse_limit(Some("100"), 50, 100), Some(100));
    }
}
