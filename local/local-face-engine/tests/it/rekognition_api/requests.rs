//! What a request may be: bad input and bad signatures refused, images read
//! from S3 objects.

use super::*;

#[tokio::test]
async fn bad_input_and_bad_signatures_are_rejected() {
    let (_data, engine) = Running::with_people(unreachable_s3()).await;
    let rekognition = &engine.client;

    let garbage = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(b"definitely not a photo".to_vec()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(garbage), "InvalidImageFormatException");

    let bad_external_id = rekognition
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .external_image_id("obama barack/photo.jpg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_external_id), "InvalidParameterException");

    let unknown = rekognition
        .index_faces()
        .collection_id("nobody")
        .image(bytes(photo("obama.jpg")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(unknown), "ResourceNotFoundException");

    let too_large = rekognition
        .detect_faces()
        .image(bytes(vec![0xFF; 5 * 1024 * 1024 + 1]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(too_large), "ImageTooLargeException");

    let bad_threshold = rekognition
        .search_faces_by_image()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .face_match_threshold(101.0)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(bad_threshold), "InvalidParameterException");

    let wrong_secret = client(engine.address, ACCESS_KEY, "not-the-secret");
    let denied = wrong_secret.list_collections().send().await.unwrap_err();
    assert_eq!(error_code(denied), "InvalidSignatureException");
    let wrong_key = client(engine.address, "AKIDSOMEONEELSE", SECRET_KEY);
    let denied = wrong_key.list_collections().send().await.unwrap_err();
    assert_eq!(error_code(denied), "UnrecognizedClientException");

    // A known caller may do only what its policies allow.
    let viewer = client(engine.address, VIEWER_KEY, SECRET_KEY);
    viewer
        .list_faces()
        .collection_id("people")
        .send()
        .await
        .unwrap();
    let denied = viewer
        .index_faces()
        .collection_id("people")
        .image(bytes(photo("obama.jpg")))
        .send()
        .await
        .unwrap_err();
    let message = denied
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(error_code(denied), "AccessDeniedException");
    assert_eq!(
        message,
        "User: arn:aws:iam::123456789012:user/Viewer is not authorized to perform: rekognition:IndexFaces on \
         resource: arn:aws:rekognition:us-east-1:123456789012:collection/people because no identity-based \
         policy allows the rekognition:IndexFaces action"
    );
    engine.stop().await;
}

/// A local S3 (s3s-fs over a temp dir) on 127.0.0.1:0.
async fn start_s3(root: &Path) -> (String, JoinHandle<()>) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder as ConnBuilder;

    let fs = s3s_fs::FileSystem::new(root).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = ConnBuilder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), task)
}

#[tokio::test]
async fn images_are_read_from_s3_objects() {
    let s3_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(s3_root.path().join("photos")).unwrap();
    std::fs::write(
        s3_root.path().join("photos/obama_barack.jpg"),
        photo("obama.jpg"),
    )
    .unwrap();
    std::fs::write(s3_root.path().join("photos/notes.txt"), b"not a photo").unwrap();
    let (endpoint, s3_task) = start_s3(s3_root.path()).await;

    let (_data, engine) = Running::with_people(s3_config(&endpoint)).await;
    let rekognition = &engine.client;

    let object = |key: &str| {
        Image::builder()
            .s3_object(S3Object::builder().bucket("photos").name(key).build())
            .build()
    };
    let indexed = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("obama_barack.jpg"))
        .external_image_id("obama_barack.jpg")
        .max_faces(1)
        .quality_filter(QualityFilter::Auto)
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.face_records().len(), 1, "{indexed:?}");

    let missing = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("nobody.jpg"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(missing), "InvalidS3ObjectException");
    let not_a_photo = rekognition
        .index_faces()
        .collection_id("people")
        .image(object("notes.txt"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(not_a_photo), "InvalidImageFormatException");
    engine.stop().await;
    s3_task.abort();
}
