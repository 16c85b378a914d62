//! The HTTP API's routes and authorizer tokens, and the stack's user pool.

use local_iam::Access;
use local_stack::LocalStack;
use local_user_pool::{PoolSpec, TokenAuthority, UserPool};

use crate::api_gateway::Route;
use crate::secrets::{SecretFileError, read_or_create};
use crate::urls::LocalUrls;

use super::*;

/// The HTTP API's routes, with their authorizers.
pub fn api_routes(stack: &LocalStack) -> Vec<Route> {
    stack
        .functions
        .iter()
        .flat_map(|function| {
            function.routes.iter().map(move |route| Route {
                method: route.method.clone(),
                path: route.path.clone(),
                function: function.logical_id.clone(),
                authorizer: route.authorizer.as_ref().and_then(|name| {
                    stack
                        .http_apis
                        .iter()
                        .find(|api| api.logical_id == route.api)
                        .and_then(|api| api.authorizers.get(name))
                        .cloned()
                }),
            })
        })
        .collect()
}

/// The user pool's signing key, generated on first use.
pub(super) fn signing_key(state: &StatePaths) -> Result<Vec<u8>, StartError> {
    Ok(read_or_create(&state.signing_key(), || {
        TokenAuthority::generate_key().map_err(|_| SecretFileError::Generation("signing key"))
    })?)
}

/// The stack's user pool (the local runtime runs one at most).
pub(super) fn user_pool(
    state: &StatePaths,
    stack: &LocalStack,
    local_urls: &LocalUrls,
    access: Access,
) -> Result<Option<UserPool>, StartError> {
    let pool = match stack.user_pools.as_slice() {
        [] => return Ok(None),
        [pool] => pool,
        [_, more @ ..] => {
            return Err(StartError::Resource {
                what: format!("{} more user pools", more.len()),
                reason: "the local runtime runs one user pool per stack".into(),
            });
        }
    };
    let mut clients = std::collections::BTreeMap::new();
    for client in &pool.clients {
        // Its callback URLs name the local load balancer where they name the ALB.
        let mut properties = serde_json::Value::Object(client.properties.clone());
        local_urls.localize(&mut properties);
        let settings: local_user_pool::ClientSettings = serde_json::from_value(properties)
            .map_err(|e| StartError::Resource {
                what: client.logical_id.clone(),
                reason: e.to_string(),
            })?;
        clients.insert(client.id.clone(), settings);
    }
    let spec = PoolSpec {
        id: pool.id.clone(),
        arn: pool.arn.clone(),
        issuer: pool.issuer.clone(),
        region: stack.region.clone(),
        groups: pool.groups.clone(),
        password_policy: local_user_pool::PasswordPolicy::of_pool(&pool.properties),
        clients,
    };
    let key = signing_key(state)?;
    UserPool::open(spec, &state.users(&pool.id), &key, access)
        .map(Some)
        .map_err(|e| StartError::Resource {
            what: format!("user pool {}", pool.logical_id),
            reason: e.to_string(),
        })
}

/// The users of the stack's user pool, for the command line.
pub fn users(state: &StatePaths, stack: &LocalStack) -> Result<local_user_pool::Users, StartError> {
    let pool = stack
        .user_pools
        .first()
        .ok_or_else(|| StartError::Resource {
            what: "the stack".into(),
            reason: "has no user pool".into(),
        })?;
    local_user_pool::Users::open(
        &state.users(&pool.id),
        pool.groups.clone(),
        local_user_pool::PasswordPolicy::of_pool(&pool.properties),
    )
    .map_err(|e| StartError::Resource {
        what: format!("user pool {}", pool.logical_id),
        reason: e.to_string(),
    })
}

/// The user pool's tokens as the API's JWT authorizer accepts them (its
/// issuer and audience), for scripts and the gateway.
pub fn token_authority(
    state: &StatePaths,
    stack: &LocalStack,
) -> Result<TokenAuthority, StartError> {
    let authority = TokenAuthority::from_pem(&signing_key(state)?)?;
    let authorizer = stack.http_apis.iter().find_map(|api| {
        api.default_authorizer
            .as_ref()
            .and_then(|name| api.authorizers.get(name))
    });
    Ok(match authorizer {
        Some(jwt) => {
            authority.for_authorizer(&jwt.issuer, jwt.audience.first().map_or("", String::as_str))
        }
        None => authority,
    })
}
