//! Recording indexing outcomes: only newer object versions count, replays
//! change nothing, and replaced faces are set aside until forgotten.

use super::*;

pub async fn an_outcome_for_a_new_key_enrols_from_the_names_given<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let key = "lovelace_ada.jpg";
    let record = indexed(key, "0A", "face-1");
    let (person, retired) = recorded(
        store
            .record_indexing(&record, &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired, None);
    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Lovelace", "Ada")
    );
    assert_eq!(person.object_key, key);
    assert_eq!(person.status, Status::Indexed);
    assert_eq!(person.identity.as_deref(), Some("face-1"));
    assert_eq!(person.object_etag, record.object_etag);
    assert_eq!(person.object_sequencer.as_deref(), Some("0A"));
    assert_eq!(person.photo_sha256, record.photo_sha256);
    assert_eq!(person.face_confidence, Some(99.5));
    assert_eq!(person.face_box, record.face_box);
    assert_eq!(store.get(person.id).await.unwrap(), Some(person.clone()));
    assert_eq!(store.faces_ever(person.id).await.unwrap(), ["face-1"]);
    let entries = store
        .audit_trail(&AuditFilter {
            person_id: Some(person.id),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, AuditAction::Indexing);
    assert_eq!(entries[0].actor.subject, None, "the registry's own work");
    assert_eq!(
        entries[0].detail,
        json!({ "status": "indexed", "sequencer": "0A", "faceId": "face-1" })
    );
}

pub async fn only_a_newer_object_version_is_recorded<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = &ada.object_key;
    recorded(
        store
            .record_indexing(&indexed(key, "0B", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    for (sequencer, why) in [
        ("0B", "the same version"),
        ("0A", "an older version"),
        ("0a", "the same, in lower case"),
    ] {
        let outcome = store
            .record_indexing(&rejected(key, sequencer, "late"), &registry_audit())
            .await
            .unwrap();
        assert!(
            matches!(&outcome, RecordOutcome::Stale { recorded_sequencer } if recorded_sequencer == "0B"),
            "{why} is stale: {outcome:?}"
        );
    }
    // Sequencers of different lengths compare as if padded with zeros.
    let outcome = store
        .record_indexing(&rejected(key, "0B00", "same, padded"), &registry_audit())
        .await
        .unwrap();
    assert!(
        matches!(outcome, RecordOutcome::Stale { .. }),
        "{outcome:?}"
    );
    let (person, _) = recorded(
        store
            .record_indexing(&rejected(key, "0B01", "no face"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.status_reason.as_deref(), Some("no face"));
    assert_eq!(person.identity, None);
    assert_eq!(person.face_box, None);
    assert_eq!(
        trail(store, ada.id).await,
        [
            AuditAction::Enrolment,
            AuditAction::Indexing,
            AuditAction::Indexing
        ],
        "a stale outcome leaves no entry"
    );
}

pub async fn a_replaced_face_is_retired_until_forgotten<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let key = &ada.object_key;
    recorded(
        store
            .record_indexing(&indexed(key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let mut second = indexed(key, "02", "face-2");
    second.discarded_faces = vec!["face-extra".into()];
    let (person, retired) = recorded(
        store
            .record_indexing(&second, &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired.as_deref(), Some("face-1"));
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    let mut retired = store.retired_faces(10).await.unwrap();
    retired.sort();
    assert_eq!(retired, ["face-1", "face-extra"]);
    assert_eq!(store.retired_faces(1).await.unwrap().len(), 1);
    assert_eq!(
        store.faces_ever(ada.id).await.unwrap(),
        ["face-1", "face-2"]
    );
    // The same face again retires nothing.
    let (_, retired) = recorded(
        store
            .record_indexing(&indexed(key, "03", "face-2"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired, None);

    store
        .forget_retired_faces(&["face-1".into(), "face-never-retired".into()])
        .await
        .unwrap();
    assert_eq!(store.retired_faces(10).await.unwrap(), ["face-extra"]);
    store.forget_retired_faces(&[]).await.unwrap();
    // A rejection retires the face it replaces.
    let (_, retired) = recorded(
        store
            .record_indexing(&rejected(key, "04", "no face"), &registry_audit())
            .await
            .unwrap(),
    );
    assert_eq!(retired.as_deref(), Some("face-2"));
    let entry = store
        .audit_trail(&AuditFilter {
            person_id: Some(ada.id),
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        entry[0].detail,
        json!({ "status": "rejected", "sequencer": "04", "retiredFaceId": "face-2" })
    );
}

pub async fn faces_set_aside_are_retired_until_forgotten<S: PersonStore + AuditTrail>(store: &S) {
    let faces = ["face-x".to_owned(), "face-y".to_owned()];
    store.set_faces_aside(&faces).await.unwrap();
    store.set_faces_aside(&faces[..1]).await.unwrap();
    store.set_faces_aside(&[]).await.unwrap();
    let mut retired = store.retired_faces(10).await.unwrap();
    retired.sort();
    assert_eq!(retired, faces, "each once");
    store.forget_retired_faces(&faces).await.unwrap();
    assert!(store.retired_faces(10).await.unwrap().is_empty());
}

pub async fn a_face_is_one_persons<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    recorded(
        store
            .record_indexing(&indexed(&ada.object_key, "01", "face-1"), &registry_audit())
            .await
            .unwrap(),
    );
    let refused = store
        .record_indexing(
            &indexed(&grace.object_key, "01", "face-1"),
            &registry_audit(),
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    let grace_now = store.get(grace.id).await.unwrap().unwrap();
    assert_eq!(grace_now.status, Status::Pending, "nothing half-written");
    assert_eq!(grace_now.object_sequencer, None);
    assert_eq!(trail(store, grace.id).await, [AuditAction::Enrolment]);
}

pub async fn a_new_photo_marks_an_indexed_person_pending_and_keeps_the_face_until_replaced<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    let (person, _) = recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1"),
                &audit(),
            )
            .await
            .expect("record"),
    );

    let pending = store
        .mark_pending(person.id, &audit())
        .await
        .expect("marked")
        .expect("the person");

    assert_eq!(pending.status, Status::Pending);
    assert_eq!(pending.identity.as_deref(), Some("face-1"));
    assert_eq!(
        pending.object_sequencer.as_deref(),
        Some("0067A3F2C1B0D4E501")
    );
    assert_eq!(
        store
            .mark_pending(PersonId(person.id.0 + 1), &audit())
            .await
            .unwrap(),
        None
    );
}

pub async fn a_replayed_record_changes_nothing_after_the_first<S: PersonStore + AuditTrail>(
    store: &S,
) {
    let record = indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1");

    let (first, retired) = recorded(
        store
            .record_indexing(&record, &audit())
            .await
            .expect("record"),
    );
    assert_eq!(retired, None);
    assert_eq!(first.status, Status::Indexed);
    assert_eq!(first.identity.as_deref(), Some("face-1"));
    assert_eq!(first.face_confidence, Some(99.5));
    assert_eq!(first.face_box, record.face_box);
    assert_eq!(
        first.object_etag.as_deref(),
        Some("\"etag-0067A3F2C1B0D4E501\"")
    );

    for _ in 0..3 {
        // Timestamps have millisecond precision: make a second write visible.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let outcome = store
            .record_indexing(&record, &audit())
            .await
            .expect("replay");
        assert_eq!(
            outcome,
            RecordOutcome::Stale {
                recorded_sequencer: "0067A3F2C1B0D4E501".into()
            }
        );
    }

    let now = person_by_key(store, "obama_barack.jpg").await;
    assert_eq!(now, first, "the row, updated_at included, is unchanged");
    assert_eq!(row_count(store).await, 1);
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

pub async fn an_older_record_after_a_newer_one_is_stale<S: PersonStore + AuditTrail>(store: &S) {
    let newer = indexed("obama_barack.jpg", "0067A3F3D0E1F2A3B4", "face-new");
    let older = indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-old");

    let (person, _) = recorded(
        store
            .record_indexing(&newer, &audit())
            .await
            .expect("newer"),
    );
    let outcome = store
        .record_indexing(&older, &audit())
        .await
        .expect("older");

    assert_eq!(
        outcome,
        RecordOutcome::Stale {
            recorded_sequencer: "0067A3F3D0E1F2A3B4".into()
        }
    );
    assert_eq!(person_by_key(store, "obama_barack.jpg").await, person);
    // A shorter sequencer is compared right-padded: "0067A3F3D0E1F2A3B4" > "0067A3F3".
    let shorter = store
        .record_indexing(
            &indexed("obama_barack.jpg", "0067A3F3", "face-short"),
            &audit(),
        )
        .await
        .expect("shorter");
    assert!(matches!(shorter, RecordOutcome::Stale { .. }));
}

pub async fn a_replacement_sets_the_old_face_aside_until_it_is_forgotten<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F2C1B0D4E501", "face-1"),
                &audit(),
            )
            .await
            .expect("first"),
    );

    let (person, retired) = recorded(
        store
            .record_indexing(
                &indexed("obama_barack.jpg", "0067A3F3D0E1F2A3B4", "face-2"),
                &audit(),
            )
            .await
            .expect("replacement"),
    );
    assert_eq!(retired.as_deref(), Some("face-1"));
    assert_eq!(person.identity.as_deref(), Some("face-2"));
    assert_eq!(
        store.retired_faces(10).await.expect("retired"),
        vec!["face-1".to_owned()]
    );

    // A rejected newer photo retires the indexed face too: the person no longer has one.
    let (person, retired) = recorded(
        store
            .record_indexing(
                &rejected(
                    "obama_barack.jpg",
                    "0067A3F4000000000000",
                    "No face was found in the photo.",
                ),
                &audit(),
            )
            .await
            .expect("rejection"),
    );
    assert_eq!(retired.as_deref(), Some("face-2"));
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(person.identity, None);
    assert_eq!(person.face_box, None);
    assert_eq!(
        person.status_reason.as_deref(),
        Some("No face was found in the photo.")
    );

    let mut faces = store.retired_faces(10).await.expect("retired");
    faces.sort();
    assert_eq!(faces, vec!["face-1".to_owned(), "face-2".to_owned()]);
    assert_eq!(store.retired_faces(1).await.expect("limit").len(), 1);
    // Every face the person ever had stays known, whatever became of it.
    let mut ever = store.faces_ever(person.id).await.expect("faces ever");
    ever.sort();
    assert_eq!(ever, ["face-1", "face-2"]);

    store
        .forget_retired_faces(&["face-1".to_owned()])
        .await
        .expect("forget one");
    assert_eq!(
        store.retired_faces(10).await.expect("retired"),
        vec!["face-2".to_owned()]
    );
    store
        .forget_retired_faces(&["face-2".to_owned(), "never-retired".to_owned()])
        .await
        .expect("forget the rest");
    store.forget_retired_faces(&[]).await.expect("forget none");
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

pub async fn recording_the_same_face_again_does_not_retire_it<S: PersonStore + AuditTrail>(
    store: &S,
) {
    store
        .record_indexing(&indexed("obama_barack.jpg", "01", "face-1"), &audit())
        .await
        .expect("first");
    let (_, retired) = recorded(
        store
            .record_indexing(&indexed("obama_barack.jpg", "02", "face-1"), &audit())
            .await
            .expect("second"),
    );
    assert_eq!(retired, None);
    assert!(store.retired_faces(10).await.expect("retired").is_empty());
}

pub async fn a_record_without_a_row_creates_the_person_from_its_names<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    let mut record = rejected("garcia_jose.jpg", "0A", "The file is empty.");
    record.lastname = "Garcia".into();
    record.firstname = "Jose".into();

    let (person, _) = recorded(
        store
            .record_indexing(&record, &audit())
            .await
            .expect("record"),
    );

    assert_eq!(
        (person.lastname.as_str(), person.firstname.as_str()),
        ("Garcia", "Jose")
    );
    assert_eq!(person.status, Status::Rejected);
    assert_eq!(store.get(person.id).await.expect("get"), Some(person));
}
