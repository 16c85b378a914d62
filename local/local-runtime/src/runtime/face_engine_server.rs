//! The face engine's server, which can be stopped and started again on the
//! same address (an outage of the service, for the fault benchmark).

use std::net::SocketAddr;

use local_face_engine::FaceEngine;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::*;

/// The face engine's server, which can be stopped and started again on the
/// same address (an outage of the service, for the fault benchmark).
pub(super) struct FaceEngineServer {
    pub(super) engine: FaceEngine,
    pub(super) addr: SocketAddr,
    /// The runtime's stop: a running server stops with it.
    pub(super) runtime_stop: CancellationToken,
    pub(super) running: tokio::sync::Mutex<Option<RunningServer>>,
}

pub(super) struct RunningServer {
    pub(super) stop: CancellationToken,
    pub(super) task: JoinHandle<std::io::Result<()>>,
}

impl FaceEngineServer {
    pub(super) fn serve(
        engine: FaceEngine,
        listener: TcpListener,
        addr: SocketAddr,
        runtime_stop: &CancellationToken,
    ) -> Self {
        let running = Self::spawn(&engine, runtime_stop, listener);
        Self {
            engine,
            addr,
            runtime_stop: runtime_stop.clone(),
            running: tokio::sync::Mutex::new(Some(running)),
        }
    }

    pub(super) fn spawn(
        engine: &FaceEngine,
        runtime_stop: &CancellationToken,
        listener: TcpListener,
    ) -> RunningServer {
        let stop = runtime_stop.child_token();
        let task = tokio::spawn(local_face_engine::serve_with_shutdown(
            listener,
            engine.clone(),
            stop.clone().cancelled_owned(),
        ));
        RunningServer { stop, task }
    }

    pub(super) async fn start(&self) -> Result<(), StartError> {
        let mut running = self.running.lock().await;
        if running.is_none() {
            let (listener, _) = bind("face engine", self.addr).await?;
            *running = Some(Self::spawn(&self.engine, &self.runtime_stop, listener));
        }
        Ok(())
    }

    pub(super) async fn stop(&self) {
        let Some(server) = self.running.lock().await.take() else {
            return;
        };
        server.stop.cancel();
        match server.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the face engine stopped with an error"),
            Err(error) => tracing::warn!(%error, "the face engine task failed"),
        }
    }
}
