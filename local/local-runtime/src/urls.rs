//! The AWS URLs of the stack that are served here, and the local URL of
//! each: a value of the template that names one (a function's variable, a
//! custom resource's property, an app client's callback URL) names the
//! local one instead, so that people and functions reach the local service.

use std::collections::BTreeMap;

use local_stack::LocalStack;
use local_stack::elb::Action;
use serde_json::Value;

/// Where a load balancer sends people back after they sign in.
const IDP_RESPONSE: &str = "/oauth2/idpresponse";

#[derive(Debug, Clone, Default)]
pub struct LocalUrls {
    /// URLs replaced whole: the user pool's domain and its keys.
    exact: BTreeMap<String, String>,
    /// Origins replaced with whatever path follows: the load balancer's.
    origins: BTreeMap<String, String>,
}

impl LocalUrls {
    /// `sign_in` serves the user pool's domain; `load_balancer` the load
    /// balancer's listener (its DNS name, and the names people use for it:
    /// the origins of its clients' `/oauth2/idpresponse` callbacks).
    pub fn of_stack(stack: &LocalStack, sign_in: &str, load_balancer: &str) -> Self {
        let mut urls = Self::default();
        for pool in &stack.user_pools {
            if let Some(domain) = pool.domain_url(&stack.region) {
                urls.exact.insert(domain, sign_in.to_owned());
            }
            urls.exact.insert(
                format!("{}/.well-known/jwks.json", pool.issuer),
                format!("{sign_in}/{}/.well-known/jwks.json", pool.id),
            );
        }
        for balancer in &stack.load_balancers {
            urls.origins.insert(
                format!("https://{}", balancer.dns_name),
                load_balancer.to_owned(),
            );
            let clients = balancer
                .listeners
                .iter()
                .flat_map(|l| {
                    l.rules
                        .iter()
                        .flat_map(|r| &r.actions)
                        .chain(&l.default_actions)
                })
                .filter_map(|action| match action {
                    Action::AuthenticateCognito(config) => Some(config.client_id.as_str()),
                    _ => None,
                });
            for client_id in clients {
                let callbacks = stack
                    .user_pools
                    .iter()
                    .flat_map(|p| &p.clients)
                    .filter(|c| c.id == client_id)
                    .filter_map(|c| c.properties.get("CallbackURLs").and_then(Value::as_array))
                    .flatten()
                    .filter_map(Value::as_str);
                for callback in callbacks {
                    if let Some(origin) = callback.strip_suffix(IDP_RESPONSE) {
                        urls.origins
                            .insert(origin.to_owned(), load_balancer.to_owned());
                    }
                }
            }
        }
        urls
    }

    /// The local URL of `url`, when it is served here.
    pub fn local(&self, url: &str) -> Option<String> {
        if let Some(local) = self.exact.get(url) {
            return Some(local.clone());
        }
        self.origins.iter().find_map(|(origin, local)| {
            let rest = url.strip_prefix(origin.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{local}{rest}"))
        })
    }

    /// Every string in `value` that is a URL served here, made local.
    pub fn localize(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                if let Some(local) = self.local(text) {
                    *text = local;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.localize(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.localize(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_their_paths_and_exact_urls_match_whole() {
        let urls = LocalUrls {
            exact: BTreeMap::from([(
                "https://a.example/keys".into(),
                "http://127.0.0.1:1/keys".into(),
            )]),
            origins: BTreeMap::from([("https://alb.example".into(), "http://127.0.0.1:2".into())]),
        };
        assert_eq!(
            urls.local("https://a.example/keys").as_deref(),
            Some("http://127.0.0.1:1/keys")
        );
        assert_eq!(urls.local("https://a.example/keys/more"), None);
        assert_eq!(
            urls.local("https://alb.example/faces").as_deref(),
            Some("http://127.0.0.1:2/faces")
        );
        assert_eq!(
            urls.local("https://alb.example").as_deref(),
            Some("http://127.0.0.1:2")
        );
        assert_eq!(urls.local("https://alb.example.evil/faces"), None);
    }
}
