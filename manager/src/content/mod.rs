//! content: the content-addressed blob store (`<root>/content/`).
//!
//! Layers, image configs and manifests are stored once, named by their digest:
//! `content/blobs/sha256/<hex>`. A blob becomes visible only complete and verified:
//! writers stream into `content/ingest/<ref>` while hashing, then [`Ingest::commit`]
//! checks the digest, fsyncs, renames into `blobs/` and fsyncs the directory. So a
//! reader never sees a partial blob, and a crash leaves at worst a stale ingest,
//! removed by [`ContentStore::gc_ingests`] on start (nothing is in flight then).
//!
//! The store does not know who uses a blob: images/ decides what to delete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

/// File timestamps come from the kernel's coarse clock (a few ms behind): an entry
/// counts as older than a store only if it is older by more than this.
pub(crate) const CLOCK_SLACK: std::time::Duration = std::time::Duration::from_millis(100);

/// A `sha256:<64 hex>` digest (the only algorithm berth accepts).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// Digest of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a hasher has computed.
    pub(crate) fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// First 12 hex digits, as docker shows IDs.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::InvalidDigest(s.to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::InvalidDigest(s.to_string()));
        }
        Ok(Digest(s.to_string()))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A `Write` that hashes what passes through (for computing a digest while copying).
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The digest and size of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (Digest::from_hasher(self.hasher), self.written, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` that hashes what passes through (for verifying a diff ID while unpacking).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// The digest and size of everything read so far.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Errors of the content store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    #[error("invalid ingest ref {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidRef(String),
    #[error("blob {0} not found in the content store")]
    NotFound(Digest),
    #[error("content does not match its digest: expected {expected}, got {actual} ({size} bytes)")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("content store I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl Error {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The blob store under `<root>/content`.
#[derive(Debug)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
    seq: AtomicU64,
    /// Ingests older than this predate the store's opening: crash leftovers.
    opened_at: std::time::SystemTime,
}

impl ContentStore {
    /// Opens (creating) `<root>/content/{blobs/sha256,ingest}`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("content/blobs/sha256");
        let ingest = root.join("content/ingest");
        for d in [&blobs, &ingest] {
            fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        Ok(ContentStore {
            blobs,
            ingest,
            seq: AtomicU64::new(0),
            opened_at: std::time::SystemTime::now(),
        })
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Size in bytes of a blob.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(digest.clone())),
            Err(e) => Err(Error::io(&p)(e)),
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.path(digest);
        match File::open(&p) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound(digest.clone())),
            Err(e) => Err(Error::io(&p)(e)),
        }
    }

    /// Reads a whole (small) blob: configs, manifests.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut f = self.open_blob(digest)?;
        let mut v = Vec::new();
        f.read_to_end(&mut v)
            .map_err(Error::io(&self.path(digest)))?;
        Ok(v)
    }

    /// Deletes a blob; `false` if it was not there.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&p)(e)),
        }
    }

    /// Every blob with its size.
    pub fn list(&self) -> Result<Vec<(Digest, u64)>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).map_err(Error::io(&self.blobs))? {
            let e = e.map_err(Error::io(&self.blobs))?;
            let name = e.file_name();
            let Some(d) = name
                .to_str()
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok())
            else {
                continue;
            };
            let len = e.metadata().map_err(Error::io(&e.path()))?.len();
            out.push((d, len));
        }
        out.sort();
        Ok(out)
    }

    /// Starts writing a blob under `content/ingest/<reference>`. A second writer on
    /// the same reference truncates the first (refs are unique per operation).
    pub fn writer(&self, reference: &str) -> Result<Ingest<'_>> {
        if reference.is_empty()
            || reference.starts_with('.')
            || !reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(Error::InvalidRef(reference.to_string()));
        }
        let path = self.ingest.join(reference);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        Ok(Ingest {
            store: self,
            path,
            w: Some(HashingWriter::new(io::BufWriter::with_capacity(
                1 << 16,
                file,
            ))),
        })
    }

    /// A unique ingest reference for one-off writes.
    pub fn unique_ref(&self, what: &str) -> String {
        format!(
            "{what}-{}-{}-{:x}",
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed),
            rand::random::<u64>()
        )
    }

    /// Streams `r` into a blob; verifies it against `expected` when given.
    pub fn write_blob(&self, mut r: impl Read, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let mut w = self.writer(&self.unique_ref("blob"))?;
        io::copy(&mut r, &mut w).map_err(Error::io(&w.path.clone()))?;
        w.commit(expected)
    }

    /// Stores a byte slice as a blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of_bytes(bytes);
        if self.exists(&d) {
            return Ok(d);
        }
        self.write_blob(bytes, Some(&d)).map(|(d, _)| d)
    }

    /// Adopts an already-written file on the same filesystem as the blob `digest`
    /// (which the caller computed while writing it): fsync + rename, no copy.
    pub fn adopt(&self, file: &Path, digest: &Digest) -> Result<()> {
        let f = File::open(file).map_err(Error::io(file))?;
        f.sync_all().map_err(Error::io(file))?;
        let dst = self.path(digest);
        fs::rename(file, &dst).map_err(Error::io(&dst))?;
        sync_dir(&self.blobs)
    }

    /// A download of `digest` that survives restarts: `content/ingest/resume-<hex>`,
    /// locked against a second writer (who waits, then finds the blob or the rest
    /// of the download). The bytes already there are kept, so a cut-off transfer
    /// resumes from [`Resumable::len`].
    pub fn resumable(&self, digest: &Digest) -> Result<Resumable<'_>> {
        let path = self
            .ingest
            .join(format!("{RESUMABLE_PREFIX}{}", digest.hex()));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        let file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io(&path)(e.into()))?;
        let len = file.metadata().map_err(Error::io(&path))?.len();
        Ok(Resumable {
            store: self,
            path,
            file,
            len,
            digest: digest.clone(),
        })
    }

    /// The directory staging writes (same filesystem as the blobs).
    pub fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    /// Removes every ingest last written before this store was opened: a write a
    /// crash interrupted (writers of this process are newer, so they are safe).
    /// Returns how many entries were removed.
    pub fn gc_ingests(&self) -> Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.ingest).map_err(Error::io(&self.ingest))? {
            let e = e.map_err(Error::io(&self.ingest))?;
            let p = e.path();
            let fresh = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t + crate::content::CLOCK_SLACK >= self.opened_at);
            if fresh || is_resumable_fresh(&e) {
                continue;
            }
            let r = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(Error::io(&p))?;
            n += 1;
        }
        Ok(n)
    }
}

/// Resumable downloads are kept by start-up gc for this long.
const RESUMABLE_KEEP: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
const RESUMABLE_PREFIX: &str = "resume-";

fn is_resumable_fresh(e: &fs::DirEntry) -> bool {
    e.file_name()
        .to_str()
        .is_some_and(|n| n.starts_with(RESUMABLE_PREFIX))
        && e.metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < RESUMABLE_KEEP)
}

/// A blob being downloaded, kept across attempts ([`ContentStore::resumable`]).
pub struct Resumable<'a> {
    store: &'a ContentStore,
    path: PathBuf,
    file: nix::fcntl::Flock<File>,
    len: u64,
    digest: Digest,
}

impl Resumable<'_> {
    /// Bytes already downloaded.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was downloaded yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A reader of the bytes already there (they must pass through the verifier again).
    pub fn prefix(&self) -> Result<io::Take<File>> {
        let f = File::open(&self.path).map_err(Error::io(&self.path))?;
        Ok(f.take(self.len))
    }

    /// Appends downloaded bytes.
    pub fn append(&mut self, buf: &[u8]) -> Result<()> {
        self.file.write_all(buf).map_err(Error::io(&self.path))?;
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Throws the bytes away (they do not match the digest).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Makes the download the blob, once the caller has checked the whole stream
    /// against the digest and size.
    pub fn commit_verified(self) -> Result<()> {
        if self.store.exists(&self.digest) {
            let _ = fs::remove_file(&self.path);
            return Ok(());
        }
        self.file.sync_all().map_err(Error::io(&self.path))?;
        let dst = self.store.path(&self.digest);
        fs::rename(&self.path, &dst).map_err(Error::io(&dst))?;
        sync_dir(&self.store.blobs)
    }
}

/// fsyncs a directory so a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(dir))
}

/// A blob being written. Dropped without [`Ingest::commit`], it is deleted.
pub struct Ingest<'a> {
    store: &'a ContentStore,
    path: PathBuf,
    w: Option<HashingWriter<io::BufWriter<File>>>,
}

impl Ingest<'_> {
    /// Verifies the content against `expected` (if given), then makes it visible as
    /// `blobs/sha256/<hex>`. Returns the digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let Some(w) = self.w.take() else {
            return Err(Error::io(&self.path)(io::Error::other(
                "ingest already finished",
            )));
        };
        let (digest, size, buf) = w.finish();
        let file = buf
            .into_inner()
            .map_err(|e| Error::io(&self.path)(e.into_error()))?;
        if let Some(exp) = expected {
            if *exp != digest {
                let _ = fs::remove_file(&self.path);
                return Err(Error::DigestMismatch {
                    expected: exp.clone(),
                    actual: digest,
                    size,
                });
            }
        }
        if self.store.exists(&digest) {
            let _ = fs::remove_file(&self.path);
            return Ok((digest, size));
        }
        file.sync_all().map_err(Error::io(&self.path))?;
        drop(file);
        let dst = self.store.path(&digest);
        fs::rename(&self.path, &dst).map_err(Error::io(&dst))?;
        sync_dir(&self.store.blobs)?;
        Ok((digest, size))
    }
}

impl Write for Ingest<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.w.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("ingest already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.w.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest<'_> {
    fn drop(&mut self) {
        if self.w.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_verify_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = cs.put_bytes(b"hello").unwrap();
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(cs.exists(&d));
        assert_eq!(cs.size(&d).unwrap(), 5);
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        assert_eq!(cs.list().unwrap(), vec![(d.clone(), 5)]);
        assert!(cs.delete(&d).unwrap());
        assert!(matches!(cs.read(&d), Err(Error::NotFound(_))));
    }

    #[test]
    fn mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let wrong = Digest::of_bytes(b"other");
        let err = cs.write_blob(&b"hello"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(cs.ingest_dir()).unwrap().count(), 0);
    }

    #[test]
    fn interrupted_ingest_is_collected() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let mut w = cs.writer("layer-1").unwrap();
        w.write_all(b"half").unwrap();
        // A crash: the writer never commits nor drops.
        std::mem::forget(w);
        assert!(cs.ingest_dir().join("layer-1").exists());
        // This process's own ingests are not leftovers.
        assert_eq!(cs.gc_ingests().unwrap(), 0);
        std::thread::sleep(CLOCK_SLACK * 2);
        let cs = ContentStore::open(dir.path()).unwrap();
        assert_eq!(cs.gc_ingests().unwrap(), 1);
        assert!(!cs.ingest_dir().join("layer-1").exists());
        assert!(cs.list().unwrap().is_empty());
    }

    #[test]
    fn bad_digests_and_refs_are_rejected() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        assert!(matches!(cs.writer("../x"), Err(Error::InvalidRef(_))));
    }
}
