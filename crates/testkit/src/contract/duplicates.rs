//! Possible duplicates: resolved once, and remembered.

use super::*;

pub async fn duplicates_are_resolved_and_remembered<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let grace = enrol(store, "Hopper", "Grace").await;
    let alan = enrol(store, "Turing", "Alan").await;
    assert_eq!(
        store
            .resolve_duplicate(PersonId(4242), Resolution::Same, &admin_audit())
            .await
            .unwrap(),
        Resolved::NoSuchPerson
    );
    assert_eq!(
        store
            .resolve_duplicate(ada.id, Resolution::Same, &admin_audit())
            .await
            .unwrap(),
        Resolved::NotFlagged
    );
    for (person, other) in [(&grace, &ada), (&alan, &ada)] {
        let mut flagged = indexed(&person.object_key, "01", &format!("face-{}", person.id));
        flagged.possible_duplicate = Some(PossibleDuplicate {
            person_id: other.id,
            similarity: 90.5,
        });
        recorded(
            store
                .record_indexing(&flagged, &registry_audit())
                .await
                .unwrap(),
        );
    }
    let Resolved::Cleared { person, other } = store
        .resolve_duplicate(grace.id, Resolution::Different, &admin_audit())
        .await
        .unwrap()
    else {
        panic!("the flag is cleared");
    };
    assert_eq!((person.id, other), (grace.id, ada.id));
    assert_eq!(person.possible_duplicate, None);
    assert_eq!(
        store.ruled_out_duplicates(grace.id).await.unwrap(),
        [ada.id]
    );
    assert_eq!(
        store.ruled_out_duplicates(ada.id).await.unwrap(),
        [grace.id],
        "both ways"
    );
    let Resolved::Cleared { .. } = store
        .resolve_duplicate(alan.id, Resolution::Same, &admin_audit())
        .await
        .unwrap()
    else {
        panic!("the flag is cleared");
    };
    assert!(
        store
            .ruled_out_duplicates(alan.id)
            .await
            .unwrap()
            .is_empty(),
        "the same person is not a pair"
    );
    let entries = store
        .audit_trail(&AuditFilter {
            action: Some(AuditAction::DuplicateResolution),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[1].detail,
        json!({ "resolution": "different", "otherPersonId": ada.id, "similarity": 90.5 })
    );
}
