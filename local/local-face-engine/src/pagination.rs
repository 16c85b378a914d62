//! Opaque `NextToken`s: the key of the last item returned, so a page stays
//! correct when items before or after it are added or deleted meanwhile.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

const FACE_PREFIX: &str = "face.v1:";
const COLLECTION_PREFIX: &str = "collection.v1:";

/// A `NextToken` that this engine did not issue, or issued for another list.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid pagination token")]
pub struct InvalidToken;

pub fn face_token(last: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{FACE_PREFIX}{last}"))
}

pub fn parse_face_token(token: &str) -> Result<Uuid, InvalidToken> {
    let payload = decode(token)?;
    let id = payload.strip_prefix(FACE_PREFIX).ok_or(InvalidToken)?;
    Uuid::parse_str(id).map_err(|_| InvalidToken)
}

pub fn collection_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{COLLECTION_PREFIX}{last}"))
}

pub fn parse_collection_token(token: &str) -> Result<String, InvalidToken> {
    let payload = decode(token)?;
    payload
        .strip_prefix(COLLECTION_PREFIX)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or(InvalidToken)
}

fn decode(token: &str) -> Result<String, InvalidToken> {
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| InvalidToken)?;
    String::from_utf8(bytes).map_err(|_| InvalidToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let id = Uuid::new_v4();
        assert_eq!(parse_face_token(&face_token(id)), Ok(id));
        assert_eq!(
            parse_collection_token(&collection_token("people-1")),
            Ok("people-1".to_owned())
        );
    }

    #[test]
    fn tokens_are_not_interchangeable_or_forgeable() {
        let face = face_token(Uuid::new_v4());
        assert_eq!(parse_collection_token(&face), Err(InvalidToken));
        assert_eq!(parse_face_token(&collection_token("x")), Err(InvalidToken));
        assert_eq!(parse_face_token("not base64!"), Err(InvalidToken));
        assert_eq!(parse_face_token(""), Err(InvalidToken));
        let bad_uuid = URL_SAFE_NO_PAD.encode("face.v1:nope");
        assert_eq!(parse_face_token(&bad_uuid), Err(InvalidToken));
    }

    #[test]
    fn tokens_fit_rekognition_length_limit() {
        assert!(face_token(Uuid::new_v4()).len() <= 255);
        assert!(collection_token(&"a".repeat(150)).len() <= 255);
    }
}
