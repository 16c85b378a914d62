//! Engine configuration.

use std::fmt;
use std::path::PathBuf;

use local_iam::Access;

/// Which dlib detector finds faces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DetectorKind {
    /// Histogram of oriented gradients: fast, frontal faces.
    #[default]
    Hog,
    /// The MMOD convolutional network: slower, finds turned and small faces too.
    Cnn,
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DetectorKind::Hog => "hog",
            DetectorKind::Cnn => "cnn",
        })
    }
}

/// Everything [`crate::FaceEngine::open`] needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where collections are kept.
    pub data_dir: PathBuf,
    /// Folder holding the dlib model files (`make models`).
    pub models_dir: PathBuf,
    pub detector: DetectorKind,
    /// Longest side of the copy the CNN detector scans.
    pub cnn_max_side: u32,
    /// Who may call, and what they may do: every request is signed with a
    /// key of the ring and authorized as Rekognition authorizes it.
    pub access: Access,
    /// The region requests are signed for, also used in collection ARNs.
    pub region: String,
    /// Account id shown in collection ARNs.
    pub account_id: String,
    /// Model sets loaded, i.e. images analysed at once.
    pub workers: usize,
}

impl EngineConfig {
    /// A configuration with the defaults: HOG, one worker per core (at most
    /// two), region `us-east-1`.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        models_dir: impl Into<PathBuf>,
        access: Access,
    ) -> Self {
        Self {
            data_dir: data_dir.into(),
            models_dir: models_dir.into(),
            detector: DetectorKind::Hog,
            cnn_max_side: 640,
            access,
            region: "us-east-1".to_owned(),
            account_id: "000000000000".to_owned(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        }
    }
}
