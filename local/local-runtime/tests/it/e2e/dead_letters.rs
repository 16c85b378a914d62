//! Photos whose indexing fails: dead letters, read and replayed through
//! the local runtime and through SQS's API.

use super::*;

/// Enrols obama.jpg with the collection deleted: indexing fails on every
/// attempt, and the event becomes a dead letter. The upload ticket, and the
/// Rekognition client to create the collection again with.
async fn enrol_while_indexing_fails(
    harness: &Harness,
    admin: &str,
) -> (Value, aws_sdk_rekognition::Client) {
    let rekognition = harness.rekognition().await;
    rekognition
        .delete_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("DeleteCollection");
    let ticket = harness
        .enrol(
            admin,
            "Obama",
            "Barack",
            &test_image("obama.jpg"),
            "image/jpeg",
        )
        .await;
    (ticket, rekognition)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_events_become_dead_letters_and_replay() {
    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (ticket, rekognition) = enrol_while_indexing_fails(&harness, &admin).await;
    let started = std::time::Instant::now();
    let letter = loop {
        let (status, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
        assert_eq!(status, 200, "{letters}");
        if let Some(letter) = letters["items"].as_array().and_then(|items| items.first()) {
            break letter.clone();
        }
        assert!(started.elapsed() < INDEXING_WITHIN, "no dead letter yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // IndexQueue's redrive policy: five receives, then the dead letters.
    assert_eq!(letter["receives"], 5, "{letter}");
    assert_eq!(
        letter["objects"],
        serde_json::json!([format!(
            "{}/{}",
            harness.bucket(),
            ticket["key"].as_str().unwrap()
        )])
    );
    let (_, person) = harness
        .get(&format!("/api/faces/{}", ticket["personId"]), Some(&admin))
        .await;
    assert_eq!(person["status"], "pending");

    rekognition
        .create_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("CreateCollection");
    let id = letter["id"].as_str().unwrap();
    let viewer = harness.token("viewers").await;
    let refused = harness
        .http
        .post(harness.url(&format!("/local/dead-letters/{id}/replay")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let replayed = harness
        .http
        .post(harness.url(&format!("/local/dead-letters/{id}/replay")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 202);
    harness
        .wait_for(&admin, &ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed"
        })
        .await;
    let (_, letters) = harness.get("/local/dead-letters", Some(&admin)).await;
    assert_eq!(letters["items"], serde_json::json!([]));

    harness.stop().await;
}

/// `registry dead-letters`, as against a deployed stack: the dead-letter
/// queue read through SQS's API, each message the S3 event as S3 sent it,
/// replayed by sending it back to IndexQueue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_read_and_replayed_through_sqs() {
    use aws_sdk_sqs::error::ProvideErrorMetadata;
    use aws_sdk_sqs::types::MessageSystemAttributeName;
    use registry_cli::dead_letters::DeadLetterQueue;

    let harness = Harness::start().await;
    let admin = harness.token("admins").await;
    let (ticket, rekognition) = enrol_while_indexing_fails(&harness, &admin).await;

    let stack = harness.runtime.stack();
    let indexer = stack.function("IndexerFunction").expect("the indexer");
    let (_, dead_letter_queue) =
        local_runtime::runtime::photo_dead_letter_queue(stack).expect("IndexQueue's dead letters");
    let queue_url = dead_letter_queue.url.clone();
    let sdk = harness.sdk().await;
    let queue = DeadLetterQueue::new(&sdk, &queue_url);
    let started = std::time::Instant::now();
    let letter = loop {
        let letters = queue.list().await.expect("the dead letters");
        if let Some(letter) = letters.first() {
            break letter.clone();
        }
        assert!(started.elapsed() < INDEXING_WITHIN, "no dead letter yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(letter.receives.is_some_and(|n| n > 5), "{letter:?}");
    assert!(letter.sent_at.is_some(), "{letter:?}");
    assert_eq!(
        letter.objects,
        [format!(
            "{}/{}",
            harness.bucket(),
            ticket["key"].as_str().unwrap()
        )]
    );
    assert_eq!(letter.error, None, "{letter:?}");

    // SQS's visibility and receipt handles, through the SDK.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let receive = || {
        sqs.receive_message()
            .queue_url(&queue_url)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
    };
    let first = receive().send().await.expect("ReceiveMessage");
    let [message] = first.messages() else {
        panic!("one message: {first:?}")
    };
    let receives: u32 = message.attributes().unwrap()
        [&MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap();
    assert!(
        receives > 6,
        "received by the indexer and listed before: {receives}"
    );
    let old_receipt = message.receipt_handle().unwrap().to_owned();
    let hidden = receive().send().await.unwrap();
    assert!(hidden.messages().is_empty(), "hidden while in flight");
    sqs.change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect("released");
    let second = receive().send().await.unwrap();
    let new_receipt = second.messages()[0].receipt_handle().unwrap().to_owned();
    assert_ne!(new_receipt, old_receipt);
    // An old receipt deletes nothing (and says nothing), and no longer
    // changes the message's visibility.
    sqs.delete_message()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .send()
        .await
        .expect("DeleteMessage with an old receipt succeeds");
    let stale = sqs
        .change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&old_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect_err("an old receipt");
    assert_eq!(stale.code(), Some("MessageNotInflight"));
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes");
    let attribute = |name: &str| {
        counts
            .attributes()
            .and_then(|a| a.get(&name.into()))
            .cloned()
    };
    assert_eq!(
        (
            attribute("ApproximateNumberOfMessages").as_deref(),
            attribute("ApproximateNumberOfMessagesNotVisible").as_deref()
        ),
        (Some("0"), Some("1"))
    );
    sqs.change_message_visibility()
        .queue_url(&queue_url)
        .receipt_handle(&new_receipt)
        .visibility_timeout(0)
        .send()
        .await
        .expect("released");
    let unknown = sqs
        .receive_message()
        .queue_url(queue_url.replace("-indexer-dlq", "-elsewhere"))
        .send()
        .await
        .expect_err("no such queue");
    assert_eq!(unknown.code(), Some("QueueDoesNotExist"));

    // Once the cause is gone, the replay sends the event back to IndexQueue,
    // the indexer indexes the photo, and the message leaves the queue.
    rekognition
        .create_collection()
        .collection_id(harness.collection())
        .send()
        .await
        .expect("CreateCollection");
    let outcomes = queue
        .replay(Some(&[letter.id.clone(), "no-such-letter".into()]))
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert!(
        outcomes[0].replayed && outcomes[0].error.is_none(),
        "{outcomes:?}"
    );
    assert_eq!(
        (outcomes[1].replayed, outcomes[1].error.as_deref()),
        (false, Some("no such dead letter in the queue"))
    );
    harness
        .wait_for(&admin, &ticket["personId"], INDEXING_WITHIN, |p| {
            p["status"] == "indexed"
        })
        .await;
    assert!(queue.list().await.unwrap().is_empty());

    // The Lambda API answers as Lambda does for what is not there.
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let missing = lambda
        .invoke()
        .function_name("no-such-function")
        .send()
        .await
        .expect_err("no such function");
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
    let version = lambda
        .invoke()
        .function_name(format!("{}:7", indexer.arn))
        .send()
        .await
        .expect_err("only $LATEST exists locally");
    assert_eq!(version.code(), Some("ResourceNotFoundException"));

    // Both authorize by IAM: CloudFormation's principal may do neither.
    let cloudformation = harness
        .runtime
        .access()
        .keys
        .named(local_runtime::principals::CLOUDFORMATION)
        .unwrap();
    let as_cloudformation = sdk
        .to_builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new(
                &cloudformation.access_key_id,
                cloudformation.secret_access_key(),
                None,
                None,
                "test",
            ),
        ))
        .build();
    let refused = aws_sdk_lambda::Client::new(&as_cloudformation)
        .invoke()
        .function_name(&indexer.arn)
        .send()
        .await
        .expect_err("not CloudFormation's to invoke");
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    let refused = aws_sdk_sqs::Client::new(&as_cloudformation)
        .receive_message()
        .queue_url(&queue_url)
        .send()
        .await
        .expect_err("not CloudFormation's to read");
    assert_eq!(refused.code(), Some("AccessDenied"));

    harness.stop().await;
}
