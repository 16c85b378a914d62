//! A face search whose answers a test sets, and a collection in memory:
//! for the API's own rules (what it answers for a photo without faces, or
//! for one it cannot read; what an erasure answers). The registry against
//! the real engine is tested end to end.

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;
use registry::ports::{
    DetectedFace, FaceIndex, FaceMatch, FacePage, FaceSearch, IndexAnswer, PortError,
};

/// A collection holding the FaceIds a test adds; it indexes no photo. It
/// keeps the collection's contract ([`crate::collection_contract`]), as the
/// Rekognition adapter on the local face engine does.
#[derive(Default)]
pub struct InMemoryCollection {
    faces: Mutex<BTreeSet<String>>,
    /// Pages listed before the listing fails once (a fault to inject).
    pages_before_failure: Mutex<Option<usize>>,
}

impl InMemoryCollection {
    /// Makes the listing fail (transiently) once `pages` more pages were listed.
    pub fn fail_listing_after(&self, pages: usize) {
        *self.pages_before_failure.lock().expect("not poisoned") = Some(pages);
    }

    pub fn add(&self, face_id: &str) {
        self.faces
            .lock()
            .expect("not poisoned")
            .insert(face_id.to_owned());
    }

    pub fn faces(&self) -> Vec<String> {
        self.faces
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl FaceIndex for InMemoryCollection {
    fn collection(&self) -> &str {
        "face-registry-test"
    }

    async fn index_photo(
        &self,
        _bucket: &str,
        key: &str,
        _version_id: Option<&str>,
    ) -> Result<IndexAnswer, PortError> {
        Err(PortError::Permanent(format!(
            "the in-memory collection indexes no photo (asked for {key})"
        )))
    }

    async fn delete_faces(&self, face_ids: &[String]) -> Result<(), PortError> {
        let mut faces = self.faces.lock().expect("not poisoned");
        for id in face_ids {
            faces.remove(id);
        }
        Ok(())
    }

    /// Faces in memory have no likeness: none is like another.
    async fn search_by_face(
        &self,
        _face_id: &str,
        _threshold: f32,
        _max_matches: u32,
    ) -> Result<Vec<FaceMatch>, PortError> {
        Ok(Vec::new())
    }

    /// Pages in FaceId order; the token is the last FaceId of the page before.
    async fn list_faces(
        &self,
        next_token: Option<&str>,
        limit: u32,
    ) -> Result<FacePage, PortError> {
        {
            let mut before = self.pages_before_failure.lock().expect("not poisoned");
            match *before {
                Some(0) => {
                    *before = None;
                    return Err(PortError::Transient(
                        "Rekognition: ThrottlingException".into(),
                    ));
                }
                Some(n) => *before = Some(n - 1),
                None => {}
            }
        }
        let faces = self.faces.lock().expect("not poisoned");
        let after = faces
            .iter()
            .filter(|id| next_token.is_none_or(|token| id.as_str() > token));
        let face_ids: Vec<String> = after.take(limit as usize).cloned().collect();
        let next_token = face_ids
            .last()
            .filter(|last| faces.iter().any(|id| id > *last))
            .cloned();
        Ok(FacePage {
            face_ids,
            next_token,
        })
    }

    async fn faces_present(&self, face_ids: &[String]) -> Result<Vec<String>, PortError> {
        let faces = self.faces.lock().expect("not poisoned");
        Ok(face_ids
            .iter()
            .filter(|id| faces.contains(*id))
            .cloned()
            .collect())
    }
}

#[derive(Default)]
pub struct ScriptedFaceSearch {
    detected: Mutex<Vec<DetectedFace>>,
    matches: Mutex<Vec<FaceMatch>>,
}

impl ScriptedFaceSearch {
    /// Every photo shows these faces, each matching `matches`.
    pub fn answer(&self, detected: Vec<DetectedFace>, matches: Vec<FaceMatch>) {
        *self.detected.lock().expect("not poisoned") = detected;
        *self.matches.lock().expect("not poisoned") = matches;
    }
}

#[async_trait]
impl FaceSearch for ScriptedFaceSearch {
    async fn detect_faces(&self, _image: &[u8]) -> Result<Vec<DetectedFace>, PortError> {
        Ok(self.detected.lock().expect("not poisoned").clone())
    }

    async fn search_by_image(
        &self,
        _image: &[u8],
        threshold: f32,
        max_matches: u32,
    ) -> Result<Option<Vec<FaceMatch>>, PortError> {
        let matches = self.matches.lock().expect("not poisoned");
        Ok(Some(
            matches
                .iter()
                .filter(|m| m.similarity >= threshold)
                .take(max_matches as usize)
                .cloned()
                .collect(),
        ))
    }
}
