//! registry: the OCI distribution client — pull, push and login against any
//! registry docker talks to.
//!
//! * [`transport`] picks, per registry host, the endpoints to try (mirrors from
//!   daemon.json first, then the origin), HTTPS with the system roots plus
//!   `certs.d/HOST:PORT/` or plain HTTP for insecure registries.
//! * [`auth`] answers a 401's `WWW-Authenticate` challenge: basic, or a bearer
//!   token from the realm with the scopes of the call, fetched again when a
//!   token stops being accepted.
//! * [`client`] is one repository on one endpoint: manifests and blobs, ranges,
//!   uploads, cross-repository mounts.
//! * [`pull`] and [`push`] are the verbs over the image store; [`progress`] is
//!   what they report while they work.
//!
//! Credentials come with each call (the CLI reads `~/.docker/config.json`, as
//! docker's CLI does): berthd stores none.

pub mod auth;
pub mod client;
pub mod config;
pub mod progress;
pub mod pull;
pub mod push;
pub mod transport;

pub use auth::Credentials;
pub use config::RegistryConfig;
pub use progress::{Progress, ProgressEvent};
pub use pull::{PullOptions, PullOutcome};
pub use push::{PushOptions, PushOutcome};

use std::sync::Arc;

use crate::errors::{Classify, Reason};
use crate::images::ImageService;

/// The registry client of berthd: shared settings and HTTP connections.
#[derive(Debug, Clone)]
pub struct Registry {
    pub(crate) images: Arc<ImageService>,
    pub(crate) transport: Arc<transport::Transport>,
}

impl Registry {
    /// A client over `images` with daemon.json's registry settings.
    pub fn new(images: Arc<ImageService>, config: RegistryConfig) -> Registry {
        Registry {
            images,
            transport: Arc::new(transport::Transport::new(config)),
        }
    }

    /// `docker login`: checks the credentials against the registry (`server`: a
    /// host[:port], or empty for docker.io). Returns the registry's status line.
    pub async fn login(&self, server: &str, creds: &Credentials) -> Result<String> {
        let host = transport::normalise_server(server);
        let mut last = None;
        for ep in self.transport.endpoints(&host, false)? {
            let mut session = auth::Session::new(ep, Some(creds.clone()));
            match session.check_login().await {
                Ok(()) => return Ok("Login Succeeded".to_string()),
                Err(e @ Error::Transport { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::NoEndpoint(host)))
    }
}

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] crate::images::Error),
    #[error("{registry}: {message}")]
    Http { registry: String, message: String },
    #[error("{url}: {}", error_chain(.source))]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("{reference}: {message}")]
    NotFound { reference: String, message: String },
    #[error("manifest {reference}: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("no matching manifest for {platform} in the manifest list entries of {reference}")]
    NoPlatform { reference: String, platform: String },
    #[error("blob {digest} from {registry}: {reason}")]
    BadBlob {
        registry: String,
        digest: String,
        reason: String,
    },
    #[error("TLS settings for {host} ({path}): {reason}")]
    Tls {
        host: String,
        path: String,
        reason: String,
    },
    #[error("no endpoint to try for {0}")]
    NoEndpoint(String),
    #[error("{0}")]
    Invalid(String),
    #[error("pull or push was cancelled")]
    Cancelled,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for Error {
    fn reason(&self) -> Reason {
        match self {
            Error::Image(e) => e.reason(),
            Error::NotFound { .. } => Reason::NotFound,
            // Credentials are an argument of the call; a wrong one is the caller's to fix.
            Error::Unauthorized(_) | Error::NoPlatform { .. } | Error::Invalid(_) => {
                Reason::InvalidArgument
            }
            _ => Reason::Internal,
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Error::Image(e) => e.subject(),
            Error::NotFound { reference, .. } => Some(reference),
            _ => None,
        }
    }
}

/// An error and its causes on one line (reqwest's own message names no cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
