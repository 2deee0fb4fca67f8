//! A lying registry for the bad-input pull tests: a small threaded HTTP/1.1
//! server on 127.0.0.1 that serves `/v2/`, manifests (by tag and by digest) and
//! blobs (with `Range: bytes=N-`) from memory, with a fault per blob, and
//! counts the body bytes it sent per blob. Every response is `Connection: close`.
//! Drop stops the accept loop.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};

/// How a blob (or manifest) is served wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The bytes as stored.
    None,
    /// One byte flipped: same size, other digest.
    FlipByte,
    /// Only the first `n` bytes, with a matching Content-Length.
    Short(usize),
    /// `n` extra bytes after the blob, with a matching Content-Length.
    Long(usize),
    /// `500 Internal Server Error`.
    Status500,
    /// The full Content-Length, but the connection closes after `n` body bytes;
    /// the first time only.
    CutAfter(usize),
}

#[derive(Default)]
struct State {
    /// Manifests by tag and by digest: (media type, bytes, digest header).
    manifests: HashMap<String, (String, Vec<u8>, String)>,
    blobs: HashMap<String, Vec<u8>>,
    faults: HashMap<String, Fault>,
    cut_done: HashSet<String>,
    sent: HashMap<String, u64>,
}

/// The running fake registry.
pub struct FakeRegistry {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// `sha256:<hex>` of `b`.
pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

impl FakeRegistry {
    /// Listens on 127.0.0.1:0 and serves until dropped.
    pub fn start() -> std::io::Result<FakeRegistry> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let _ = serve(c, &st);
                    });
                }
            }
        });
        Ok(FakeRegistry { port, state, stop })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stores a blob; returns its digest.
    pub fn blob(&self, bytes: Vec<u8>) -> String {
        let d = sha256(&bytes);
        self.lock().blobs.insert(d.clone(), bytes);
        d
    }

    /// Stores a manifest under `tag` and under its digest; returns the digest.
    pub fn manifest(&self, tag: &str, media_type: &str, bytes: Vec<u8>) -> String {
        let d = sha256(&bytes);
        let mut s = self.lock();
        let v = (media_type.to_string(), bytes, d.clone());
        s.manifests.insert(tag.to_string(), v.clone());
        s.manifests.insert(d.clone(), v);
        d
    }

    /// Serves `bytes` under the manifest digest `digest` (a lie if they differ).
    pub fn manifest_at(&self, digest: &str, media_type: &str, bytes: Vec<u8>) {
        let v = (media_type.to_string(), bytes, digest.to_string());
        self.lock().manifests.insert(digest.to_string(), v);
    }

    /// Sets how blob `digest` is served from now on.
    pub fn fault(&self, digest: &str, f: Fault) {
        self.lock().faults.insert(digest.to_string(), f);
    }

    /// Body bytes sent so far for blob `digest`.
    pub fn sent(&self, digest: &str) -> u64 {
        self.lock().sent.get(digest).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn head(
    w: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    len: usize,
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {len}\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    w.write_all(h.as_bytes())
}

fn serve(c: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut r = BufReader::new(c.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut from = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range:") {
            let v = v.trim().trim_start_matches("bytes=");
            from = v
                .split('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    let mut w = c;
    let body_too = method != "HEAD";
    let segs: Vec<&str> = path.trim_start_matches("/v2/").split('/').collect();
    if path == "/v2/" || path == "/v2" {
        head(&mut w, "200 OK", &[], 0)?;
        return Ok(());
    }
    let n = segs.len();
    if n >= 3 && segs[n - 2] == "manifests" {
        let found = state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .manifests
            .get(segs[n - 1])
            .cloned();
        return match found {
            Some((mt, bytes, d)) => {
                let hs = [("Content-Type", mt), ("Docker-Content-Digest", d)];
                head(&mut w, "200 OK", &hs, bytes.len())?;
                if body_too {
                    w.write_all(&bytes)?;
                }
                Ok(())
            }
            None => not_found(&mut w, "MANIFEST_UNKNOWN"),
        };
    }
    if n >= 3 && segs[n - 2] == "blobs" {
        let d = segs[n - 1].to_string();
        let (bytes, fault) = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(b) = s.blobs.get(&d).cloned() else {
                drop(s);
                return not_found(&mut w, "BLOB_UNKNOWN");
            };
            let mut f = s.faults.get(&d).copied().unwrap_or(Fault::None);
            if let Fault::CutAfter(_) = f {
                if !s.cut_done.insert(d.clone()) {
                    f = Fault::None;
                }
            }
            (b, f)
        };
        let mut body = bytes.clone();
        match fault {
            Fault::FlipByte => {
                let i = body.len() / 2;
                body[i] ^= 0xff;
            }
            Fault::Short(k) => body.truncate(k),
            Fault::Long(k) => body.extend(std::iter::repeat_n(b'x', k)),
            Fault::Status500 => {
                let msg = b"boom";
                head(&mut w, "500 Internal Server Error", &[], msg.len())?;
                return w.write_all(msg);
            }
            _ => {}
        }
        let total = body.len();
        let from = from.min(total);
        let part = &body[from..];
        let mut hs = vec![("Docker-Content-Digest", d.clone())];
        let status = if from > 0 {
            hs.push((
                "Content-Range",
                format!("bytes {from}-{}/{total}", total.saturating_sub(1)),
            ));
            "206 Partial Content"
        } else {
            "200 OK"
        };
        head(&mut w, status, &hs, part.len())?;
        if !body_too {
            return Ok(());
        }
        let send = match fault {
            Fault::CutAfter(k) => &part[..k.min(part.len())],
            _ => part,
        };
        w.write_all(send)?;
        w.flush()?;
        *state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sent
            .entry(d)
            .or_default() += send.len() as u64;
        return Ok(());
    }
    not_found(&mut w, "NAME_UNKNOWN")
}

fn not_found(w: &mut TcpStream, code: &str) -> std::io::Result<()> {
    let msg = format!("{{\"errors\":[{{\"code\":\"{code}\",\"message\":\"not found\"}}]}}");
    let hs = [("Content-Type", "application/json".to_string())];
    head(w, "404 Not Found", &hs, msg.len())?;
    w.write_all(msg.as_bytes())
}
