//! A TCP forwarder on a fixed loopback port that can be taken down (connections refused,
//! open ones cut) and brought back on the same port: an SMTP server going away and coming
//! back, as the service sees it.

use std::sync::{Arc, Mutex};

use tokio::{net::TcpListener, task::JoinHandle};

/// Forwards `127.0.0.1:<port>` to a target while up.
pub struct Proxy {
    /// The port clients connect to.
    pub port: u16,
    target: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Reserves a free port; the proxy starts down.
    pub fn new(target: u16) -> Self {
        Self {
            port: crate::process::free_port(),
            target,
            tasks: Arc::default(),
        }
    }

    /// Listens again on the same port and forwards to the target.
    pub async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind the proxy port");
        let target = self.target;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(forward);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops listening and cuts every open connection.
    pub fn down(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}
