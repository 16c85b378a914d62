//! Where a function's requests go, as its VPC places them.
//!
//! A function in private subnets without NAT reaches an AWS service only
//! through a VPC endpoint: a gateway endpoint (S3) whose route table the
//! subnets use, or an interface endpoint with private DNS. Its requests to
//! S3 pass the gateway endpoint and its policy: the HTTP client of such a
//! function names the endpoint in the [`NETWORK_HEADER`] header, which the
//! local S3 store reads. A request to a service the function has no route
//! to fails as a connection would.

use std::collections::BTreeMap;
use std::fmt;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
pub use local_s3_store::NETWORK_HEADER;

/// What a function's requests to one local endpoint (`host:port`) meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight to the service (no VPC, or an interface endpoint).
    Direct,
    /// Through this gateway endpoint.
    GatewayEndpoint(String),
    /// Nowhere: no endpoint for this service in the function's VPC.
    NoRoute { service: String },
}

/// A function's routes, by the local endpoint's `host:port`.
#[derive(Debug, Clone, Default)]
pub struct Routes(pub BTreeMap<String, Route>);

impl Routes {
    pub(crate) fn route(&self, authority: &str) -> &Route {
        self.0.get(authority).unwrap_or(&Route::Direct)
    }

    /// The gateway endpoint requests to `authority` pass, if any.
    pub fn endpoint_for(&self, authority: &str) -> Option<&str> {
        match self.route(authority) {
            Route::GatewayEndpoint(id) => Some(id),
            _ => None,
        }
    }
}

/// The SDK's HTTP client, with the function's routes applied.
#[derive(Clone)]
pub struct RoutedHttpClient {
    inner: SharedHttpClient,
    routes: Routes,
}

impl fmt::Debug for RoutedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutedHttpClient")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl RoutedHttpClient {
    /// `inner`, with `routes` applied, as the SDK takes an HTTP client.
    pub fn shared(inner: SharedHttpClient, routes: Routes) -> SharedHttpClient {
        SharedHttpClient::new(Self { inner, routes })
    }
}

impl HttpClient for RoutedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RoutedConnector {
            inner: self.inner.http_connector(settings, components),
            routes: self.routes.clone(),
        })
    }
}

#[derive(Debug)]
struct RoutedConnector {
    inner: SharedHttpConnector,
    routes: Routes,
}

impl HttpConnector for RoutedConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let authority = request
            .uri()
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.authority().map(ToString::to_string))
            .unwrap_or_default();
        match self.routes.route(&authority) {
            Route::Direct => {}
            Route::GatewayEndpoint(endpoint) => {
                request
                    .headers_mut()
                    .insert(NETWORK_HEADER, endpoint.clone());
            }
            Route::NoRoute { service } => {
                let message = format!(
                    "no route to {service}: the function's subnets have no VPC endpoint for it and no NAT"
                );
                return HttpConnectorFuture::ready(Err(ConnectorError::io(message.into())));
            }
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_default_to_direct() {
        let routes = Routes(BTreeMap::from([
            (
                "127.0.0.1:3001".to_owned(),
                Route::GatewayEndpoint("vpce-1".to_owned()),
            ),
            (
                "127.0.0.1:3004".to_owned(),
                Route::NoRoute {
                    service: "sqs".to_owned(),
                },
            ),
        ]));
        assert_eq!(routes.endpoint_for("127.0.0.1:3001"), Some("vpce-1"));
        assert_eq!(routes.endpoint_for("127.0.0.1:3002"), None);
        assert_eq!(
            routes.route("127.0.0.1:3004"),
            &Route::NoRoute {
                service: "sqs".to_owned()
            }
        );
    }
}
