//! The local access key pair: generated once, shared by the S3 store, the
//! face engine and the SDK clients of the handlers.

use std::fmt;
use std::path::Path;

use rand::Rng;
use rand::distributions::Alphanumeric;

use crate::secrets::{SecretFileError, read_or_create};

const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";

#[derive(Clone)]
pub struct LocalCredentials {
    pub access_key_id: String,
    secret_access_key: String,
}

impl fmt::Debug for LocalCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl LocalCredentials {
    /// Reads the key pair from `path` (a shell-sourceable `KEY=value` file),
    /// generating it on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretFileError> {
        let bytes = read_or_create(path, || Ok(Self::generate().to_env_file().into_bytes()))?;
        Self::parse(path, &bytes)
    }

    fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let suffix: String = (&mut rng)
            .sample_iter(Alphanumeric)
            .map(|c| char::from(c).to_ascii_uppercase())
            .take(12)
            .collect();
        let secret: String = rng
            .sample_iter(Alphanumeric)
            .map(char::from)
            .take(40)
            .collect();
        Self {
            access_key_id: format!("AKLOCAL{suffix}"),
            secret_access_key: secret,
        }
    }

    fn to_env_file(&self) -> String {
        format!(
            "# Local credentials of the S3 store and the face engine; generated once, never sent anywhere.\n\
             {ACCESS_KEY_VAR}={}\n{SECRET_KEY_VAR}={}\n",
            self.access_key_id, self.secret_access_key
        )
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Self, SecretFileError> {
        let invalid = |reason: &str| SecretFileError::Invalid {
            path: path.to_owned(),
            what: "credentials file",
            reason: reason.to_owned(),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
        let mut access = None;
        let mut secret = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| invalid("expected NAME=value lines"))?;
            let value = value.trim();
            let plain = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric());
            match name.trim() {
                ACCESS_KEY_VAR if plain => access = Some(value.to_owned()),
                SECRET_KEY_VAR if plain => secret = Some(value.to_owned()),
                ACCESS_KEY_VAR | SECRET_KEY_VAR => {
                    return Err(invalid("keys must be letters and digits"));
                }
                _ => {}
            }
        }
        Ok(Self {
            access_key_id: access.ok_or_else(|| invalid("AWS_ACCESS_KEY_ID is missing"))?,
            secret_access_key: secret.ok_or_else(|| invalid("AWS_SECRET_ACCESS_KEY is missing"))?,
        })
    }

    /// The secret, for the components that must check or make signatures.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.env");
        let first = LocalCredentials::load_or_create(&path).unwrap();
        let again = LocalCredentials::load_or_create(&path).unwrap();
        assert_eq!(first.access_key_id, again.access_key_id);
        assert_eq!(first.secret_access_key(), again.secret_access_key());
        assert_eq!(first.access_key_id.len(), 19);
        assert_eq!(first.secret_access_key().len(), 40);
        assert!(!format!("{first:?}").contains(first.secret_access_key()));
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws.env");
        std::fs::write(&path, "AWS_ACCESS_KEY_ID=abc\n").unwrap();
        let error = LocalCredentials::load_or_create(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("AWS_SECRET_ACCESS_KEY is missing"),
            "{error}"
        );
    }
}
