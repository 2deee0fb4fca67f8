//! The connection to berthd's unix socket.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::{Error, Result};

/// Where berthd listens by default.
pub const DEFAULT_SOCKET: &str = "/run/berth/berthd.sock";

/// A connection to berthd. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) channel: Channel,
    socket: PathBuf,
}

impl Client {
    /// Connects to the socket at `$BERTH_HOST` (a path or `unix://path`), else
    /// the default socket.
    pub async fn connect_default() -> Result<Client> {
        let sock = std::env::var("BERTH_HOST").unwrap_or_else(|_| DEFAULT_SOCKET.to_string());
        Client::connect(sock.strip_prefix("unix://").unwrap_or(&sock)).await
    }

    /// Connects to berthd's socket at `socket`.
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client> {
        let socket = socket.as_ref().to_path_buf();
        // The URI is a placeholder: the connector ignores it.
        let endpoint = Endpoint::from_static("http://berthd.invalid");
        let sock = socket.clone();
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let sock = sock.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(sock).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(s))
                }
            }))
            .await
            .map_err(|e| {
                let mut reason = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    reason = s.to_string();
                    src = s.source();
                }
                Error::Connect {
                    socket: socket.clone(),
                    reason,
                }
            })?;
        Ok(Client { channel, socket })
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn containers(&self) -> crate::Containers {
        crate::Containers::new(self.channel.clone())
    }

    pub fn builder(&self) -> crate::build::Builder {
        crate::build::Builder::new(self.channel.clone())
    }

    pub fn images(&self) -> crate::Images {
        crate::Images::new(self.channel.clone())
    }

    pub fn volumes(&self) -> crate::Volumes {
        crate::Volumes::new(self.channel.clone())
    }

    pub fn exec(&self) -> crate::Exec {
        crate::Exec::new(self.channel.clone())
    }

    pub fn events(&self) -> crate::Events {
        crate::Events::new(self.channel.clone())
    }

    pub fn system(&self) -> crate::System {
        crate::System::new(self.channel.clone())
    }
}
