//! An import, measured, as `make bench-import` builds it (optimised, the
//! functions' own binaries beside it): [`PHOTOS`] photos of a folder
//! enrolled by the command line's import (`registry import`), at its
//! default concurrency, each photo's indexing awaited as the command does.
//!
//! The photos are the test photos, each copy with one pixel changed so
//! that every file is a photo of its own (the import skips a photo the
//! registry already holds, by its SHA-256).
//!
//! Prints how long the import took, photos per second, and its outcomes
//! (goal: every photo indexed). Asserts nothing.
//!
//! Needs DATABASE_URL, DATABASE_TLS_CA, the models and the test photos
//! (`make bench-import` sets them).

mod common;

use std::process::ExitCode;
use std::time::Instant;

use common::{BenchError, ScratchStack};
use image::codecs::jpeg::JpegEncoder;
use registry_cli::client::Client;
use registry_cli::import::{self, Options, Outcome};
use tokio_util::sync::CancellationToken;

const PHOTOS: usize = 1_000;

#[tokio::main]
async fn main() -> ExitCode {
    common::exit("registry-local-import", run().await)
}

async fn run() -> Result<(), BenchError> {
    let folder = common::state_dir("registry-local-import-photos")?;
    let outcome = async {
        write_photos(&folder)?;
        let stack = ScratchStack::start("registry-local-import", None, |_, _| {}).await?;
        let result = measure(&stack, &folder).await;
        stack.stop().await?;
        result
    }
    .await;
    std::fs::remove_dir_all(&folder)?;
    outcome
}

/// [`PHOTOS`] files `import-NNNN_person.jpg`, each a test photo with one
/// pixel of its own.
fn write_photos(folder: &std::path::Path) -> Result<(), BenchError> {
    let originals = common::test_photos()?
        .iter()
        .map(|bytes| image::load_from_memory(bytes).map(|photo| photo.to_rgb8()))
        .collect::<Result<Vec<_>, _>>()?;
    for n in 0..PHOTOS {
        let mut photo = originals[n % originals.len()].clone();
        let (x, y) = ((n / originals.len()) as u32 % photo.width(), 0);
        photo.get_pixel_mut(x, y).0 = [(n % 256) as u8, (n / 256) as u8, 255];
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&photo)?;
        std::fs::write(folder.join(format!("import-{n:04}_person.jpg")), jpeg)?;
    }
    Ok(())
}

async fn measure(stack: &ScratchStack, folder: &std::path::Path) -> Result<(), BenchError> {
    let runtime = &stack.runtime;
    let client = Client::new(
        url::Url::parse(&runtime.gateway_url())?,
        common::admin_token(runtime)?,
    )?;
    let options = Options::default();
    let entries = import::scan(folder)?;
    let started = Instant::now();
    let reports = import::import(
        &client,
        entries,
        &options,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    let elapsed = started.elapsed();
    let count = |outcome: Outcome| reports.iter().filter(|r| r.outcome == outcome).count();
    let indexed = count(Outcome::Indexed);
    println!(
        "import: {PHOTOS} photos of a folder through `registry import`, {} at a time, each indexing awaited",
        options.concurrency
    );
    println!(
        "  done in {:.1} s: {:.1} photos/s; {indexed} indexed, {} rejected, {} failed (goal: all {PHOTOS} indexed: {})",
        elapsed.as_secs_f64(),
        reports.len() as f64 / elapsed.as_secs_f64(),
        count(Outcome::Rejected),
        count(Outcome::Failed),
        if indexed == PHOTOS { "met" } else { "MISSED" }
    );
    Ok(())
}
