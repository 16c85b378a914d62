//! Files holding local secrets: created once, readable by their owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what}: {reason}; delete it to have a new one generated")]
    Invalid {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("could not generate a new {0}")]
    Generation(&'static str),
}

impl SecretFileError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads `path`, or writes what `create` makes there first (mode 600,
/// created exclusively so that two processes starting at once agree on one).
pub(crate) fn read_or_create(
    path: &Path,
    create: impl FnOnce() -> Result<Vec<u8>, SecretFileError>,
) -> Result<Vec<u8>, SecretFileError> {
    match std::fs::read(path) {
        Ok(bytes) => return Ok(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(SecretFileError::io(path, error)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SecretFileError::io(parent, e))?;
    }
    let contents = create()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&contents)
                .and_then(|()| file.sync_all())
                .map_err(|e| SecretFileError::io(path, e))?;
            tracing::info!(path = %path.display(), "generated a local secret file");
            Ok(contents)
        }
        // Another process won the race: use its file.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(path).map_err(|e| SecretFileError::io(path, e))
        }
        Err(error) => Err(SecretFileError::io(path, error)),
    }
}

/// Writes `contents` to `path` (mode 600), replacing what was there.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), SecretFileError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SecretFileError::io(parent, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| SecretFileError::io(path, e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| SecretFileError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/secret");
        let first = read_or_create(&path, || Ok(b"one".to_vec())).unwrap();
        let second = read_or_create(&path, || Ok(b"two".to_vec())).unwrap();
        assert_eq!(first, b"one");
        assert_eq!(second, b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
