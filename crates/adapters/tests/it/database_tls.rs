//! The functions verify the database server's certificate: the local
//! MariaDB of `make database` (its CA in `DATABASE_TLS_CA`) is accepted with
//! its own CA, and refused with the RDS bundle or any other CA.

use std::str::FromStr;

use registry_adapters::DatabaseCa;
use registry_adapters::database::verified_tls;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};

fn server() -> MySqlConnectOptions {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL: run `make database`, then `set -a; . .local/database.env; set +a`");
    MySqlConnectOptions::from_str(&url).expect("DATABASE_URL is a MySQL URL")
}

fn server_ca() -> std::path::PathBuf {
    std::env::var_os("DATABASE_TLS_CA")
        .map(Into::into)
        .expect("DATABASE_TLS_CA: the CA of the server's certificate (written by `make database`)")
}

async fn connect(ca: &DatabaseCa) -> Result<(), sqlx::Error> {
    let options = verified_tls(server(), ca).expect("the CA is readable");
    options.connect().await?.close().await
}

/// Refused at the TLS handshake for the certificate, not at login.
fn assert_refused_certificate(error: &sqlx::Error) {
    assert!(
        error
            .to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
}

#[tokio::test]
async fn the_servers_own_ca_is_accepted() {
    connect(&DatabaseCa::File(server_ca()))
        .await
        .expect("a verified TLS connection");
}

#[tokio::test]
async fn the_rds_bundle_does_not_vouch_for_the_local_server() {
    let refused = connect(&DatabaseCa::Rds).await.expect_err("refused");
    assert_refused_certificate(&refused);
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let key = rcgen::KeyPair::generate().expect("a key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("parameters");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = params.self_signed(&key).expect("another CA");
    let dir = tempfile::tempdir().expect("a folder");
    let path = dir.path().join("other-ca.pem");
    std::fs::write(&path, other_ca.pem()).expect("written");

    let refused = connect(&DatabaseCa::File(path)).await.expect_err("refused");
    assert_refused_certificate(&refused);
}
