//! An HTTP server on a listener the caller bound (port 0 in tests), stopped gracefully:
//! it stops accepting and finishes the requests in flight.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server running in the background.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Serves `app` on `listener` until [`Server::stop`].
pub fn serve(listener: TcpListener, app: Router) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Server {
        addr,
        shutdown,
        task,
    })
}

impl Server {
    /// Stops accepting connections and waits for the requests in flight.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}
