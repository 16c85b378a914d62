//! The audit trail: every change with its caller and no name, filtered
//! and paged.

use super::*;

pub async fn the_trail_filters_and_pages<S: PersonStore + AuditTrail>(store: &S) {
    let ada = enrol(store, "Lovelace", "Ada").await;
    let viewer = AuditContext {
        actor: registry::audit::Actor {
            subject: Some("viewer-subject".into()),
            username: Some("vic".into()),
            email: Some("vic@example.org".into()),
            groups: vec!["viewers".into()],
        },
        request_id: "req-2".into(),
    };
    store
        .append(
            &[
                (
                    AuditAction::Search,
                    Some(ada.id),
                    json!({ "similarity": 99.0 }),
                ),
                (AuditAction::Search, None, json!({ "matched": 0 })),
            ],
            &viewer,
        )
        .await
        .unwrap();
    let all = store
        .audit_trail(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].person_id, None);
    assert_eq!(all[0].actor, viewer.actor);
    assert_eq!(all[0].request_id, "req-2");
    let by_viewer = store
        .audit_trail(&AuditFilter {
            subject: Some("viewer-subject".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_viewer.len(), 2);
    let older = store
        .audit_trail(&AuditFilter {
            before_id: Some(all[0].id),
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(older, all[1..2]);
    // All or none: an entry the trail cannot hold leaves none of the others.
    let too_long = AuditContext {
        request_id: "r".repeat(129),
        ..viewer
    };
    let refused = store
        .append(
            &[
                (AuditAction::Search, None, json!({})),
                (AuditAction::Search, None, json!({})),
            ],
            &too_long,
        )
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
    let after = store
        .audit_trail(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 3);
}

pub async fn every_change_is_in_the_audit_trail_with_its_caller_and_no_name<
    S: PersonStore + AuditTrail,
>(
    store: &S,
) {
    let key = "0a.lovelace_ada.jpg";
    let person = store
        .create_pending(&new_person("Lovelace", "Ada", key), &audit())
        .await
        .unwrap();
    let indexer = AuditContext {
        actor: Actor::registry(),
        request_id: "indexer-1".into(),
    };
    store
        .record_indexing(&indexed(key, "01", "face-1"), &indexer)
        .await
        .unwrap();
    store.mark_pending(person.id, &audit()).await.unwrap();
    store
        .record_indexing(&indexed(key, "02", "face-2"), &indexer)
        .await
        .unwrap();
    store
        .rename(person.id, None, Some("Augusta Ada"), &audit())
        .await
        .unwrap();
    // Someone else's change is not this person's.
    store
        .create_pending(
            &new_person("Babbage", "Charles", "0b.babbage_charles.jpg"),
            &audit(),
        )
        .await
        .unwrap();

    let trail = async |filter: AuditFilter| store.audit_trail(&filter).await.expect("the trail");
    let mine = trail(AuditFilter {
        person_id: Some(person.id),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    let actions: Vec<AuditAction> = mine.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Rename,
            AuditAction::Indexing,
            AuditAction::PhotoReplacement,
            AuditAction::Indexing,
            AuditAction::Enrolment,
        ],
        "newest first"
    );
    assert_eq!(mine[0].actor, audit().actor);
    assert_eq!(mine[0].request_id, "req-1");
    assert_eq!(mine[0].detail, serde_json::json!({"fields": ["firstname"]}));
    assert_eq!(mine[1].actor, Actor::registry());
    assert_eq!(mine[1].detail["faceId"], "face-2");
    assert_eq!(mine[1].detail["retiredFaceId"], "face-1");
    for entry in &mine {
        let text = entry.detail.to_string();
        for name in ["Lovelace", "Ada", "lovelace"] {
            assert!(!text.contains(name), "{text}");
        }
    }
    // Filters and the keyset cursor.
    let renames = trail(AuditFilter {
        action: Some(AuditAction::Rename),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(renames.len(), 1);
    let by_registry = trail(AuditFilter {
        subject: Some(crate::ADMIN_SUBJECT.into()),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(
        by_registry.len(),
        4,
        "the admin's four changes, not the indexer's"
    );
    let older = trail(AuditFilter {
        person_id: Some(person.id),
        before_id: Some(mine[1].id),
        limit: 10,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(older, mine[2..].to_vec());
}
