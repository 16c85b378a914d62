//! A function for this crate's tests: a real Runtime API client (the
//! `lambda_runtime` crate the registry's functions run on) whose event says
//! what to do: answer, fail, take memory, sleep or exit. `FIXTURE_INIT`
//! makes its init exit or take memory.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    match std::env::var("FIXTURE_INIT").as_deref() {
        Ok("exit") => std::process::exit(3),
        Ok("allocate") => std::mem::forget(touched(256)),
        _ => {}
    }
    println!("init done");
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let held = payload["allocate_mib"].as_u64().map(touched);
    if let Some(ms) = payload["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(message) = payload["fail"].as_str() {
        return Err(message.into());
    }
    if let Some(code) = payload["exit"].as_i64() {
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    eprintln!("handled {}", context.request_id);
    drop(held);
    Ok(json!({
        "echo": payload,
        "request_id": context.request_id,
        "memory": std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default(),
    }))
}

/// `mib` MiB, every page written (resident).
fn touched(mib: u64) -> Vec<u8> {
    std::hint::black_box(vec![1u8; usize::try_from(mib << 20).unwrap_or(usize::MAX)])
}
