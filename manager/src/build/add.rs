//! What ADD does beyond COPY: a URL source is downloaded (and checked against
//! `--checksum`), a local tar archive (plain, gzip, bzip2 or xz) is unpacked into
//! the destination. Either way the result sits in a scratch directory and from
//! there is an ordinary COPY source.
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

/// A source ADD fetches instead of reading from the context.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// A git source (BuildKit clones these; berth does not).
pub fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || (is_url(s) && s.ends_with(".git"))
}

/// A downloaded file.
#[derive(Debug)]
pub struct Download {
    pub path: PathBuf,
    /// `sha256:…` of what arrived.
    pub digest: String,
}

/// GET `url` into `dir`, named by the URL's last path segment; mode 0600 and the
/// server's Last-Modified as mtime, as docker does. With `expect`, anything but
/// that digest is an error and nothing is kept.
pub async fn download(url: &str, dir: &Path, expect: Option<&str>) -> Result<Download, String> {
    if let Some(e) = expect {
        if !e.starts_with("sha256:") || e.len() != 71 {
            return Err(format!(
                "--checksum={e}: expected sha256: and 64 hex digits"
            ));
        }
    }
    let name = file_name(url)
        .ok_or_else(|| format!("{url}: the URL names no file; give the destination a file name"))?;
    let resp = client()?
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: the server answered {}", resp.status()));
    }
    let modified = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
    let path = dir.join(&name);
    let mut file = fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hash = Sha256::new();
    let mut resp = resp;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: the download broke off: {e}"))?
    {
        hash.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let digest = format!("sha256:{}", hex::encode(hash.finalize()));
    if let Some(e) = expect {
        if e != digest {
            let _ = fs::remove_file(&path);
            return Err(format!(
                "{url}: checksum mismatch: --checksum says {e}, the download is {digest}"
            ));
        }
    }
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(t) = modified {
        let t = std::time::SystemTime::from(t);
        let _ = file.set_modified(t);
    }
    Ok(Download { path, digest })
}

fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split(['?', '#']).next()?;
    let (_, path) = path.split_once('/')?;
    let last = path.rsplit('/').next()?;
    (!last.is_empty() && last != "." && last != "..").then(|| last.to_string())
}

/// One client for every download: the native roots are read once, connections kept.
fn client() -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let c = new_client()?;
    Ok(CLIENT.get_or_init(|| c).clone())
}

fn new_client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("an HTTP client: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
}

fn compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

fn reader(path: &Path, c: Compression) -> io::Result<Box<dyn Read>> {
    let f = io::BufReader::new(fs::File::open(path)?);
    Ok(match c {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(f)),
    })
}

/// Whether ADD unpacks `path`: a tar, bare or compressed. A compressed file that
/// is not a tar inside is copied as it is (docker's rule).
pub fn is_tar(path: &Path) -> bool {
    let mut head = [0u8; 6];
    let Ok(n) = fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    let Ok(mut r) = reader(path, compression(&head[..n])) else {
        return false;
    };
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    &block[257..262] == b"ustar"
}

/// Unpack the archive at `path` into the empty directory `into`, owners, modes
/// and mtimes as the archive has them. The tar crate refuses entries that would
/// land outside `into` (`..`, absolute paths, through a symlink).
pub fn unpack(path: &Path, into: &Path) -> io::Result<()> {
    let mut head = [0u8; 6];
    let n = fs::File::open(path)?.read(&mut head)?;
    let mut a = tar::Archive::new(reader(path, compression(&head[..n]))?);
    a.set_preserve_ownerships(true);
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_unpack_xattrs(false);
    a.set_overwrite(true);
    for entry in a.entries()? {
        let mut entry = entry?;
        // Devices and fifos are not files a layer should get from an ADD.
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            continue;
        }
        if !entry.unpack_in(into)? {
            let p = entry.path()?.display().to_string();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{p}: the archive entry points outside the destination"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn tar_with(entries: &[(&str, &[u8], u64)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, uid) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o640);
            h.set_uid(*uid);
            h.set_gid(*uid);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn gzip_bzip2_xz_and_plain_tars_unpack_with_owners() {
        let d = tempfile::tempdir().unwrap();
        let plain = tar_with(&[("a/b.txt", b"hello", 1234)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&plain).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        for (name, bytes) in [
            ("t.tar", plain.clone()),
            ("t.tgz", gz.finish().unwrap()),
            ("t.tbz", bz.finish().unwrap()),
            ("t.txz", xz.finish().unwrap()),
        ] {
            let f = d.path().join(name);
            fs::write(&f, bytes).unwrap();
            assert!(is_tar(&f), "{name}");
            let out = d.path().join(format!("{name}.out"));
            fs::create_dir(&out).unwrap();
            unpack(&f, &out).unwrap();
            let got = out.join("a/b.txt");
            assert_eq!(fs::read(&got).unwrap(), b"hello", "{name}");
            assert_eq!(fs::metadata(&got).unwrap().uid(), 1234, "{name}");
        }
    }

    #[test]
    fn a_gzipped_non_tar_is_not_unpacked() {
        let d = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'x'; 2000]).unwrap();
        let f = d.path().join("x.gz");
        fs::write(&f, gz.finish().unwrap()).unwrap();
        assert!(!is_tar(&f));
        fs::write(&f, b"short").unwrap();
        assert!(!is_tar(&f));
    }

    #[test]
    fn entries_that_climb_out_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        // set_path refuses `..`; written raw, as a hostile archive would be.
        h.as_old_mut().name[..12].copy_from_slice(b"../escape.tx");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let f = d.path().join("evil.tar");
        fs::write(&f, b.into_inner().unwrap()).unwrap();
        let out = d.path().join("out");
        fs::create_dir(&out).unwrap();
        let _ = unpack(&f, &out);
        assert!(!d.path().join("escape.tx").exists());
    }

    #[test]
    fn file_names_from_urls() {
        assert_eq!(
            file_name("http://h/a/b.tar.gz?x=1").as_deref(),
            Some("b.tar.gz")
        );
        assert_eq!(file_name("http://h:8/f").as_deref(), Some("f"));
        assert_eq!(file_name("http://h/"), None);
        assert_eq!(file_name("http://h"), None);
        assert!(is_git("https://github.com/x/y.git"));
        assert!(!is_git("https://h/y.tar"));
    }
}
