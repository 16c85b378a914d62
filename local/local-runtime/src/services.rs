//! The runtime's servers and background tasks (the local AWS services, the
//! gateway, the load balancer, schedules): each runs until the runtime
//! stops, and one that ends with an error is reported when it does.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard, WaitForCancellationFutureOwned};

type Task = (&'static str, JoinHandle<std::io::Result<()>>);

pub(crate) struct Services {
    stop: CancellationToken,
    tasks: Vec<Task>,
}

impl Services {
    pub(crate) fn new() -> Self {
        Self {
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// The signal every service stops on.
    pub(crate) fn stop_signal(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops every service when dropped (a runtime dropped without
    /// `shutdown`).
    pub(crate) fn stop_on_drop(&self) -> DropGuard {
        self.stop.clone().drop_guard()
    }

    /// Runs `serve` (handed the stop signal) as the service `name`.
    pub(crate) fn spawn<F, E>(
        &mut self,
        name: &'static str,
        serve: impl FnOnce(WaitForCancellationFutureOwned) -> F,
    ) where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let served = serve(self.stop.clone().cancelled_owned());
        let task = tokio::spawn(async move { served.await.map_err(std::io::Error::other) });
        self.tasks.push((name, task));
    }

    /// Serves `router` on `listener` (with each caller's address) as `name`.
    pub(crate) fn spawn_router(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        router: axum::Router,
    ) {
        self.spawn(name, |stop| async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await
        });
    }

    /// A task already running, stopped by the same signal.
    pub(crate) fn push(&mut self, name: &'static str, task: JoinHandle<std::io::Result<()>>) {
        self.tasks.push((name, task));
    }

    /// Signals every service to stop and waits for each.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        for (what, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(%error, "the {what} stopped with an error"),
                Err(error) => tracing::warn!(%error, "the {what} task failed"),
            }
        }
    }
}
