//! Who may call the local services: one key pair per principal (each
//! function's role, the local CloudFormation, an operator), derived from
//! one local root secret so that every service knows every key.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::policy::Policy;

/// A principal with its key pair and the policies of its role.
#[derive(Clone)]
pub struct Identity {
    /// What the logs call it: a function's logical id, `cloudformation`.
    pub name: String,
    /// The ARN its calls are made as (an assumed-role session).
    pub principal_arn: String,
    /// The role behind the session: what resource policies and
    /// `aws:PrincipalArn` name.
    pub role_arn: String,
    pub account: String,
    pub access_key_id: String,
    secret_access_key: String,
    /// Its identity-based policies.
    pub policies: Vec<Policy>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("principal_arn", &self.principal_arn)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The secret half of the key pair, for signing and checking signatures.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The account's root ARN, which key policies name to delegate to IAM.
    pub fn account_root_arn(&self) -> String {
        let partition = self.role_arn.split(':').nth(1).unwrap_or("aws");
        format!("arn:{partition}:iam::{}:root", self.account)
    }
}

/// What a principal is, before it has keys.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub principal_arn: String,
    pub role_arn: String,
    pub account: String,
    pub policies: Vec<Policy>,
}

/// Every principal's key pair, by access key id.
#[derive(Clone)]
pub struct KeyRing {
    root: Arc<[u8]>,
    by_access_key: HashMap<String, Arc<Identity>>,
    by_name: HashMap<String, Arc<Identity>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("principals", &self.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn derive(root: &[u8], label: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(root).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

impl KeyRing {
    /// An empty key ring whose keys derive from `root` (keep it secret).
    pub fn new(root: &[u8]) -> Self {
        Self {
            root: root.into(),
            by_access_key: HashMap::new(),
            by_name: HashMap::new(),
        }
    }

    /// Gives `principal` its key pair (the same for the same root and ARN).
    pub fn add(&mut self, principal: Principal) -> Arc<Identity> {
        const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let access: String = derive(&self.root, &format!("access:{}", principal.principal_arn))
            .iter()
            .take(13)
            .map(|b| BASE32[usize::from(*b) % 32] as char)
            .collect();
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(derive(
            &self.root,
            &format!("secret:{}", principal.principal_arn),
        ));
        let identity = Arc::new(Identity {
            name: principal.name,
            principal_arn: principal.principal_arn,
            role_arn: principal.role_arn,
            account: principal.account,
            access_key_id: format!("ASIALOC{access}"),
            secret_access_key: secret[..40].to_owned(),
            policies: principal.policies,
        });
        self.by_access_key
            .insert(identity.access_key_id.clone(), Arc::clone(&identity));
        self.by_name
            .insert(identity.name.clone(), Arc::clone(&identity));
        identity
    }

    /// Gives `principal` a key pair chosen by the caller (a standalone
    /// service started with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).
    pub fn insert(
        &mut self,
        principal: Principal,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Arc<Identity> {
        let identity = Arc::new(Identity {
            name: principal.name,
            principal_arn: principal.principal_arn,
            role_arn: principal.role_arn,
            account: principal.account,
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            policies: principal.policies,
        });
        self.by_access_key
            .insert(identity.access_key_id.clone(), Arc::clone(&identity));
        self.by_name
            .insert(identity.name.clone(), Arc::clone(&identity));
        identity
    }

    pub fn get(&self, access_key_id: &str) -> Option<Arc<Identity>> {
        self.by_access_key.get(access_key_id).cloned()
    }

    pub fn named(&self, name: &str) -> Option<Arc<Identity>> {
        self.by_name.get(name).cloned()
    }

    pub fn identities(&self) -> impl Iterator<Item = &Arc<Identity>> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Principal {
        Principal {
            name: name.to_owned(),
            principal_arn: format!("arn:aws:sts::123456789012:assumed-role/{name}Role/{name}"),
            role_arn: format!("arn:aws:iam::123456789012:role/{name}Role"),
            account: "123456789012".to_owned(),
            policies: Vec::new(),
        }
    }

    #[test]
    fn keys_are_stable_per_root_and_distinct_per_principal() {
        let mut ring = KeyRing::new(b"root secret");
        let upload = ring.add(principal("Upload"));
        let faces = ring.add(principal("Faces"));
        assert_ne!(upload.access_key_id, faces.access_key_id);
        assert_ne!(upload.secret_access_key(), faces.secret_access_key());
        assert_eq!(upload.access_key_id.len(), 20);
        assert_eq!(upload.secret_access_key().len(), 40);
        let mut again = KeyRing::new(b"root secret");
        assert_eq!(
            again.add(principal("Upload")).access_key_id,
            upload.access_key_id
        );
        let mut other = KeyRing::new(b"another root");
        assert_ne!(
            other.add(principal("Upload")).access_key_id,
            upload.access_key_id
        );
        assert_eq!(ring.get(&faces.access_key_id).unwrap().name, "Faces");
        assert!(!format!("{upload:?}").contains(upload.secret_access_key()));
    }
}
