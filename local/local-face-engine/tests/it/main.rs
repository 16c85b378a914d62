//! The face engine as Rekognition's clients see it: its detector against
//! dlib's, faces down to Rekognition's smallest, its JSON API through the
//! AWS SDK, the standalone server.
//!
//! One test binary for the crate (one link), a module per feature.

mod hog;
mod rekognition_api;
mod small_faces;
mod standalone;
