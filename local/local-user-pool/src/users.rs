//! The pool's users: kept in one file readable by its owner only, with
//! their passwords hashed (Argon2id), as an administrator creates them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user of the pool. As in a pool whose `UsernameAttributes` is `email`,
/// the username is a generated id and people sign in with their e-mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    pub sub: String,
    pub email: String,
    pub groups: Vec<String>,
    pub status: UserStatus,
    password_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    /// Signs in with the password.
    #[serde(rename = "CONFIRMED")]
    Confirmed,
    /// Created by an administrator with a temporary password, which must be
    /// changed at the first sign-in.
    #[serde(rename = "FORCE_CHANGE_PASSWORD")]
    ForceChangePassword,
}

impl std::fmt::Display for UserStatus {
    /// As Cognito names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UserStatus::Confirmed => "CONFIRMED",
            UserStatus::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a users file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("a user with the e-mail {0} exists already")]
    Exists(String),
    #[error("{0:?} is not an e-mail address")]
    InvalidEmail(String),
    #[error("the pool has no group {0:?}")]
    UnknownGroup(String),
    #[error("no user {0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidPassword(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// What the pool asks of a password (`Policies.PasswordPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub minimum_length: usize,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

impl Default for PasswordPolicy {
    /// Cognito's default policy.
    fn default() -> Self {
        Self {
            minimum_length: 8,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: true,
        }
    }
}

/// Cognito's password symbols.
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";

impl PasswordPolicy {
    /// The policy of a pool's resolved `Properties`.
    pub fn of_pool(properties: &Map<String, Value>) -> Self {
        let Some(policy) = properties
            .get("Policies")
            .and_then(|p| p.get("PasswordPolicy"))
        else {
            return Self::default();
        };
        let flag = |name: &str, default: bool| {
            policy.get(name).map_or(default, |v| {
                v.as_bool().unwrap_or_else(|| v.as_str() == Some("true"))
            })
        };
        let defaults = Self::default();
        Self {
            minimum_length: policy
                .get("MinimumLength")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(defaults.minimum_length),
            require_lowercase: flag("RequireLowercase", defaults.require_lowercase),
            require_uppercase: flag("RequireUppercase", defaults.require_uppercase),
            require_numbers: flag("RequireNumbers", defaults.require_numbers),
            require_symbols: flag("RequireSymbols", defaults.require_symbols),
        }
    }

    /// What `password` lacks, in Cognito's words.
    pub fn check(&self, password: &str) -> Result<(), UserError> {
        let fail = |what: &str| {
            Err(UserError::InvalidPassword(format!(
                "Password does not conform to policy: {what}"
            )))
        };
        if password.chars().count() < self.minimum_length {
            return fail("Password not long enough");
        }
        if self.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
            return fail("Password must have lowercase characters");
        }
        if self.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
            return fail("Password must have uppercase characters");
        }
        if self.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
            return fail("Password must have numeric characters");
        }
        if self.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c)) {
            return fail("Password must have symbol characters");
        }
        Ok(())
    }

    /// A random password this policy accepts (for administrators to hand out).
    pub fn generate(&self) -> String {
        use rand::Rng;
        use rand::seq::SliceRandom;
        const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
        const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        const DIGITS: &[u8] = b"23456789";
        const SYMBOLS: &[u8] = b"!#%+-=_";
        let mut rng = rand::thread_rng();
        let mut pick = |set: &[u8]| char::from(set[rng.gen_range(0..set.len())]);
        let mut chars: Vec<char> = vec![pick(LOWER), pick(UPPER), pick(DIGITS), pick(SYMBOLS)];
        let all: Vec<u8> = [LOWER, UPPER, DIGITS].concat();
        while chars.len() < self.minimum_length.max(20) {
            chars.push(pick(&all));
        }
        chars.shuffle(&mut rand::thread_rng());
        chars.into_iter().collect()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    users: Vec<User>,
    /// When the file was last read or written: `registry-local users add`
    /// writes it while the runtime serves, which then reads it again.
    #[serde(skip)]
    read_at: Option<std::time::SystemTime>,
}

fn read_stored(file: &Path) -> Result<Stored, UserError> {
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
    let mut stored: Stored = match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| UserError::Corrupt {
            path: file.to_owned(),
            source,
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Stored::default(),
        Err(source) => {
            return Err(UserError::Io {
                path: file.to_owned(),
                source,
            });
        }
    };
    stored.read_at = modified;
    Ok(stored)
}

/// The users of one pool.
#[derive(Debug)]
pub struct Users {
    file: PathBuf,
    groups: Vec<String>,
    policy: PasswordPolicy,
    stored: Mutex<Stored>,
}

fn hash(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

impl Users {
    /// Opens the users kept in `file` (created when the first one is added).
    pub fn open(
        file: &Path,
        groups: Vec<String>,
        policy: PasswordPolicy,
    ) -> Result<Self, UserError> {
        let stored = read_stored(file)?;
        Ok(Self {
            file: file.to_owned(),
            groups,
            policy,
            stored: Mutex::new(stored),
        })
    }

    pub fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// The users, read again when another process changed the file.
    fn lock(&self) -> std::sync::MutexGuard<'_, Stored> {
        let mut stored = self
            .stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let modified = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_some() && modified != stored.read_at {
            match read_stored(&self.file) {
                Ok(fresh) => *stored = fresh,
                Err(error) => tracing::warn!(%error, "the users file could not be read again"),
            }
        }
        stored
    }

    pub fn is_empty(&self) -> bool {
        self.lock().users.is_empty()
    }

    pub fn list(&self) -> Vec<User> {
        self.lock().users.clone()
    }

    /// `AdminCreateUser` (with `AdminAddUserToGroup`): a user with a
    /// temporary password to change at the first sign-in, or a permanent one
    /// (`AdminSetUserPassword --permanent`).
    pub fn add(
        &self,
        email: &str,
        groups: &[String],
        password: &str,
        permanent: bool,
    ) -> Result<User, UserError> {
        let email = email.trim().to_lowercase();
        let valid_email = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(char::is_whitespace);
        if !valid_email {
            return Err(UserError::InvalidEmail(email));
        }
        if let Some(unknown) = groups.iter().find(|g| !self.groups.contains(g)) {
            return Err(UserError::UnknownGroup(unknown.clone()));
        }
        self.policy.check(password)?;
        let sub = uuid::Uuid::new_v4().to_string();
        let user = User {
            username: sub.clone(),
            sub,
            email: email.clone(),
            groups: groups.to_vec(),
            status: if permanent {
                UserStatus::Confirmed
            } else {
                UserStatus::ForceChangePassword
            },
            password_hash: hash(password)?,
        };
        {
            let mut stored = self.lock();
            if stored.users.iter().any(|u| u.email == email) {
                return Err(UserError::Exists(email));
            }
            stored.users.push(user.clone());
        }
        self.save()?;
        tracing::info!(user = %user.sub, groups = ?user.groups, "user created");
        Ok(user)
    }

    /// Adds the user named by username or e-mail to `group` (a member
    /// already stays one), as `AdminAddUserToGroup`.
    pub fn add_to_group(&self, username: &str, group: &str) -> Result<User, UserError> {
        if !self.groups.iter().any(|g| g == group) {
            return Err(UserError::UnknownGroup(group.to_owned()));
        }
        let email = username.trim().to_lowercase();
        let user = {
            let mut stored = self.lock();
            let user = stored
                .users
                .iter_mut()
                .find(|u| u.username == username || u.email == email)
                .ok_or_else(|| UserError::NotFound(username.to_owned()))?;
            if !user.groups.iter().any(|g| g == group) {
                user.groups.push(group.to_owned());
            }
            user.clone()
        };
        self.save()?;
        tracing::info!(user = %user.sub, group, "user added to a group");
        Ok(user)
    }

    /// What Cognito would mail `email`, written to the pool's outbox
    /// (`outbox/<email>.txt` beside the users, readable by its owner only).
    pub fn mail(&self, email: &str, message: &str) -> Result<PathBuf, UserError> {
        let folder = self.file.parent().unwrap_or(Path::new(".")).join("outbox");
        let path = folder.join(format!("{email}.txt"));
        let io = |source| UserError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(io)?;
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            file.write_all(message.as_bytes()).map_err(io)?;
        }
        Ok(path)
    }

    /// The user whose e-mail and password these are.
    pub fn authenticate(&self, email: &str, password: &str) -> Option<User> {
        let email = email.trim().to_lowercase();
        let user = self.lock().users.iter().find(|u| u.email == email).cloned();
        // Verify against some hash even for an unknown user, so that the
        // time taken does not tell whether the user exists.
        static UNKNOWN_USER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let stored_hash = user.as_ref().map_or_else(
            || {
                UNKNOWN_USER
                    .get_or_init(|| hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
                    .clone()
            },
            |u| u.password_hash.clone(),
        );
        let matches = PasswordHash::new(&stored_hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        user.filter(|_| matches)
    }

    pub fn get(&self, username: &str) -> Option<User> {
        self.lock()
            .users
            .iter()
            .find(|u| u.username == username)
            .cloned()
    }

    /// Sets a new password the policy accepts; the user is confirmed.
    pub fn set_password(&self, username: &str, password: &str) -> Result<User, UserError> {
        self.policy.check(password)?;
        let password_hash = hash(password)?;
        let user = {
            let mut stored = self.lock();
            let user = stored
                .users
                .iter_mut()
                .find(|u| u.username == username)
                .ok_or_else(|| UserError::NotFound(username.to_owned()))?;
            user.password_hash = password_hash;
            user.status = UserStatus::Confirmed;
            user.clone()
        };
        self.save()?;
        Ok(user)
    }

    /// Writes the file atomically, readable by its owner only.
    fn save(&self) -> Result<(), UserError> {
        let io = |source| UserError::Io {
            path: self.file.clone(),
            source,
        };
        let mut stored = self
            .stored
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes =
            serde_json::to_vec_pretty(&*stored).map_err(|e| io(std::io::Error::other(e)))?;
        let folder = self.file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).map_err(io)?;
        // Written beside it (owner-only, as tempfile makes it), then renamed.
        let mut file = tempfile::NamedTempFile::new_in(folder).map_err(io)?;
        file.write_all(&bytes)
            .and_then(|()| file.as_file().sync_all())
            .map_err(io)?;
        file.persist(&self.file).map_err(|e| io(e.error))?;
        stored.read_at = std::fs::metadata(&self.file)
            .and_then(|m| m.modified())
            .ok();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(dir: &tempfile::TempDir) -> Users {
        let policy = PasswordPolicy {
            minimum_length: 12,
            require_symbols: false,
            ..PasswordPolicy::default()
        };
        Users::open(
            &dir.path().join("users.json"),
            vec!["admins".into(), "viewers".into()],
            policy,
        )
        .unwrap()
    }

    #[test]
    fn users_sign_in_with_their_password_only_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let pool = users(&dir);
        let password = pool.policy().generate();
        let user = pool
            .add("Ada@Example.org", &["admins".into()], &password, true)
            .unwrap();
        assert_eq!(user.email, "ada@example.org");
        assert!(pool.authenticate("ada@example.org", &password).is_some());
        assert!(
            pool.authenticate("ada@example.org", "Wrong-password-1")
                .is_none()
        );
        assert!(pool.authenticate("bob@example.org", &password).is_none());
        let reopened = users(&dir);
        assert_eq!(
            reopened
                .authenticate(" ADA@example.org ", &password)
                .map(|u| u.sub),
            Some(user.sub)
        );
        let text = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
        assert!(!text.contains(&password), "the password is stored hashed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("users.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn users_added_by_another_process_can_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let serving = users(&dir);
        assert!(serving.is_empty());
        let password = serving.policy().generate();
        users(&dir)
            .add("new@example.org", &["viewers".into()], &password, true)
            .unwrap();
        assert!(serving.authenticate("new@example.org", &password).is_some());
    }

    #[test]
    fn bad_users_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pool = users(&dir);
        let password = pool.policy().generate();
        assert!(matches!(
            pool.add("not-an-email", &[], &password, true),
            Err(UserError::InvalidEmail(_))
        ));
        assert!(matches!(
            pool.add("a@b.org", &["root".into()], &password, true),
            Err(UserError::UnknownGroup(_))
        ));
        let short = pool.add("a@b.org", &[], "Short1", true).unwrap_err();
        assert_eq!(
            short.to_string(),
            "Password does not conform to policy: Password not long enough"
        );
        assert!(
            pool.add("a@b.org", &[], "alllowercase-and-long-1", true)
                .is_err()
        );
        pool.add("a@b.org", &[], &password, false).unwrap();
        assert!(matches!(
            pool.add("A@b.org", &[], &password, true),
            Err(UserError::Exists(_))
        ));
    }

    #[test]
    fn a_temporary_password_is_changed_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = users(&dir);
        let temporary = pool.policy().generate();
        let user = pool
            .add("v@example.org", &["viewers".into()], &temporary, false)
            .unwrap();
        assert_eq!(user.status, UserStatus::ForceChangePassword);
        let fresh = pool.policy().generate();
        assert!(pool.set_password(&user.username, "too-short").is_err());
        assert_eq!(
            pool.set_password(&user.username, &fresh).unwrap().status,
            UserStatus::Confirmed
        );
        assert!(pool.authenticate("v@example.org", &temporary).is_none());
        assert!(pool.authenticate("v@example.org", &fresh).is_some());
    }

    #[test]
    fn the_policy_is_read_from_the_template() {
        let properties = serde_json::json!({"Policies": {"PasswordPolicy": {
            "MinimumLength": 12, "RequireSymbols": false, "RequireNumbers": "true"}}});
        let policy = PasswordPolicy::of_pool(properties.as_object().unwrap());
        assert_eq!(policy.minimum_length, 12);
        assert!(!policy.require_symbols);
        assert!(policy.require_numbers && policy.require_lowercase);
        for _ in 0..20 {
            policy.check(&policy.generate()).unwrap();
            PasswordPolicy::default()
                .check(&PasswordPolicy::default().generate())
                .unwrap();
        }
    }
}
