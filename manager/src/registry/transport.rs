//! Which endpoints serve a registry host, and an HTTP client for each: HTTPS with
//! the system roots plus `certs.d/HOST[:PORT]/ca.crt` and a client certificate
//! from `*.cert`/`*.key` there, or plain HTTP for insecure registries. Mirrors
//! come first for pulls; a mirror that fails gives way to the next, then to the
//! origin.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{Error, RegistryConfig, Result};
use crate::images::reference::DOCKER_HUB;

/// docker.io's API host.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// One place to send a registry's requests to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The registry as users name it (`localhost:5000`, `docker.io`).
    pub registry: String,
    /// `https://host:port` or `http://host:port`, no trailing '/'.
    pub base: String,
    pub client: reqwest::Client,
    /// A mirror (its failures fall back to the next endpoint).
    pub mirror: bool,
}

impl Endpoint {
    /// `BASE/v2/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }
}

/// The registry transport of berthd: settings and one HTTP client per TLS setup.
#[derive(Debug)]
pub struct Transport {
    config: RegistryConfig,
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

/// `server` of `login`/`logout` as docker normalises it: empty or docker.io's
/// index URL is docker.io; a URL loses its scheme and path.
pub fn normalise_server(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | DOCKER_HUB => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

impl Transport {
    pub fn new(config: RegistryConfig) -> Transport {
        Transport {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Endpoints for `registry` in the order to try them; with `pull`, its mirrors
    /// first.
    pub fn endpoints(&self, registry: &str, pull: bool) -> Result<Vec<Endpoint>> {
        let mut out = Vec::new();
        if pull {
            let mirrors = if registry == DOCKER_HUB {
                self.config.mirrors.clone()
            } else {
                Vec::new()
            };
            let extra = self
                .config
                .registry_mirrors
                .get(registry)
                .cloned()
                .unwrap_or_default();
            for m in mirrors.iter().chain(&extra) {
                let m = m.trim_end_matches('/');
                let (scheme, host) = match m.split_once("://") {
                    Some((s, h)) => (s, h),
                    None => ("https", m),
                };
                let host = host.split('/').next().unwrap_or(host);
                out.push(Endpoint {
                    registry: registry.to_string(),
                    base: format!("{scheme}://{host}"),
                    client: self.client(host, scheme == "http" || self.is_insecure(host))?,
                    mirror: true,
                });
            }
        }
        let api_host = if registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            registry
        };
        let insecure = self.is_insecure(registry);
        out.push(Endpoint {
            registry: registry.to_string(),
            base: format!("https://{api_host}"),
            client: self.client(registry, insecure)?,
            mirror: false,
        });
        if insecure {
            // docker's order for an insecure registry: HTTPS (unverified), then HTTP.
            out.push(Endpoint {
                registry: registry.to_string(),
                base: format!("http://{api_host}"),
                client: self.client(registry, true)?,
                mirror: false,
            });
        }
        Ok(out)
    }

    /// docker's rule: listed hosts and CIDRs, and loopback, are insecure.
    fn is_insecure(&self, host: &str) -> bool {
        let bare = host_without_port(host);
        let ip = bare.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        if bare == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.config.insecure.iter().any(|entry| {
            if entry == host || entry == bare {
                return true;
            }
            match (entry.split_once('/'), ip) {
                (Some((net, bits)), Some(ip)) => in_cidr(ip, net, bits),
                _ => false,
            }
        })
    }

    fn client(&self, host: &str, insecure: bool) -> Result<reqwest::Client> {
        // docker reads certs.d at each pull and push: a CA or client certificate
        // put there takes effect without a restart. The key names what the
        // directory holds, so a changed file makes a new client.
        let key = format!(
            "{host}|{insecure}|{}",
            dir_fingerprint(&self.config.certs_dir.join(host))
        );
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let tls = tls_config(&self.config.certs_dir, host, insecure)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(Duration::from_secs(15))
            // A stalled body must not hang a pull forever: no byte for this long fails it.
            .read_timeout(Duration::from_secs(60))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| Error::Tls {
                host: host.to_string(),
                path: String::new(),
                reason: e.to_string(),
            })?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

fn host_without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// rustls settings for `host`: system roots + `certs.d/host/*.crt`, the client
/// certificate of `*.cert` + `*.key` if there is one; `insecure` skips verification
/// (docker's insecure-registries over HTTPS).
fn tls_config(certs_dir: &Path, host: &str, insecure: bool) -> Result<rustls::ClientConfig> {
    let dir = certs_dir.join(host);
    let tls_err = |path: &Path, reason: String| Error::Tls {
        host: host.to_string(),
        path: path.display().to_string(),
        reason,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&dir, e.to_string()))?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        for path in files_with(&dir, ".crt") {
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_err(&path, format!("not a PEM certificate: {e}")))?;
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| tls_err(&path, format!("unusable CA certificate: {e}")))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut client_cert = None;
    // docker takes the first pair; so does berth.
    if let Some(cert) = files_with(&dir, ".cert").into_iter().next() {
        let key = cert.with_extension("key");
        if !key.is_file() {
            return Err(tls_err(
                &cert,
                format!("client certificate without its key {}", key.display()),
            ));
        }
        let chain = CertificateDer::pem_file_iter(&cert)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| tls_err(&cert, format!("not a PEM certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_file(&key)
            .map_err(|e| tls_err(&key, format!("not a PEM private key: {e}")))?;
        client_cert = Some((chain, key, cert));
    }
    let mut cfg = match client_cert {
        Some((chain, key, path)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err(&path, e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Names, sizes and modification times of the files in `dir` (empty if none).
fn dir_fingerprint(dir: &Path) -> String {
    let mut parts: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            Some(format!("{:?}:{}:{mtime}", e.file_name(), m.len()))
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn files_with(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(ext)))
        .collect();
    v.sort();
    v
}

/// Accepts any server certificate (insecure registries only), still checking the
/// handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules_follow_docker() {
        let t = Transport::new(RegistryConfig {
            insecure: vec!["reg.example:5000".into(), "10.1.0.0/16".into()],
            ..Default::default()
        });
        assert!(t.is_insecure("localhost:5000"));
        assert!(t.is_insecure("127.0.0.1:41234"));
        assert!(t.is_insecure("[::1]:5000"));
        assert!(t.is_insecure("reg.example:5000"));
        assert!(t.is_insecure("10.1.2.3:443"));
        assert!(!t.is_insecure("10.2.0.1"));
        assert!(!t.is_insecure("docker.io"));
        assert_eq!(normalise_server(""), "docker.io");
        assert_eq!(normalise_server("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_server("localhost:5000"), "localhost:5000");
    }
}
