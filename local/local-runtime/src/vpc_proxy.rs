//! The network of a function that runs as its own process: a forward HTTP
//! proxy its AWS SDK and HTTP clients send every request through
//! (`HTTP_PROXY`, which they honour), applying the function's routes as
//! [`RoutedHttpClient`](crate::network::RoutedHttpClient) applies them to
//! the clients of a function run in this process: through its S3 gateway
//! endpoint (named in [`NETWORK_HEADER`]), straight on, or nowhere (the
//! connection closed unanswered, as a connection with no route fails).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::network::{NETWORK_HEADER, Route, Routes};

/// A running proxy; dropping it stops it.
pub struct VpcProxy {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for VpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error("no route to {0}: the function's subnets have no VPC endpoint for it and no NAT")]
    NoRoute(String),
    #[error("not a request for a proxy (no absolute URI)")]
    NotProxied,
    #[error(transparent)]
    Upstream(#[from] hyper_util::client::legacy::Error),
}

impl VpcProxy {
    /// A proxy on a free loopback port for a function with `routes`.
    pub async fn start(routes: Routes) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let routes = Arc::new(routes);
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build_http();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let routes = Arc::clone(&routes);
                let client = client.clone();
                let service = service_fn(move |request| {
                    forward(request, Arc::clone(&routes), client.clone())
                });
                tokio::spawn(async move {
                    // A refused request ends its connection unanswered.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { address, task })
    }

    /// `http://127.0.0.1:<port>`, for `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

async fn forward(
    mut request: Request<Incoming>,
    routes: Arc<Routes>,
    client: Client<HttpConnector, Incoming>,
) -> Result<Response<Incoming>, ProxyError> {
    let authority = request
        .uri()
        .authority()
        .map(ToString::to_string)
        .ok_or(ProxyError::NotProxied)?;
    request.headers_mut().remove("proxy-connection");
    match routes.route(&authority) {
        Route::Direct => {}
        Route::GatewayEndpoint(endpoint) => {
            let value = http::HeaderValue::from_str(endpoint)
                .map_err(|_| ProxyError::NoRoute(authority.clone()))?;
            request.headers_mut().insert(NETWORK_HEADER, value);
        }
        Route::NoRoute { service } => return Err(ProxyError::NoRoute(service.clone())),
    }
    Ok(client.request(request).await?)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A server that answers with the endpoint header it was sent.
    async fn echo() -> String {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address").to_string();
        let app = axum::Router::new().fallback(|headers: http::HeaderMap| async move {
            headers
                .get(NETWORK_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    #[tokio::test]
    async fn requests_pass_the_gateway_endpoint_go_straight_on_or_nowhere() {
        let (s3, sqs, cognito) = (echo().await, echo().await, echo().await);
        let routes = Routes(BTreeMap::from([
            (s3.clone(), Route::GatewayEndpoint("vpce-1".into())),
            (sqs.clone(), Route::Direct),
            (
                cognito.clone(),
                Route::NoRoute {
                    service: "cognito-idp".into(),
                },
            ),
        ]));
        let proxy = VpcProxy::start(routes).await.expect("started");
        let client = reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(proxy.url()).expect("a proxy"))
            .build()
            .expect("a client");
        let get = |authority: &str| client.get(format!("http://{authority}/x")).send();
        assert_eq!(
            get(&s3).await.expect("through").text().await.unwrap(),
            "vpce-1"
        );
        assert_eq!(
            get(&sqs).await.expect("straight").text().await.unwrap(),
            "none"
        );
        assert!(get(&cognito).await.is_err(), "no route: no answer");
    }
}
