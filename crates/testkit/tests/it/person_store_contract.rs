//! One contract, two stores: the MySQL store on a fresh database, and the
//! in-memory store the domain's tests use.

mod mysql {
    use registry_adapters::mysql::MysqlPersonStore;
    use registry_testkit::TestDatabase;

    registry_testkit::person_store_contract!(async {
        let database = TestDatabase::create().await.expect("a test database");
        let store = MysqlPersonStore::new(database.pool().clone());
        (database, store)
    });
}

mod in_memory {
    use registry_testkit::InMemoryPersonStore;

    registry_testkit::person_store_contract!(async { ((), InMemoryPersonStore::new()) });
}
