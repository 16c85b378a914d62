//! The registry's domain: names and object keys, people and their statuses,
//! the ports (narrow traits) the adapters implement, and the services that
//! the Lambda handlers drive (enrolment, listing, indexing, the audit trail).

pub mod audit;
pub mod duplicates;
pub mod erasure;
pub mod indexing;
pub mod key;
pub mod listing;
pub mod metadata;
pub mod names;
pub mod paging;
pub mod person;
pub mod photo;
pub mod ports;
pub mod reconcile;
pub mod rejection;
pub mod search;
pub mod sequencer;
pub mod upload;

pub use key::{ObjectKey, PhotoFormat};
pub use names::{DisplayName, NameError};
pub use person::{FaceBox, Person, PersonId, Status};
pub use sequencer::Sequencer;

/// Largest photo the registry accepts, in bytes (Rekognition's limit for an S3 object).
pub const MAX_PHOTO_BYTES: u64 = 15 * 1024 * 1024;
