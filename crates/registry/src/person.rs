//! A person in the registry and the statuses of their photo.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub u64);

impl std::fmt::Display for PersonId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a person's photo stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// An upload URL was issued; the photo has not been indexed yet.
    Pending,
    /// The photo holds exactly one usable face; its FaceId is the identity.
    Indexed,
    /// The photo cannot be used; the reason says why.
    Rejected,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Indexed, Status::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Indexed => "indexed",
            Status::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; expected pending, indexed or rejected")]
pub struct UnknownStatus(pub String);

/// A face's bounding box, as ratios of the image's width and height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: PersonId,
    pub lastname: String,
    pub firstname: String,
    pub object_key: String,
    /// The Rekognition FaceId of the indexed face.
    pub identity: Option<String>,
    pub status: Status,
    pub status_reason: Option<String>,
    /// What identifies the object version that was indexed.
    pub object_etag: Option<String>,
    pub object_sequencer: Option<String>,
    /// SHA-256 of the recorded photo as it was uploaded: a re-run of a bulk
    /// import knows by it which files are already in.
    pub photo_sha256: Option<String>,
    pub face_confidence: Option<f32>,
    pub face_box: Option<FaceBox>,
    /// Another person whose face this person's face matches, until an
    /// admin resolves it.
    pub possible_duplicate: Option<crate::duplicates::PossibleDuplicate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("Indexed".parse::<Status>().is_err());
        assert_eq!(
            serde_json::to_string(&Status::Rejected).unwrap(),
            "\"rejected\""
        );
    }
}
