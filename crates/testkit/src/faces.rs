//! A face search whose answers a test sets: for the API's own rules (what
//! it answers for a photo without faces, or for one it cannot read). The
//! registry's search against the real engine is tested end to end.

use std::sync::Mutex;

use async_trait::async_trait;
use registry::ports::{DetectedFace, FaceMatch, FaceSearch, PortError};

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
