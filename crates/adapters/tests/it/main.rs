//! The adapters against what they adapt: the AWS adapters against the local
//! S3 store and face engine, the MySQL person store and its TLS against
//! MariaDB.
//!
//! One test binary for the crate (one link), a module per feature.

mod aws_adapters;
mod database_tls;
mod mysql_person_store;
