//! The face collection's contract: what every [`FaceIndex`] promises
//! reconcile and erasure about the faces it holds (listing them page by
//! page, telling which are there, deleting them), as one suite that runs
//! against the Rekognition adapter on the local face engine and against
//! [`crate::InMemoryCollection`]. Indexing photos and searching are the
//! engine's own and are tested with real photos, not here: the in-memory
//! collection knows no likeness.
//!
//! Each case takes a fresh, empty collection. [`face_index_contract!`] makes
//! a test of each case from an expression that makes one.

use std::collections::BTreeSet;

use async_trait::async_trait;
use registry::ports::FaceIndex;

use crate::InMemoryCollection;

/// A collection a case can add faces to.
#[async_trait]
pub trait CollectionUnderTest: Send + Sync {
    type Index: FaceIndex;
    fn index(&self) -> &Self::Index;
    /// Stores one more face; its FaceId.
    async fn add_face(&self) -> String;
}

#[async_trait]
impl CollectionUnderTest for InMemoryCollection {
    type Index = Self;

    fn index(&self) -> &Self {
        self
    }

    async fn add_face(&self) -> String {
        let face_id = uuid::Uuid::new_v4().to_string();
        self.add(&face_id);
        face_id
    }
}

/// One test per case, each on the collection `$new_collection` (an
/// expression whose future yields `(guard, collection)`).
#[macro_export]
macro_rules! face_index_contract {
    ($new_collection:expr) => {
        $crate::contract_tests!(collection_contract, $new_collection;
            every_face_is_listed_once_page_by_page,
            deleted_faces_are_gone_and_unknown_ones_are_no_error,
        );
    };
}

/// A FaceId in the form Rekognition gives, that no collection holds.
const UNKNOWN_FACE: &str = "6f1c1a8e-0000-4000-8000-000000000000";

/// Every page of the listing, from the start.
async fn walk<C: CollectionUnderTest>(collection: &C, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = collection
            .index()
            .list_faces(token.as_deref(), limit)
            .await
            .expect("a page");
        assert!(page.face_ids.len() <= limit as usize, "{page:?}");
        pages.push(page.face_ids);
        match page.next_token {
            Some(next) => token = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 100, "the listing does not end");
    }
}

pub async fn every_face_is_listed_once_page_by_page<C: CollectionUnderTest>(collection: &C) {
    assert_eq!(walk(collection, 2).await.concat(), Vec::<String>::new());
    let mut added = BTreeSet::new();
    for _ in 0..5 {
        added.insert(collection.add_face().await);
    }
    assert_eq!(added.len(), 5, "each face its own FaceId");
    let pages = walk(collection, 2).await;
    let listed: Vec<String> = pages.concat();
    assert_eq!(listed.len(), 5, "each face once: {pages:?}");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), added);
    assert!(pages.len() >= 3, "pages of at most 2: {pages:?}");
}

pub async fn deleted_faces_are_gone_and_unknown_ones_are_no_error<C: CollectionUnderTest>(
    collection: &C,
) {
    let index = collection.index();
    let kept = collection.add_face().await;
    let deleted = collection.add_face().await;
    let asked = [kept.clone(), deleted.clone(), UNKNOWN_FACE.to_owned()];
    let mut present = index.faces_present(&asked).await.unwrap();
    present.sort();
    let mut expected = vec![kept.clone(), deleted.clone()];
    expected.sort();
    assert_eq!(present, expected);

    // A face already gone counts as deleted (Rekognition's FACE_NOT_FOUND).
    index
        .delete_faces(&[deleted.clone(), UNKNOWN_FACE.to_owned()])
        .await
        .unwrap();
    index
        .delete_faces(std::slice::from_ref(&deleted))
        .await
        .unwrap();
    assert_eq!(
        index.faces_present(&asked).await.unwrap(),
        std::slice::from_ref(&kept)
    );
    assert_eq!(walk(collection, 10).await.concat(), [kept]);
}
