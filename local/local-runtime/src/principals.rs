//! Who calls the local services: each function as its role (with the
//! policies the template gives it), CloudFormation (which answers custom
//! resources through its own bucket), and the operator (tests and command
//! line tools, who may do anything). Their keys derive from one local root
//! secret, generated once.

use std::path::Path;
use std::sync::Arc;

use local_iam::{Access, Authorizer, KeyRing, Policy, PolicyError, Principal};
use local_stack::LocalStack;
use serde_json::json;

use crate::cloudformation::response_bucket;
use crate::secrets::{SecretFileError, read_or_create};
use crate::targets::S3_SERVICE;

pub const OPERATOR: &str = "operator";
pub const CLOUDFORMATION: &str = "cloudformation";

#[derive(Debug, thiserror::Error)]
pub enum PrincipalError {
    #[error(transparent)]
    Secret(#[from] SecretFileError),
    #[error("the policies of {function}: {source}")]
    Policy {
        function: String,
        #[source]
        source: PolicyError,
    },
}

/// The keys of every principal of `stack`.
pub fn access(
    root_secret: &Path,
    stack: &LocalStack,
    authorizer: Arc<Authorizer>,
) -> Result<Access, PrincipalError> {
    let root = read_or_create(root_secret, || {
        let bytes: [u8; 32] = rand::random();
        Ok(bytes.to_vec())
    })?;
    let mut keys = KeyRing::new(&root);
    let account = &stack.account_id;
    for function in &stack.functions {
        let policies = function
            .policies
            .iter()
            .map(|(name, document)| Policy::parse(name.clone(), document))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| PrincipalError::Policy {
                function: function.logical_id.clone(),
                source,
            })?;
        keys.add(Principal {
            name: function.logical_id.clone(),
            principal_arn: function.session_arn(),
            role_arn: function.role_arn.clone(),
            account: account.clone(),
            policies,
        });
    }
    let fixed = |source: &str, statements: serde_json::Value| {
        Policy::parse(
            source,
            &json!({"Version": "2012-10-17", "Statement": statements}),
        )
        .expect("a valid policy")
    };
    keys.add(Principal {
        name: CLOUDFORMATION.to_owned(),
        principal_arn: format!("arn:aws:sts::{account}:assumed-role/local-cloudformation/cloudformation"),
        role_arn: format!("arn:aws:iam::{account}:role/local-cloudformation"),
        account: account.clone(),
        policies: vec![fixed(
            "local-cloudformation",
            json!([{"Sid": "CustomResourceResponses", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
                    "Resource": [format!("arn:aws:s3:::{}", response_bucket(&stack.region)),
                                 format!("arn:aws:s3:::{}/*", response_bucket(&stack.region))]}]),
        )],
    });
    // S3 sending a bucket's events to a queue: a service principal, with
    // no policies of its own (the queue's and the key's policies decide).
    keys.add(Principal {
        name: S3_SERVICE.to_owned(),
        principal_arn: S3_SERVICE.to_owned(),
        role_arn: S3_SERVICE.to_owned(),
        account: account.clone(),
        policies: Vec::new(),
    });
    keys.add(Principal {
        name: OPERATOR.to_owned(),
        principal_arn: format!("arn:aws:iam::{account}:user/operator"),
        role_arn: format!("arn:aws:iam::{account}:user/operator"),
        account: account.clone(),
        policies: vec![fixed(
            "operator",
            json!([{"Sid": "Everything", "Effect": "Allow", "Action": "*", "Resource": "*"}]),
        )],
    });
    Ok(Access {
        keys: Arc::new(keys),
        authorizer,
    })
}
