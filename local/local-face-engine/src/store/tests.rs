//! The store's own tests: what survives a reopen, a torn line, a compaction.

use super::*;

fn meta(id: &str) -> CollectionMeta {
    CollectionMeta {
        collection_id: id.to_owned(),
        created_at: 1_700_000_000.0,
        face_model_version: "test".to_owned(),
    }
}

fn face(seed: f32) -> NewFace {
    let mut embedding = [0f32; EMBEDDING_LEN];
    embedding[0] = seed;
    NewFace {
        record: FaceRecord {
            face_id: Uuid::new_v4(),
            image_id: Uuid::new_v4(),
            external_image_id: Some(format!("img-{seed}")),
            bounding_box: BoundingBox {
                width: 0.5,
                height: 0.5,
                left: 0.25,
                top: 0.25,
            },
            confidence: 99.0,
        },
        embedding,
    }
}

#[test]
fn faces_survive_reopen_and_deletes_stick() {
    let dir = tempfile::tempdir().unwrap();
    let faces: Vec<NewFace> = (0..5).map(|i| face(i as f32 * 0.1)).collect();
    {
        let store = CollectionStore::open(dir.path()).unwrap();
        let collection = store.create(meta("people")).unwrap();
        collection.add_faces(&faces).unwrap();
        let deleted = collection
            .delete_faces(&[faces[1].record.face_id, Uuid::new_v4()])
            .unwrap();
        assert_eq!(deleted, vec![true, false]);
    }
    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.get("people").unwrap();
    assert_eq!(collection.face_count(), 4);
    assert!(collection.get(&faces[1].record.face_id).is_none());
    let (record, embedding) = collection.get(&faces[3].record.face_id).unwrap();
    assert_eq!(record, faces[3].record);
    assert_eq!(embedding, faces[3].embedding);
}

#[test]
fn torn_last_line_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let kept = face(0.1);
    {
        let store = CollectionStore::open(dir.path()).unwrap();
        store
            .create(meta("people"))
            .unwrap()
            .add_faces(std::slice::from_ref(&kept))
            .unwrap();
    }
    let log = dir.path().join("collections/c-people/faces.log");
    let mut file = OpenOptions::new().append(true).open(&log).unwrap();
    file.write_all(b"{\"op\":\"add\",\"face_id\":").unwrap();
    drop(file);

    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.get("people").unwrap();
    assert_eq!(collection.face_count(), 1);
    collection.add_faces(&[face(0.2)]).unwrap();
    drop(store);
    let store = CollectionStore::open(dir.path()).unwrap();
    assert_eq!(store.get("people").unwrap().face_count(), 2);
}

#[test]
fn corrupt_middle_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = CollectionStore::open(dir.path()).unwrap();
        store
            .create(meta("people"))
            .unwrap()
            .add_faces(&[face(0.1)])
            .unwrap();
    }
    let log = dir.path().join("collections/c-people/faces.log");
    let text = fs::read_to_string(&log).unwrap();
    fs::write(&log, format!("garbage\n{text}")).unwrap();
    let error = CollectionStore::open(dir.path()).err().unwrap();
    assert!(
        matches!(error, StoreError::Corrupt { line: 1, .. }),
        "{error}"
    );
}

#[test]
fn many_deletes_compact_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.create(meta("people")).unwrap();
    let faces: Vec<NewFace> = (0..COMPACT_MIN_DEAD + 10).map(|i| face(i as f32)).collect();
    collection.add_faces(&faces).unwrap();
    let ids: Vec<Uuid> = faces.iter().skip(5).map(|f| f.record.face_id).collect();
    collection.delete_faces(&ids).unwrap();
    let log = dir.path().join("collections/c-people/faces.log");
    let lines = fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(lines, 5);
    drop(store);
    let store = CollectionStore::open(dir.path()).unwrap();
    assert_eq!(store.get("people").unwrap().face_count(), 5);
}

#[test]
fn create_delete_and_list_collections() {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(dir.path()).unwrap();
    for id in ["b", "a", "c"] {
        store.create(meta(id)).unwrap();
    }
    assert!(matches!(
        store.create(meta("a")),
        Err(StoreError::AlreadyExists(_))
    ));
    let (page, more) = store.list(None, 2);
    assert_eq!(
        page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(more);
    let (page, more) = store.list(Some("b"), 2);
    assert_eq!(page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["c"]);
    assert!(!more);
    store.delete("b").unwrap();
    assert!(matches!(store.delete("b"), Err(StoreError::NotFound(_))));
    drop(store);
    let store = CollectionStore::open(dir.path()).unwrap();
    let (page, _) = store.list(None, 10);
    assert_eq!(
        page.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
}

#[test]
fn search_ranks_by_distance_and_applies_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.create(meta("people")).unwrap();
    let faces = [face(0.0), face(0.3), face(0.5), face(0.9)];
    collection.add_faces(&faces).unwrap();
    let query = faces[0].embedding;
    let matches = collection.search(&query, 80.0, 10, None);
    let ids: Vec<Uuid> = matches.iter().map(|m| m.record.face_id).collect();
    assert_eq!(ids, [0, 1, 2].map(|i| faces[i].record.face_id));
    assert!(
        matches
            .windows(2)
            .all(|w| w[0].similarity >= w[1].similarity)
    );
    let excluded = collection.search(&query, 80.0, 1, Some(faces[0].record.face_id));
    assert_eq!(excluded[0].record.face_id, faces[1].record.face_id);
    assert!(collection.search(&query, 100.0, 10, None).is_empty());
    assert_eq!(collection.search(&query, 0.0, 10, None).len(), 4);
}

#[test]
fn list_pages_in_face_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.create(meta("people")).unwrap();
    let faces: Vec<NewFace> = (0..7).map(|i| face(i as f32)).collect();
    collection.add_faces(&faces).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, more) = collection.list(after, 3);
        seen.extend(page.iter().map(|r| r.face_id));
        after = page.last().map(|r| r.face_id);
        if !more {
            break;
        }
    }
    let mut expected: Vec<Uuid> = faces.iter().map(|f| f.record.face_id).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

/// The codes only pick candidates: on faces spread as dlib's, with near
/// photos of some, every threshold and number of matches gives what the
/// exhaustive search gives, before and after faces are replaced and deleted.
#[test]
fn the_coded_search_answers_what_the_exhaustive_search_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(dir.path()).unwrap();
    let collection = store.create(meta("people")).unwrap();
    let mut synthetic = crate::synthetic::SyntheticFaces::new(11);
    let mut faces: Vec<NewFace> = (0..2_000)
        .map(|_| {
            let mut face = face(0.0);
            face.embedding = synthetic.person();
            face
        })
        .collect();
    // Some people enrolled twice, as duplicates are.
    for i in (1..faces.len()).step_by(50) {
        let twin = faces[i - 1].embedding;
        faces[i].embedding = synthetic.another_photo_of(&twin, 0.35);
    }
    collection.add_faces(&faces).unwrap();

    let queries: Vec<[f32; EMBEDDING_LEN]> = (0..24)
        .map(|i| match i % 4 {
            0 => synthetic.person(),
            1 => synthetic.another_photo_of(&faces[i * 83].embedding, 0.3),
            2 => synthetic.another_photo_of(&faces[i * 50].embedding, 0.55),
            _ => faces[i * 31].embedding,
        })
        .collect();
    let check = |collection: &Collection| {
        for (n, query) in queries.iter().enumerate() {
            for threshold in [0.0, 50.0, 80.0, 95.0, 99.9] {
                for max_matches in [1, 3, 4096] {
                    let exclude = (n % 2 == 0).then(|| faces[n * 31].record.face_id);
                    let coded = collection.search(query, threshold, max_matches, exclude);
                    let exhaustive =
                        collection.search_exhaustive(query, threshold, max_matches, exclude);
                    assert_eq!(
                        coded, exhaustive,
                        "query {n}, threshold {threshold}, {max_matches} matches"
                    );
                }
            }
        }
    };
    check(&collection);
    assert!(
        !collection.search(&queries[1], 80.0, 10, None).is_empty(),
        "a near photo is found"
    );

    let mut replaced = faces[100].clone();
    replaced.embedding = queries[0];
    collection.add_faces(&[replaced]).unwrap();
    let gone: Vec<Uuid> = faces[..800]
        .iter()
        .step_by(3)
        .map(|f| f.record.face_id)
        .collect();
    collection.delete_faces(&gone).unwrap();
    check(&collection);
}
