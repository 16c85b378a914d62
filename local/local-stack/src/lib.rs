//! `template.yaml` read as CloudFormation and SAM read it, for a stack that
//! runs on one machine.
//!
//! [`LocalStack::load`] parses the template, takes the parameters (defaults
//! and overrides, checked as CloudFormation checks them, rules included),
//! gives every resource the values `Ref` and `Fn::GetAtt` have for it here
//! (names and ARNs in a local account; the database endpoint is the local
//! server's, the HTTP API's endpoint the local gateway's), and resolves what
//! the local runtime needs: each function's environment, timeout, policies,
//! routes and asynchronous invocation settings; the buckets with their
//! policies, keys, CORS rules and notifications; keys and their policies;
//! secrets; VPC endpoints and their policies; custom resources; the
//! optional load balancer's listeners, rules and Lambda target groups.
//!
//! Anything the template uses that cannot stand locally is an error that
//! names it, never a silent guess.

pub mod elb;
mod intrinsics;
mod model;
mod yaml;

pub use intrinsics::{Resolver, ResourceValues, deferred_attribute, replace_deferred};
pub use model::*;
pub use yaml::parse_template;

/// Why a template cannot be run locally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    #[error("the template cannot be read: {0}")]
    Read(String),
    #[error("the template is not valid YAML: {0}")]
    Yaml(String),
    #[error("the template is invalid: {0}")]
    Invalid(String),
    #[error("parameter {name}: {reason}")]
    Parameter { name: String, reason: String },
    #[error("rule {rule} fails: {description}")]
    Rule { rule: String, description: String },
    #[error("{0} is not supported by the local runtime")]
    Unsupported(String),
    #[error("{resource}: {reason}")]
    Resource { resource: String, reason: String },
}
