//! Prints how long the face engine takes: detection + embedding per photo
//! with each detector, and a face search over 1,000 to 1,000,000 faces,
//! with the memory each face takes (`face-engine-bench search`: that alone).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use local_face_engine::similarity::DEFAULT_MATCH_THRESHOLD;
use local_face_engine::store::{CollectionMeta, CollectionStore, EMBEDDING_LEN, NewFace};
use local_face_engine::synthetic::SyntheticFaces;
use local_face_engine::vision::{FaceModels, Scan};
use uuid::Uuid;

const IMAGES: [&str; 4] = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"];
const RUNS: usize = 11;

fn local_dir(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.local")
            .join(name)
    })
}

/// A folder under the system temp dir, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("face-engine-bench-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Python face_recognition's figures on the same photos, when `make
/// bench` measured them (`scripts/face_recognition_baseline.py`).
fn python_baseline() -> Result<Option<serde_json::Value>, Box<dyn std::error::Error>> {
    let Some(path) = std::env::var_os("FACE_ENGINE_PYTHON_BASELINE") else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(&std::fs::read(path)?)?))
}

/// The engine's share of Python's time, for the same photo.
fn ratio(engine_ms: f64, python_ms: Option<f64>) -> String {
    python_ms.map_or_else(|| "-".to_owned(), |p| format!("{:.2}x", engine_ms / p))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `face-engine-bench search`: the search figures alone (no models needed).
    if std::env::args().nth(1).as_deref() == Some("search") {
        return search_figures();
    }
    let models_dir = local_dir("FACE_ENGINE_MODELS_DIR", "models");
    let images_dir = local_dir("FACE_ENGINE_TEST_IMAGES", "test-images");
    let models = FaceModels::load(&models_dir, true)?;
    let python = python_baseline()?;

    println!("face-engine: detection + landmarks + embedding per photo (median of {RUNS})");
    println!(
        "{:<12} {:>11} {:>6} {:>10} {:>10} {:>12} {:>12} {:>11} {:>11}",
        "image",
        "size",
        "faces",
        "hog ms",
        "cnn ms",
        "python ms",
        "python up1",
        "hog/python",
        "hog/up1"
    );
    for name in IMAGES {
        let image = image::open(images_dir.join(name))?.to_rgb8();
        let mut row = Vec::new();
        let mut faces = 0;
        for scan in [Scan::Hog, Scan::Cnn { max_side: 640 }] {
            let samples: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    let analysis = models.analyze(&image, scan, |faces| (0..faces.len()).collect());
                    faces = analysis.embeddings.len();
                    start.elapsed()
                })
                .collect();
            row.push(millis(median(samples)));
        }
        let python_ms = |field: &str| python.as_ref().and_then(|p| p[name][field].as_f64());
        let (python0, python1) = (python_ms("upsample0Ms"), python_ms("upsample1Ms"));
        let shown = |ms: Option<f64>| ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}"));
        println!(
            "{:<12} {:>11} {:>6} {:>10.1} {:>10.1} {:>12} {:>12} {:>11} {:>11}",
            name,
            format!("{}x{}", image.width(), image.height()),
            faces,
            row[0],
            row[1],
            shown(python0),
            shown(python1),
            ratio(row[0], python0),
            ratio(row[0], python1),
        );
    }
    println!(
        "(the CNN detector scans a copy scaled to 640 px on its longest side; HOG the photo scaled so that \
         Rekognition's smallest face, 40 px up to 1920 x 1080 and proportionally more above, fills its 80 px window)"
    );
    if python.is_some() {
        println!(
            "goal: HOG at most 0.5x Python face_recognition 1.3.0 (dlib-bin) with its default of one upsampling \
             (`hog/up1`), which finds the same small faces; `python ms` is without upsampling"
        );
    } else {
        println!("(no Python baseline: `make bench-face-engine` measures it)");
    }

    println!();
    search_figures()
}

const COLLECTION_SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const SEARCHES: usize = 50;
/// Faces added per call while a collection is filled.
const ADD_BATCH: usize = 10_000;

/// SearchFacesByImage's scan over collections of synthetic faces: the
/// coded search against the exhaustive one, and the memory a face takes.
fn search_figures() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "face-engine: SearchFacesByImage's search (threshold {DEFAULT_MATCH_THRESHOLD}, up to 4096 matches), \
         synthetic faces spread as dlib's, {SEARCHES} searches"
    );
    println!(
        "{:>10} {:>10} {:>10} {:>15} {:>10} {:>13} {:>8}",
        "faces", "median ms", "p95 ms", "exhaustive ms", "same", "bytes a face", "matches"
    );
    for size in COLLECTION_SIZES {
        let dir = ScratchDir::new()?;
        let store = CollectionStore::open(&dir.0)?;
        let collection = store.create(CollectionMeta {
            collection_id: "bench".to_owned(),
            created_at: 0.0,
            face_model_version: local_face_engine::FACE_MODEL_VERSION.to_owned(),
        })?;
        let mut synthetic = SyntheticFaces::new(size as u64);
        let resident_before = resident_bytes()?;
        let load = Instant::now();
        let mut kept = Vec::new();
        for start in (0..size).step_by(ADD_BATCH) {
            let batch: Vec<NewFace> = (start..size.min(start + ADD_BATCH))
                .map(|_| {
                    let key = format!("{:032x}.martin_anna.jpg", Uuid::new_v4().as_u128());
                    synthetic.enrolled(Uuid::new_v4(), Some(key))
                })
                .collect();
            kept.push(batch[batch.len() / 2].embedding);
            collection.add_faces(&batch)?;
        }
        let loaded_in = load.elapsed();
        let per_face = resident_bytes()?.saturating_sub(resident_before) / size as u64;
        // Half the searches are another photo of someone enrolled, half a stranger.
        let queries: Vec<[f32; EMBEDDING_LEN]> = (0..SEARCHES)
            .map(|n| match n % 2 {
                0 => synthetic.another_photo_of(&kept[n % kept.len()], 0.35),
                _ => synthetic.person(),
            })
            .collect();
        let mut coded = Vec::new();
        let mut exhaustive = Vec::new();
        let mut same = 0;
        let mut matches = 0;
        for query in &queries {
            let start = Instant::now();
            let found = collection.search(query, DEFAULT_MATCH_THRESHOLD, 4096, None);
            coded.push(start.elapsed());
            let start = Instant::now();
            let expected = collection.search_exhaustive(query, DEFAULT_MATCH_THRESHOLD, 4096, None);
            exhaustive.push(start.elapsed());
            same += usize::from(found == expected);
            matches += found.len();
        }
        coded.sort();
        let p95 = coded[coded.len() * 95 / 100];
        println!(
            "{:>10} {:>10.3} {:>10.3} {:>15.3} {:>10} {:>13} {:>8}",
            size,
            millis(median(coded)),
            millis(p95),
            millis(median(exhaustive)),
            format!("{same}/{SEARCHES}"),
            per_face,
            matches
        );
        drop(store);
        let reopen = Instant::now();
        let reopened = CollectionStore::open(&dir.0)?;
        let count = reopened.get("bench")?.face_count();
        println!(
            "{:>10} faces: appended in {:.0} ms, reloaded from the log in {:.0} ms",
            count,
            millis(loaded_in),
            millis(reopen.elapsed())
        );
    }
    println!(
        "goal: at most 25 ms a search at 1,000,000 faces; `same`: searches whose answer is the exhaustive one"
    );
    println!(
        "(a face is its float32 embedding, 512 bytes, its 8-bit code, 128, its record and its place in the FaceId order)"
    );
    Ok(())
}

/// This process's resident memory (`VmRSS`).
fn resident_bytes() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kilobytes * 1024)
}
