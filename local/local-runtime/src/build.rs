//! The build the stack's functions run. A function that runs its own
//! binary has that binary's SHA-256 as what Lambda calls its `CodeSha256`;
//! one whose handler runs in this process, this executable's. A new build publishes a new version of
//! each function with an `AutoPublishAlias`, as `sam deploy` does when a
//! function's built code changes; the same build publishes none. A test
//! may hand the runtime another build (other migrations) to see what
//! deploying new code does.

use std::io::Read;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct FunctionsBuild {
    /// Hex SHA-256 of the code.
    pub code_sha256: String,
    /// The migrations the migrate function embeds.
    pub migrations: &'static registry_adapters::Migrator,
}

impl std::fmt::Debug for FunctionsBuild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionsBuild")
            .field("code_sha256", &self.code_sha256)
            .field("migrations", &self.migrations.iter().count())
            .finish()
    }
}

impl FunctionsBuild {
    /// This executable, hashed once per process.
    pub fn this_executable() -> std::io::Result<Self> {
        static DIGEST: OnceLock<String> = OnceLock::new();
        let code_sha256 = match DIGEST.get() {
            Some(digest) => digest.clone(),
            None => {
                let digest = sha256_of(&std::env::current_exe()?)?;
                DIGEST.get_or_init(|| digest).clone()
            }
        };
        Ok(Self {
            code_sha256,
            migrations: &registry_adapters::MIGRATOR,
        })
    }
}

pub(crate) fn sha256_of(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}
