//! Listing: pages, filters by status and name prefix, and cursors that
//! walk every row once.

use super::*;

pub async fn listing_pages_and_filters<S: PersonStore + AuditTrail>(store: &S) {
    let mut people = Vec::new();
    for n in 0..7 {
        people.push(enrol(store, &format!("Name{n}"), "Ada").await);
    }
    let newest_first: Vec<PersonId> = people.iter().rev().map(|p| p.id).collect();
    let first = store.list(&page(3)).await.unwrap();
    assert_eq!(ids(&first), newest_first[..3]);
    let second = store
        .list(&ListFilter {
            before_id: Some(first[2].id),
            limit: 3,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&second), newest_first[3..6]);

    store
        .record_indexing(
            &indexed(&people[1].object_key, "01", "face-1"),
            &registry_audit(),
        )
        .await
        .unwrap();
    store
        .record_indexing(
            &rejected(&people[2].object_key, "01", "no face"),
            &registry_audit(),
        )
        .await
        .unwrap();
    let by_status = async |status| {
        store
            .list(&ListFilter {
                status: Some(status),
                limit: 10,
                ..ListFilter::default()
            })
            .await
    };
    assert_eq!(
        ids(&by_status(Status::Indexed).await.unwrap()),
        [people[1].id]
    );
    assert_eq!(
        ids(&by_status(Status::Rejected).await.unwrap()),
        [people[2].id]
    );
    assert_eq!(by_status(Status::Pending).await.unwrap().len(), 5);

    let mut flagged = indexed(&people[3].object_key, "01", "face-3");
    flagged.possible_duplicate = Some(PossibleDuplicate {
        person_id: people[1].id,
        similarity: 97.5,
    });
    store
        .record_indexing(&flagged, &registry_audit())
        .await
        .unwrap();
    let duplicates = store
        .list(&ListFilter {
            possible_duplicates: true,
            limit: 10,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&duplicates), [people[3].id]);
    assert_eq!(duplicates[0].possible_duplicate, flagged.possible_duplicate);

    let faces = [
        "face-1".to_owned(),
        "face-3".to_owned(),
        "face-unknown".to_owned(),
    ];
    let mut found = ids(&store.find_by_identities(&faces).await.unwrap());
    found.sort();
    assert_eq!(found, [people[1].id, people[3].id]);
    assert!(store.find_by_identities(&[]).await.unwrap().is_empty());
}

/// Seeds people with chosen names and statuses; returns their ids in insertion order.
async fn seed<S: PersonStore>(store: &S, people: &[(&str, &str, Status)]) -> Vec<PersonId> {
    static SEEDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut ids = Vec::new();
    for (lastname, firstname, status) in people {
        // Every seeded person has a key of its own.
        let n = SEEDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = format!("person-{n}_{n}.jpg");
        let person = store
            .create_pending(&new_person(lastname, firstname, &key), &audit())
            .await
            .expect("seed");
        match status {
            Status::Pending => {}
            Status::Indexed => {
                store
                    .record_indexing(&indexed(&key, "01", &format!("face-{n}")), &audit())
                    .await
                    .expect("seed indexed");
            }
            Status::Rejected => {
                store
                    .record_indexing(
                        &rejected(&key, "01", "No face was found in the photo."),
                        &audit(),
                    )
                    .await
                    .expect("seed rejected");
            }
        }
        ids.push(person.id);
    }
    ids
}

async fn names<S: PersonStore>(store: &S, filter: ListFilter) -> Vec<String> {
    store
        .list(&filter)
        .await
        .expect("list")
        .into_iter()
        .map(|p| format!("{} {}", p.firstname, p.lastname))
        .collect()
}

fn by_name(q: &str) -> ListFilter {
    ListFilter {
        name_prefix: Some(q.into()),
        limit: 100,
        ..Default::default()
    }
}

/// Walks every page through the listing service, as the API does, from `cursor`.
async fn walk_from<S: PersonStore>(
    store: &S,
    status: Option<&str>,
    limit: u32,
    mut cursor: Option<String>,
) -> Vec<Vec<PersonId>> {
    let mut pages = Vec::new();
    loop {
        let filter = parse_params(&ListParams {
            status: status.map(Into::into),
            duplicates: None,
            q: None,
            sha256: None,
            limit: Some(limit.to_string()),
            cursor: cursor.clone(),
        })
        .expect("parameters");
        let page = list_people(store, &filter).await.expect("page");
        assert!(page.items.len() <= limit as usize);
        pages.push(page.items.iter().map(|p| p.id).collect());
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 1000, "the cursor does not advance");
    }
}

async fn walk<S: PersonStore>(store: &S, status: Option<&str>, limit: u32) -> Vec<Vec<PersonId>> {
    walk_from(store, status, limit, None).await
}

pub async fn listing_filters_by_status_and_by_name_prefix<S: PersonStore + AuditTrail>(store: &S) {
    seed(
        store,
        &[
            ("Obama", "Barack", Status::Indexed),
            ("Obama", "Michelle", Status::Rejected),
            ("Biden", "Joe", Status::Indexed),
            ("García Márquez", "Gabriel", Status::Pending),
            ("Øvergaard", "Ölaf", Status::Indexed),
            ("Barack", "Obadiah", Status::Pending),
            ("50% Off", "Sale", Status::Indexed),
            ("500", "Club", Status::Indexed),
            ("Under_score", "Ann", Status::Indexed),
            ("Underwood", "Frank", Status::Indexed),
            ("Back\\slash", "Bob", Status::Indexed),
            ("Anderson", "Andy", Status::Indexed),
        ],
    )
    .await;

    let indexed_only = ListFilter {
        status: Some(Status::Indexed),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        names(store, indexed_only).await,
        [
            "Andy Anderson",
            "Bob Back\\slash",
            "Frank Underwood",
            "Ann Under_score",
            "Club 500",
            "Sale 50% Off",
            "Ölaf Øvergaard",
            "Joe Biden",
            "Barack Obama"
        ]
    );
    let rejected_only = ListFilter {
        status: Some(Status::Rejected),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(names(store, rejected_only).await, ["Michelle Obama"]);

    // The prefix of either name; newest first.
    assert_eq!(
        names(store, by_name("Oba")).await,
        ["Obadiah Barack", "Michelle Obama", "Barack Obama"]
    );
    assert_eq!(
        names(store, by_name("bar")).await,
        ["Obadiah Barack", "Barack Obama"]
    );
    assert!(
        names(store, by_name("bama")).await.is_empty(),
        "a prefix, not a substring"
    );
    // Case and accents are ignored, both ways.
    assert_eq!(
        names(store, by_name("GARCIA MAR")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(
        names(store, by_name("gárcía")).await,
        ["Gabriel García Márquez"]
    );
    assert_eq!(names(store, by_name("öla")).await, ["Ölaf Øvergaard"]);
    // LIKE metacharacters match themselves.
    assert_eq!(names(store, by_name("50%")).await, ["Sale 50% Off"]);
    assert_eq!(
        names(store, by_name("5")).await,
        ["Club 500", "Sale 50% Off"]
    );
    assert!(names(store, by_name("%")).await.is_empty());
    assert!(names(store, by_name("_")).await.is_empty());
    assert_eq!(names(store, by_name("Under_")).await, ["Ann Under_score"]);
    assert_eq!(names(store, by_name("Back\\")).await, ["Bob Back\\slash"]);

    // A person both of whose names match is there once.
    assert_eq!(names(store, by_name("and")).await, ["Andy Anderson"]);
    // Pages of a name search follow the id order.
    let first_page = store
        .list(&ListFilter {
            limit: 2,
            ..by_name("oba")
        })
        .await
        .expect("list");
    assert_eq!(first_page.len(), 2);
    let next_page = ListFilter {
        limit: 2,
        before_id: Some(first_page[1].id),
        ..by_name("oba")
    };
    assert_eq!(names(store, next_page).await, ["Barack Obama"]);

    // Filters combine.
    let filter = ListFilter {
        status: Some(Status::Indexed),
        name_prefix: Some("obama".into()),
        possible_duplicates: false,
        photo_sha256: None,
        limit: 100,
        before_id: None,
    };
    assert_eq!(names(store, filter).await, ["Barack Obama"]);
}

pub async fn cursors_walk_every_row_once_in_a_fixed_order<S: PersonStore + AuditTrail>(store: &S) {
    let statuses = [Status::Indexed, Status::Pending, Status::Rejected];
    let people: Vec<(String, String, Status)> = (0..57)
        .map(|i| (format!("Last{i}"), format!("First{i}"), statuses[i % 3]))
        .collect();
    let borrowed: Vec<(&str, &str, Status)> = people
        .iter()
        .map(|(l, f, s)| (l.as_str(), f.as_str(), *s))
        .collect();
    let ids = seed(store, &borrowed).await;
    let mut newest_first = ids.clone();
    newest_first.reverse();

    let pages = walk(store, None, 10).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10, 10, 10, 7]
    );
    let walked: Vec<PersonId> = pages.concat();
    assert_eq!(walked, newest_first, "no duplicates, no gaps, newest first");
    assert_eq!(walk(store, None, 10).await, pages, "deterministic");

    // A page size that divides the total: the last full page has no next cursor.
    let exact = walk(store, None, 19).await;
    assert_eq!(exact.iter().map(Vec::len).collect::<Vec<_>>(), [19, 19, 19]);

    let indexed_ids: Vec<PersonId> = newest_first
        .iter()
        .zip(people.iter().rev())
        .filter(|(_, (_, _, status))| *status == Status::Indexed)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(walk(store, Some("indexed"), 4).await.concat(), indexed_ids);

    // A row added while walking appears on no later page, and shifts nothing.
    let filter = parse_params(&ListParams {
        limit: Some("10".into()),
        ..Default::default()
    })
    .expect("parameters");
    let first_page = list_people(store, &filter).await.expect("first page");
    seed(store, &[("Late", "Comer", Status::Pending)]).await;
    let rest = walk_from(store, None, 10, first_page.next_cursor).await;
    let mut walked: Vec<PersonId> = first_page.items.iter().map(|p| p.id).collect();
    walked.extend(rest.concat());
    assert_eq!(walked, newest_first);
}
