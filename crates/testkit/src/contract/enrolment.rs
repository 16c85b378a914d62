//! Enrolment, renaming and lookups: new people, what the columns refuse,
//! namesakes, and what is not there.

use super::*;

pub async fn enrolment_creates_a_pending_person<S: PersonStore + AuditTrail>(store: &S) {
    let key = format!("{TOKEN}.lovelace_ada.jpg");
    let person = store
        .create_pending(&new_person("Lovelace", "Ada", &key), &admin_audit())
        .await
        .expect("enrolled");
    assert_eq!(person.status, Status::Pending);
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Lovelace", "Ada")
    );
    assert_eq!(person.object_key, key);
    assert_eq!(person.identity, None);
    assert_eq!(store.get(person.id).await.unwrap(), Some(person.clone()));
    assert_eq!(store.find_by_key(&key).await.unwrap(), Some(person.clone()));
    assert_eq!(store.get(PersonId(person.id.0 + 1000)).await.unwrap(), None);
    assert_eq!(store.find_by_key("lovelace_ada.jpg").await.unwrap(), None);
    assert_eq!(trail(store, person.id).await, [AuditAction::Enrolment]);
    store.ping().await.expect("the store answers");
}

pub async fn values_longer_than_their_columns_are_refused_whole<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let long_name = "a".repeat(101);
    let refused = store
        .create_pending(
            &new_person(&long_name, "Ada", &format!("{TOKEN}.x_ada.jpg")),
            &admin_audit(),
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    // A hundred characters fit, whatever their size in bytes.
    let hundred = "é".repeat(100);
    let fits = store
        .create_pending(
            &new_person(&hundred, "Ada", &format!("{TOKEN}.e_ada.jpg")),
            &admin_audit(),
        )
        .await
        .expect("100 characters fit");
    assert_eq!(fits.lastname, hundred);

    let key = "lovelace_ada.jpg";
    let too_long = rejected(key, "01", &"r".repeat(501));
    let refused = store.record_indexing(&too_long, &registry_audit()).await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.find_by_key(key).await.unwrap(),
        None,
        "nothing half-written"
    );
    let renamed = store
        .rename(fits.id, Some(&long_name), None, &admin_audit())
        .await;
    assert!(
        matches!(renamed, Err(PortError::Permanent(_))),
        "{renamed:?}"
    );
    assert_eq!(store.get(fits.id).await.unwrap().unwrap().lastname, hundred);
    assert_eq!(trail(store, fits.id).await, [AuditAction::Enrolment]);
}

/// A re-run of a bulk import finds the files already in by their hash:
/// indexed or rejected, and only for the photo recorded now.
pub async fn people_are_found_by_their_photos_hash<S: PersonStore + AuditTrail>(store: &S) {
    let audit = registry_audit();
    let first = indexed("lovelace_ada.jpg", "0A", "face-1");
    let refused = rejected(
        "babbage_charles.jpg",
        "0A",
        "No face was found in the photo.",
    );
    let (ada, _) = recorded(store.record_indexing(&first, &audit).await.unwrap());
    let (charles, _) = recorded(store.record_indexing(&refused, &audit).await.unwrap());
    let by_hash = |hash: &Option<String>| ListFilter {
        photo_sha256: hash.clone(),
        limit: 10,
        ..ListFilter::default()
    };
    let ids = |people: Vec<Person>| people.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list(&by_hash(&first.photo_sha256)).await.unwrap()),
        [ada.id]
    );
    assert_eq!(
        ids(store.list(&by_hash(&refused.photo_sha256)).await.unwrap()),
        [charles.id]
    );
    let unknown = Some(sha256_hex(b"never uploaded"));
    assert!(store.list(&by_hash(&unknown)).await.unwrap().is_empty());

    // A new photo of Ada: her record holds its hash, not the old one's.
    let second = indexed("lovelace_ada.jpg", "0B", "face-2");
    store.record_indexing(&second, &audit).await.unwrap();
    assert!(
        store
            .list(&by_hash(&first.photo_sha256))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store.list(&by_hash(&second.photo_sha256)).await.unwrap()),
        [ada.id]
    );
}

pub async fn namesakes_are_two_people_and_keys_compare_byte_for_byte<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    let one = store
        .create_pending(
            &new_person("Dupont", "Jean", "0a.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("one");
    let other = store
        .create_pending(
            &new_person("Dupont", "Jean", "0b.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("the other");
    assert_ne!(one.id, other.id);
    assert_eq!(
        (other.status, other.identity.as_deref()),
        (Status::Pending, None)
    );
    // Keys that differ only in case (or accents) are two objects in S3.
    let upper = store
        .create_pending(
            &new_person("Dupont", "Jean", "0A.dupont_jean.jpg"),
            &audit(),
        )
        .await
        .expect("a key in upper case is another key");
    assert_ne!(upper.id, one.id);
    assert_eq!(
        store
            .find_by_key("0A.dupont_jean.jpg")
            .await
            .unwrap()
            .map(|p| p.id),
        Some(upper.id)
    );
    // The same key twice is refused, not merged.
    assert!(
        store
            .create_pending(
                &new_person("Dupont", "Jeanne", "0a.dupont_jean.jpg"),
                &audit()
            )
            .await
            .is_err()
    );
    assert_eq!(row_count(store).await, 3);
}

pub async fn a_rename_changes_the_names_given_and_nothing_else<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let person = store
        .create_pending(
            &new_person("Dupnot", "Jean", "0a.dupnot_jean.jpg"),
            &audit(),
        )
        .await
        .unwrap();
    let renamed = store
        .rename(person.id, Some("Dupont"), None, &audit())
        .await
        .unwrap()
        .expect("the person");
    assert_eq!(
        (renamed.lastname.as_str(), renamed.firstname.as_str()),
        ("Dupont", "Jean")
    );
    assert_eq!(renamed.object_key, "0a.dupnot_jean.jpg");
    let renamed = store
        .rename(person.id, None, Some("Jeanne"), &audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (renamed.lastname.as_str(), renamed.firstname.as_str()),
        ("Dupont", "Jeanne")
    );
    assert_eq!(
        store
            .rename(PersonId(person.id.0 + 1), Some("X"), None, &audit())
            .await
            .unwrap(),
        None
    );
}

pub async fn unknown_ids_and_keys_are_none<S: PersonStore + AuditTrail>(store: &S) {
    assert_eq!(store.get(PersonId(424242)).await.expect("get"), None);
    assert_eq!(
        store.find_by_key("nobody_here.jpg").await.expect("find"),
        None
    );
    assert!(
        store
            .list(&ListFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn a_request_key_creates_one_person_however_often_it_comes<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    use registry::ports::{CreatedOnce, RequestKey};
    let request = |key: &str, digest: &str| RequestKey {
        caller: "ada-subject".into(),
        key: key.into(),
        digest: digest.repeat(64),
    };
    let first = new_person("Lovelace", "Ada", &format!("{TOKEN}.lovelace_ada.jpg"));
    let CreatedOnce::New(ada) = store
        .create_pending_once(&first, &request("k-1", "a"), &admin_audit())
        .await
        .unwrap()
    else {
        panic!("the first request creates");
    };
    // Sent again (another key, as each request draws its own).
    let again = new_person(
        "Lovelace",
        "Ada",
        "0123456789abcdef0123456789abcdee.lovelace_ada.jpg",
    );
    for _ in 0..2 {
        let answer = store
            .create_pending_once(&again, &request("k-1", "a"), &admin_audit())
            .await
            .unwrap();
        assert_eq!(
            answer,
            CreatedOnce::Earlier {
                person: Some(ada.clone()),
                same_request: true
            }
        );
    }
    // The same key for something else is told apart.
    let answer = store
        .create_pending_once(&again, &request("k-1", "b"), &admin_audit())
        .await
        .unwrap();
    assert!(
        matches!(
            answer,
            CreatedOnce::Earlier {
                same_request: false,
                ..
            }
        ),
        "{answer:?}"
    );
    assert_eq!(row_count(store).await, 1, "nobody else was created");
    assert_eq!(trail(store, ada.id).await, [AuditAction::Enrolment]);
    // Keys are the caller's: another caller's k-1 is another request.
    let other = RequestKey {
        caller: "bob-subject".into(),
        ..request("k-1", "a")
    };
    let created = store
        .create_pending_once(&again, &other, &admin_audit())
        .await
        .unwrap();
    assert!(matches!(created, CreatedOnce::New(_)), "{created:?}");
    assert_eq!(row_count(store).await, 2);
}

pub async fn a_rename_with_a_key_moves_the_record_and_remembers_the_move<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    use registry::ports::KeyMove;
    let key = format!("{TOKEN}.obama_barack.jpg");
    let person = store
        .create_pending(&new_person("Obama", "Barack", &key), &audit())
        .await
        .unwrap();
    store
        .record_indexing(
            &indexed(&key, "0067A3F2C1B0D4E501", "face-1"),
            &registry_audit(),
        )
        .await
        .unwrap();
    let to = "0123456789abcdef0123456789abcdee.dunham_barack.jpg";
    let renamed = store
        .rename_with_key(person.id, Some("Dunham"), None, to, &audit())
        .await
        .unwrap()
        .expect("the person");
    assert_eq!(
        (renamed.lastname.as_str(), renamed.object_key.as_str()),
        ("Dunham", to)
    );
    // The face stays until the copy is indexed; no version of the new key
    // is recorded, so its event is.
    assert_eq!(renamed.identity.as_deref(), Some("face-1"));
    assert_eq!(
        (renamed.object_etag, renamed.object_sequencer),
        (None, None)
    );
    assert_eq!(store.find_by_key(&key).await.unwrap(), None);
    assert_eq!(
        store.unfinished_move(person.id).await.unwrap(),
        Some(KeyMove {
            from: key.clone(),
            to: to.to_owned()
        })
    );
    store.forget_move(person.id).await.unwrap();
    assert_eq!(store.unfinished_move(person.id).await.unwrap(), None);
    let entries = store
        .audit_trail(&AuditFilter {
            person_id: Some(person.id),
            action: Some(AuditAction::Rename),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        entries[0].detail,
        json!({"fields": ["lastname"], "newKey": true})
    );
    assert_eq!(
        store
            .rename_with_key(
                PersonId(person.id.0 + 1),
                Some("X"),
                None,
                "x.jpg",
                &audit()
            )
            .await
            .unwrap(),
        None
    );
}
