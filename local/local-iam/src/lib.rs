//! Who is calling the local AWS services and what they may do.
//!
//! - [`KeyRing`]: one key pair per principal (each function's role, the
//!   local CloudFormation), derived from one local root secret.
//! - [`sigv4::verify`]: the caller of a request signed in its
//!   `Authorization` header.
//! - [`Authorizer`]: AWS's policy evaluation for a caller of the resource's
//!   own account: identity policies, resource policies (bucket policies),
//!   VPC endpoint policies and KMS key policies, evaluated with `iam-rs`;
//!   it remembers which grants were used, so that a permission a role is
//!   granted and no call needs can be reported.

mod access;
mod authorize;
mod identity;
pub mod json_api;
mod policy;
pub mod sigv4;

pub use access::{Access, AccessError};
pub use authorize::{
    AccessDenied, AuthorizeError, Authorizer, Call, KeyUse, PolicyKind, Refusal, UnusedGrant,
};
pub use identity::{Identity, KeyRing, Principal};
pub use policy::{Conditions, Policy, PolicyError, StatementInfo, Verdict, action_matches};
