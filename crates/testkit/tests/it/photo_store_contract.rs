//! One contract, two buckets: the S3 adapter on the local S3 store (a
//! versioned bucket, through the real SDK client), and the in-memory bucket
//! the domain's tests use.

mod local_s3 {
    use async_trait::async_trait;
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use local_s3_store::{Access, BucketConfig, RunningS3Store, S3Store, S3StoreConfig};
    use registry_adapters::S3PhotoStore;
    use registry_testkit::TEST_BUCKET;
    use registry_testkit::photo_contract::BucketUnderTest;

    const ACCESS_KEY: &str = "AKIDPHOTOCONTRACT";
    const SECRET_KEY: &str = "photo-contract-secret";

    struct LocalS3 {
        photos: S3PhotoStore,
        client: aws_sdk_s3::Client,
    }

    #[async_trait]
    impl BucketUnderTest for LocalS3 {
        type Store = S3PhotoStore;

        fn store(&self) -> &S3PhotoStore {
            &self.photos
        }

        async fn put_object(&self, key: &str, bytes: &[u8]) {
            self.client
                .put_object()
                .bucket(TEST_BUCKET)
                .key(key)
                .body(bytes.to_vec().into())
                .send()
                .await
                .expect("PutObject");
        }

        async fn delete_object(&self, key: &str) {
            self.client
                .delete_object()
                .bucket(TEST_BUCKET)
                .key(key)
                .send()
                .await
                .expect("DeleteObject");
        }
    }

    /// A fresh store with one versioned bucket; the guard keeps it running.
    async fn local_s3() -> ((tempfile::TempDir, RunningS3Store), LocalS3) {
        let dirs = tempfile::tempdir().expect("a folder");
        let access = Access::single_key(ACCESS_KEY, SECRET_KEY, "123456789012").unwrap();
        let mut config =
            S3StoreConfig::new(dirs.path().join("s3"), dirs.path().join("versions"), access);
        let mut bucket = BucketConfig::new(TEST_BUCKET);
        bucket.versioned = true;
        config.buckets = vec![bucket];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let store = S3Store::start(config, listener)
            .await
            .expect("S3 store starts");
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(store.endpoint_url())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "tests",
            )))
            .http_client(registry_adapters::aws::https_client())
            .build();
        let bucket = LocalS3 {
            photos: S3PhotoStore::from_config(&sdk, true, TEST_BUCKET),
            client: S3PhotoStore::client(&sdk, true),
        };
        ((dirs, store), bucket)
    }

    registry_testkit::photo_store_contract!(local_s3());
}

mod in_memory {
    use registry_testkit::InMemoryBucket;

    registry_testkit::photo_store_contract!(async { ((), InMemoryBucket::default()) });
}
