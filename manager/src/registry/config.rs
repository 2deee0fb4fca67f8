//! The registry keys of daemon.json, with docker's names and meanings.

use std::collections::HashMap;
use std::path::PathBuf;

/// Registry settings of berthd.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `insecure-registries`: hosts (`host[:port]`) or CIDRs reached over plain
    /// HTTP (after HTTPS fails, as docker does). 127.0.0.0/8 and ::1 always are.
    pub insecure: Vec<String>,
    /// `registry-mirrors`: tried in order for docker.io before the origin.
    pub mirrors: Vec<String>,
    /// berth's extension: mirrors for any registry, by host.
    pub registry_mirrors: HashMap<String, Vec<String>>,
    /// `certs.d`: `DIR/HOST:PORT/{ca.crt,*.cert,*.key}`.
    pub certs_dir: PathBuf,
    /// `max-concurrent-downloads` (docker: 3).
    pub max_downloads: usize,
    /// `max-concurrent-uploads` (docker: 5).
    pub max_uploads: usize,
    /// Largest uncompressed layer berth accepts relative to its compressed size
    /// (a gzip bomb stops here); at least [`RegistryConfig::min_layer_limit`].
    pub max_expansion: u64,
    /// Floor of the uncompressed-size limit, in bytes.
    pub min_layer_limit: u64,
    /// `max-layer-size`: a fixed uncompressed-size limit of every layer, in
    /// bytes, instead of the one derived from the two above.
    pub max_layer_size: Option<u64>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            mirrors: Vec::new(),
            registry_mirrors: HashMap::new(),
            certs_dir: PathBuf::from("/etc/berth/certs.d"),
            max_downloads: 3,
            max_uploads: 5,
            max_expansion: 200,
            min_layer_limit: 4 << 30,
            max_layer_size: None,
        }
    }
}

impl RegistryConfig {
    /// The uncompressed-size limit of a layer of `compressed` bytes.
    pub fn layer_limit(&self, compressed: u64) -> u64 {
        if let Some(n) = self.max_layer_size {
            return n;
        }
        compressed
            .saturating_mul(self.max_expansion)
            .max(self.min_layer_limit)
    }
}
