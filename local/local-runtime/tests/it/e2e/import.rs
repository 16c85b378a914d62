//! The command line's import of a folder: interrupted, resumed, nobody
//! enrolled twice, and no file counted as a person of another name.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_folder_is_imported_interrupted_and_resumed_without_enrolling_anyone_twice() {
    use registry_cli::client::Client;
    use registry_cli::import::{self, FileReport, Options, Outcome};
    use tokio_util::sync::CancellationToken;

    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let dir = tempfile::tempdir().expect("a folder");
    let root = dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let obama = test_image("obama.jpg");
    let biden = test_image("biden.jpg");
    let smaller = image::load_from_memory(&obama).unwrap();
    let smaller = smaller.resize(
        smaller.width() / 2,
        smaller.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    // A folder of one person: the larger face is the best; the photo
    // carries metadata, so the registry stores it rewritten.
    write("Obama Barack/a.jpg", &encode_jpeg(&smaller));
    let revealing = registry_testkit::jpeg_with_revealing_metadata(&obama, 1);
    write("Obama Barack/b.jpg", &revealing);
    write("biden_joe.jpg", &biden);
    write("blank_wall.jpg", &no_face());
    write("copy_joe.jpg", &biden);
    write("notes.txt", b"not a photo");
    write("obama-again_barack.jpg", &test_image("obama2.jpg"));
    write("two_people.jpg", &two_faces());
    write("unnamed.jpg", &biden);

    let client = Client::new(url::Url::parse(&harness.url("/")).unwrap(), admin.clone()).unwrap();
    let options = Options {
        concurrency: 1,
        wait: INDEXING_WITHIN,
        ..Options::default()
    };
    let outcomes = |reports: &[FileReport]| -> Vec<(String, Outcome, bool)> {
        reports
            .iter()
            .map(|r| {
                let name = std::path::Path::new(&r.path).file_name().unwrap();
                (name.to_string_lossy().into_owned(), r.outcome, r.already_in)
            })
            .collect()
    };

    // Interrupted (as by Ctrl-C) once three are done: the rest do not start.
    let stop = CancellationToken::new();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let first = import::import(
        &client,
        import::scan(root).unwrap(),
        &options,
        &stop,
        |_| {
            if finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 3 {
                stop.cancel();
            }
        },
    )
    .await;
    use Outcome::{EnrolledAsOther, Indexed, Interrupted, Rejected};
    let names = [
        "Obama Barack",
        "biden_joe.jpg",
        "blank_wall.jpg",
        "copy_joe.jpg",
        "notes.txt",
        "obama-again_barack.jpg",
        "two_people.jpg",
        "unnamed.jpg",
    ];
    let expect = |outcomes: &[(Outcome, bool)]| -> Vec<(String, Outcome, bool)> {
        names
            .iter()
            .zip(outcomes)
            .map(|(n, (o, a))| ((*n).to_owned(), *o, *a))
            .collect()
    };
    assert_eq!(
        outcomes(&first),
        expect(&[
            (Indexed, false),
            (Indexed, false),
            (Rejected, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false),
            (Interrupted, false)
        ]),
        "{first:#?}"
    );
    assert!(
        first[0].photo.as_deref().unwrap().ends_with("b.jpg"),
        "the larger face: {first:#?}"
    );
    assert_eq!(
        first[0].sha256,
        Some(registry::photo::sha256_hex(&revealing))
    );
    assert_eq!(
        first[2].reason.as_deref(),
        Some("No face was found in the photo.")
    );
    let (_, listed) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "{listed}");

    // Resumed: what is in is found by its hash, the rest is imported. The
    // copy of Joe Biden's photo named "copy joe" is his photo, not a new
    // person's, and is said to be.
    let resumed = import::import(
        &client,
        import::scan(root).unwrap(),
        &Options {
            concurrency: 3,
            ..options.clone()
        },
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(
        outcomes(&resumed),
        expect(&[
            (Indexed, true),
            (Indexed, true),
            (Rejected, true),
            (EnrolledAsOther, false),
            (Rejected, false),
            (Indexed, false),
            (Rejected, false),
            (Rejected, false)
        ]),
        "{resumed:#?}"
    );
    let obama_id = first[0].person_id.expect("Obama's id");
    assert_eq!(resumed[0].person_id, Some(obama_id));
    assert_eq!(resumed[3].person_id, None, "nobody under copy_joe's name");
    assert_eq!(
        (
            resumed[3].same_photo_as,
            resumed[3].same_photo_as_name.as_deref()
        ),
        (first[1].person_id, Some("Biden, Joe")),
        "the same bytes: Biden's"
    );
    assert_eq!(resumed[5].possible_duplicate_of, Some(obama_id));
    assert_eq!(
        resumed[6].reason.as_deref(),
        Some("The photo shows several faces; it must show exactly one.")
    );
    assert!(
        resumed[7]
            .reason
            .as_deref()
            .unwrap()
            .contains("lastname_firstname"),
        "{resumed:#?}"
    );
    assert_eq!(
        import::to_json(&resumed)["counts"],
        serde_json::json!({
            "indexed": 3, "rejected": 4, "failed": 0, "interrupted": 0,
            "enrolledAsOther": 1, "alreadyIn": 3, "possibleDuplicates": 1,
        })
    );

    // Once more: nothing is uploaded again.
    let (_, before) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    let again = import::import(
        &client,
        import::scan(root).unwrap(),
        &options,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    let (_, after) = harness.get("/api/faces?limit=100", Some(&admin)).await;
    let people = |listing: &Value| -> Vec<(Value, Value)> {
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].clone(), p["updatedAt"].clone()))
            .collect()
    };
    assert_eq!(people(&before).len(), 5, "{before}");
    assert_eq!(people(&before), people(&after));
    assert!(
        again.iter().all(|r| r.already_in || r.person_id.is_none()),
        "{again:#?}"
    );

    // Asked to, the copy is enrolled under its own name, and the registry
    // flags it as a possible duplicate of Joe Biden.
    let copy = tempfile::tempdir().expect("a folder");
    std::fs::write(copy.path().join("copy_joe.jpg"), &biden).unwrap();
    let enrolled = import::import(
        &client,
        import::scan(copy.path()).unwrap(),
        &Options {
            enrol_same_photo: true,
            ..options.clone()
        },
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(enrolled[0].outcome, Indexed, "{enrolled:#?}");
    assert_ne!(enrolled[0].person_id, first[1].person_id);
    assert_eq!(enrolled[0].possible_duplicate_of, first[1].person_id);
    harness.stop().await;
}
