//! The `face-engine` binary on its own refuses to fail open: it needs a key
//! pair to check signatures against, and listens on loopback only.

use std::process::Command;

fn face_engine() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_face-engine"));
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env(
            "FACE_ENGINE_DATA_DIR",
            std::env::temp_dir().join("face-engine-standalone-test"),
        );
    command
}

#[test]
fn without_a_key_pair_it_does_not_start() {
    let output = face_engine()
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--access-key-id"), "{stderr}");
}

#[test]
fn it_listens_on_loopback_only() {
    let output = face_engine()
        .args(["--listen", "0.0.0.0:0"])
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("only listens on loopback addresses"),
        "{stderr}"
    );
}
