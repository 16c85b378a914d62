//! Prints how long the face engine takes: detection + embedding per photo
//! with each detector, and a face search over 1,000 and 100,000 faces.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use local_face_engine::similarity::DEFAULT_MATCH_THRESHOLD;
use local_face_engine::store::{
    BoundingBox, CollectionMeta, CollectionStore, EMBEDDING_LEN, FaceRecord, NewFace,
};
use local_face_engine::vision::{FaceModels, Scan};
use rand::Rng;
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
    println!(
        "face-engine: SearchFacesByImage scan (threshold {DEFAULT_MATCH_THRESHOLD}, synthetic unit vectors)"
    );
    println!(
        "{:>10} {:>12} {:>12} {:>9}",
        "faces", "median ms", "p95 ms", "matches"
    );
    let mut rng = rand::thread_rng();
    let mut unit_vector = || {
        let mut v: [f32; EMBEDDING_LEN] = std::array::from_fn(|_| rng.gen_range(-1.0..1.0));
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    };
    for size in [1_000usize, 100_000] {
        let dir = ScratchDir::new()?;
        let store = CollectionStore::open(&dir.0)?;
        let collection = store.create(CollectionMeta {
            collection_id: "bench".to_owned(),
            created_at: 0.0,
            face_model_version: local_face_engine::FACE_MODEL_VERSION.to_owned(),
        })?;
        let faces: Vec<NewFace> = (0..size)
            .map(|_| NewFace {
                record: FaceRecord {
                    face_id: Uuid::new_v4(),
                    image_id: Uuid::new_v4(),
                    external_image_id: None,
                    bounding_box: BoundingBox {
                        width: 0.3,
                        height: 0.4,
                        left: 0.35,
                        top: 0.2,
                    },
                    confidence: 99.0,
                },
                embedding: unit_vector(),
            })
            .collect();
        let load = Instant::now();
        for chunk in faces.chunks(10_000) {
            collection.add_faces(chunk)?;
        }
        let loaded_in = load.elapsed();
        // Query near one stored face so the result is not empty.
        let mut query = faces[size / 2].embedding;
        query[0] += 0.05;
        let mut samples = Vec::new();
        let mut matches = 0;
        for _ in 0..50 {
            let start = Instant::now();
            matches = collection
                .search(&query, DEFAULT_MATCH_THRESHOLD, 4096, None)
                .len();
            samples.push(start.elapsed());
        }
        samples.sort();
        let p95 = samples[samples.len() * 95 / 100];
        println!(
            "{:>10} {:>12.3} {:>12.3} {:>9}",
            size,
            millis(median(samples)),
            millis(p95),
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
    Ok(())
}
