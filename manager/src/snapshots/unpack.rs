//! Unpacking one layer tar into a fresh, private directory — safely.
//!
//! The tar is hostile until proven otherwise (it may come from `berth load` of any
//! file). Invariants:
//!
//! * Nothing is created outside `dst`: paths are normalised component by component;
//!   `..` and absolute paths are refused; every parent of an entry must be a real
//!   directory *inside this layer* (never a symlink), so a symlink `a -> /etc` followed
//!   by `a/passwd` is refused instead of followed; hard links must name an existing
//!   non-directory of this layer by a normalised path; final components are created
//!   with `O_NOFOLLOW`/`O_EXCL` or replaced, never written through.
//! * `dst` is a new directory only this unpack writes to, so checks and creates do not
//!   race (the caller renames it into place on success and deletes it on error).
//! * Sizes are bounded before anything is buffered: GNU long names/links and PAX
//!   headers are read by us (the tar crate's raw mode) with caps, and a file whose
//!   data ends early is an error (the tar crate would silently stop).
//! * OCI whiteouts become overlayfs ones: `.wh.NAME` → char device 0:0 `NAME`,
//!   `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory.
//! * Device nodes are refused unless harmless — whiteouts, and the char devices
//!   every container gets anyway (null, zero, full, random, urandom, tty, console,
//!   ptmx: old base images ship them) — or [`UnpackOptions::allow_devices`] is set.
//! * Ownership, permissions (incl. setuid), mtimes, `user.*` and `security.capability`
//!   xattrs are applied; directory mtimes last, since creating children changes them.

use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;

/// Longest GNU long name / long link we accept.
const MAX_NAME: u64 = 64 * 1024;
/// Largest PAX header we accept.
const MAX_PAX: u64 = 1024 * 1024;
/// Char devices a layer may carry by default: the overlay whiteout (0:0) and those
/// the runtime gives every container (docker's default device allowlist).
const HARMLESS_CHAR: [(u32, u32); 9] = [
    (0, 0), // whiteout
    (1, 3), // null
    (1, 5), // zero
    (1, 7), // full
    (1, 8), // random
    (1, 9), // urandom
    (5, 0), // tty
    (5, 1), // console
    (5, 2), // ptmx
];
/// Linux PATH_MAX.
const MAX_PATH: usize = 4096;

/// Policy knobs for unpacking a layer.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Create any block/char device node found in the layer. Off by default: only
    /// whiteouts and the harmless char devices (null, zero, tty, …) are created, since
    /// a device node in an image is a way to hand a container the host's disks or
    /// memory.
    pub allow_devices: bool,
}

/// Why a layer could not be unpacked. Nothing of it is left on disk.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("malformed tar: {0}")]
    Malformed(#[source] io::Error),
    #[error("tar entry {path:?}: {reason}")]
    BadEntry { path: String, reason: String },
    #[error(
        "tar entry {path:?} escapes the layer root ({reason}); the archive is hostile or broken"
    )]
    Escape { path: String, reason: String },
    #[error("tar entry {path:?} is a device node ({kind} {major}:{minor}); images may not carry devices")]
    Device {
        path: String,
        kind: &'static str,
        major: u32,
        minor: u32,
    },
    #[error("tar entry {path:?}: header says {expected} bytes but the archive ends after {actual}: truncated archive")]
    Truncated {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error("creating {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn ioe(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn nixe(path: &Path) -> impl FnOnce(nix::errno::Errno) -> UnpackError + '_ {
    move |e| UnpackError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Extension headers seen before the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Vec<(String, Vec<u8>)>,
}

impl Pending {
    fn pax(&self, key: &str) -> Option<&[u8]> {
        self.pax
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Unpacks the tar read from `r` into the (new, empty) directory `dst`. Returns the
/// number of file-content bytes written.
pub(super) fn unpack(
    r: &mut impl Read,
    dst: &Path,
    opts: &UnpackOptions,
) -> Result<u64, UnpackError> {
    let mut archive = tar::Archive::new(r);
    let entries = archive.entries().map_err(UnpackError::Malformed)?.raw(true);
    let mut pending = Pending::default();
    let mut dirs: Vec<(PathBuf, TimeSpec)> = Vec::new();
    let mut total = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(UnpackError::Malformed)?;
        let kind = entry.header().entry_type();
        let hsize = entry
            .header()
            .entry_size()
            .map_err(UnpackError::Malformed)?;
        let hname = String::from_utf8_lossy(&entry_path_bytes_hdr(entry.header())).into_owned();
        match kind {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                if hsize > MAX_NAME {
                    return Err(UnpackError::BadEntry {
                        path: hname.clone(),
                        reason: format!("GNU long name of {hsize} bytes (limit {MAX_NAME})"),
                    });
                }
                let mut v = read_exact_entry(&mut entry, hsize, &hname)?;
                while v.last() == Some(&0) {
                    v.pop();
                }
                if kind == tar::EntryType::GNULongName {
                    pending.long_name = Some(v);
                } else {
                    pending.long_link = Some(v);
                }
                continue;
            }
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {
                if hsize > MAX_PAX {
                    return Err(UnpackError::BadEntry {
                        path: hname.clone(),
                        reason: format!("PAX header of {hsize} bytes (limit {MAX_PAX})"),
                    });
                }
                let v = read_exact_entry(&mut entry, hsize, &hname)?;
                if kind == tar::EntryType::XHeader {
                    for ext in tar::PaxExtensions::new(&v) {
                        let ext = ext.map_err(UnpackError::Malformed)?;
                        let key = String::from_utf8_lossy(ext.key_bytes()).into_owned();
                        pending.pax.push((key, ext.value_bytes().to_vec()));
                    }
                }
                continue;
            }
            _ => {}
        }
        let p = std::mem::take(&mut pending);
        let raw_path = p
            .pax("path")
            .map(<[u8]>::to_vec)
            .or(p.long_name.clone())
            .unwrap_or_else(|| entry_path_bytes_hdr(entry.header()));
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        if let Some(s) = p.pax("size") {
            if std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                != Some(hsize)
            {
                return Err(UnpackError::BadEntry {
                    path: name,
                    reason:
                        "PAX size differs from the header size (files over 8 GiB are not supported)"
                            .into(),
                });
            }
        }
        let rel = normalise(&raw_path, &name)?;
        let hdr = entry.header().clone();
        let meta = Meta::from_header(&hdr, &p, &name)?;

        // Whiteouts (OCI image-spec layer.md) become overlayfs whiteouts.
        if let Some(file) = rel.file_name().map(OsStr::as_bytes) {
            if let Some(target) = file.strip_prefix(b".wh.") {
                let pdir = ensure_parents(dst, &rel, &name)?;
                if target == b".wh..opq" {
                    set_xattr(&pdir, "trusted.overlay.opaque", b"y")?;
                } else if !target.starts_with(b".wh.") && !target.is_empty() {
                    let at = pdir.join(OsStr::from_bytes(target));
                    remove_existing(&at)?;
                    nix::sys::stat::mknod(&at, SFlag::S_IFCHR, Mode::empty(), 0)
                        .map_err(nixe(&at))?;
                }
                // Other `.wh..wh.*` names are aufs bookkeeping: ignored.
                continue;
            }
        }

        if rel.as_os_str().is_empty() {
            // `./`: the layer's root directory itself.
            if kind.is_dir() {
                meta.apply(dst, false)?;
                dirs.push((dst.to_path_buf(), meta.mtime));
            }
            continue;
        }
        let pdir = ensure_parents(dst, &rel, &name)?;
        let at = pdir.join(rel.file_name().unwrap_or_default());
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&at)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&at)
                    .map_err(ioe(&at))?;
                let n = io::copy(&mut entry, &mut f).map_err(UnpackError::Malformed)?;
                if n != hsize {
                    return Err(UnpackError::Truncated {
                        path: name,
                        expected: hsize,
                        actual: n,
                    });
                }
                total += n;
                meta.apply_file(&f, &at)?;
            }
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&at) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_existing(&at)?;
                        fs::create_dir(&at).map_err(ioe(&at))?;
                    }
                    Err(_) => fs::create_dir(&at).map_err(ioe(&at))?,
                }
                meta.apply(&at, false)?;
                dirs.push((at, meta.mtime));
            }
            tar::EntryType::Symlink => {
                let target = p
                    .pax("linkpath")
                    .map(<[u8]>::to_vec)
                    .or(p.long_link.clone())
                    .or_else(|| hdr.link_name_bytes().map(|c| c.into_owned()))
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| UnpackError::BadEntry {
                        path: name.clone(),
                        reason: "symlink without a target".into(),
                    })?;
                remove_existing(&at)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &at).map_err(ioe(&at))?;
                meta.apply(&at, true)?;
            }
            tar::EntryType::Link => {
                let target = p
                    .pax("linkpath")
                    .map(<[u8]>::to_vec)
                    .or(p.long_link.clone())
                    .or_else(|| hdr.link_name_bytes().map(|c| c.into_owned()))
                    .unwrap_or_default();
                let shown_t = String::from_utf8_lossy(&target).into_owned();
                let trel = normalise(&target, &shown_t).map_err(|e| match e {
                    UnpackError::Escape { reason, .. } => UnpackError::Escape {
                        path: name.clone(),
                        reason: format!("hard link to {shown_t:?}: {reason}"),
                    },
                    e => e,
                })?;
                if trel.as_os_str().is_empty() {
                    return Err(UnpackError::BadEntry {
                        path: name,
                        reason: "hard link to the layer root".into(),
                    });
                }
                let tdir = check_parents(dst, &trel, &name)?;
                let tpath = tdir.join(trel.file_name().unwrap_or_default());
                match fs::symlink_metadata(&tpath) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(UnpackError::BadEntry {
                            path: name,
                            reason: format!(
                            "hard link to {shown_t:?}, which is not an earlier file of this layer"
                        ),
                        })
                    }
                }
                if tpath == at {
                    continue;
                }
                remove_existing(&at)?;
                // linkat(2) without AT_SYMLINK_FOLLOW: links the entry itself.
                fs::hard_link(&tpath, &at).map_err(ioe(&at))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let major = hdr.device_major().ok().flatten().unwrap_or(0);
                let minor = hdr.device_minor().ok().flatten().unwrap_or(0);
                let (sflag, kname) = match kind {
                    tar::EntryType::Char => (SFlag::S_IFCHR, "char device"),
                    tar::EntryType::Block => (SFlag::S_IFBLK, "block device"),
                    _ => (SFlag::S_IFIFO, "fifo"),
                };
                let harmless =
                    kind == tar::EntryType::Char && HARMLESS_CHAR.contains(&(major, minor));
                if kind != tar::EntryType::Fifo && !harmless && !opts.allow_devices {
                    return Err(UnpackError::Device {
                        path: name,
                        kind: kname,
                        major,
                        minor,
                    });
                }
                remove_existing(&at)?;
                let dev = nix::sys::stat::makedev(major.into(), minor.into());
                nix::sys::stat::mknod(&at, sflag, Mode::from_bits_truncate(0o600), dev)
                    .map_err(nixe(&at))?;
                meta.apply(&at, false)?;
            }
            other => {
                return Err(UnpackError::BadEntry {
                    path: name,
                    reason: format!(
                        "unsupported tar entry type {other:?} (sparse or vendor-specific)"
                    ),
                })
            }
        }
    }
    // Directory mtimes last: creating their children changed them.
    for (d, t) in dirs.iter().rev() {
        // Only what is still a directory: a later entry may have replaced it.
        if !fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            d,
            t,
            t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(nixe(d))?;
    }
    Ok(total)
}

fn entry_path_bytes_hdr(h: &tar::Header) -> Vec<u8> {
    h.path_bytes().into_owned()
}

fn read_exact_entry(r: &mut impl Read, size: u64, name: &str) -> Result<Vec<u8>, UnpackError> {
    let mut v = Vec::with_capacity(size as usize);
    r.take(size)
        .read_to_end(&mut v)
        .map_err(UnpackError::Malformed)?;
    if v.len() as u64 != size {
        return Err(UnpackError::Truncated {
            path: name.to_string(),
            expected: size,
            actual: v.len() as u64,
        });
    }
    Ok(v)
}

/// A tar path as a relative path of normal components (`""` for the root itself).
fn normalise(raw: &[u8], shown: &str) -> Result<PathBuf, UnpackError> {
    let esc = |reason: &str| UnpackError::Escape {
        path: shown.to_string(),
        reason: reason.to_string(),
    };
    if raw.len() > MAX_PATH {
        return Err(UnpackError::BadEntry {
            path: shown.chars().take(64).collect::<String>() + "…",
            reason: format!("path of {} bytes (limit {MAX_PATH})", raw.len()),
        });
    }
    if raw.contains(&0) {
        return Err(UnpackError::BadEntry {
            path: shown.to_string(),
            reason: "NUL byte in path".into(),
        });
    }
    if raw.first() == Some(&b'/') {
        return Err(esc("absolute path"));
    }
    let mut out = PathBuf::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(esc("'..' component")),
            c if c.len() > 255 => {
                return Err(UnpackError::BadEntry {
                    path: shown.to_string(),
                    reason: "path component over 255 bytes".into(),
                })
            }
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// Checks that every parent of `rel` under `dst` is a real directory (no symlink, no
/// missing one). Returns the parent's path.
fn check_parents(dst: &Path, rel: &Path, shown: &str) -> Result<PathBuf, UnpackError> {
    let mut cur = dst.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UnpackError::Escape {
                    path: shown.to_string(),
                    reason: format!(
                        "its parent {:?} is a symlink; berth never writes through symlinks",
                        cur.strip_prefix(dst).unwrap_or(&cur)
                    ),
                })
            }
            _ => {
                return Err(UnpackError::BadEntry {
                    path: shown.to_string(),
                    reason: format!(
                        "{:?} is not a directory of this layer",
                        cur.strip_prefix(dst).unwrap_or(&cur)
                    ),
                })
            }
        }
    }
    Ok(cur)
}

/// Like [`check_parents`], but creates missing parents (0755, as tar does).
fn ensure_parents(dst: &Path, rel: &Path, shown: &str) -> Result<PathBuf, UnpackError> {
    let mut cur = dst.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(UnpackError::Escape {
                    path: shown.to_string(),
                    reason: format!(
                        "its parent {:?} is a symlink; berth never writes through symlinks",
                        cur.strip_prefix(dst).unwrap_or(&cur)
                    ),
                })
            }
            Ok(_) => {
                return Err(UnpackError::BadEntry {
                    path: shown.to_string(),
                    reason: format!(
                        "its parent {:?} is not a directory",
                        cur.strip_prefix(dst).unwrap_or(&cur)
                    ),
                })
            }
            Err(_) => {
                fs::create_dir(&cur).map_err(ioe(&cur))?;
                fs::set_permissions(&cur, fs::Permissions::from_mode(0o755)).map_err(ioe(&cur))?;
            }
        }
    }
    Ok(cur)
}

/// Makes room for a new entry at `at` (a later tar entry replaces an earlier one).
fn remove_existing(at: &Path) -> Result<(), UnpackError> {
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(at).map_err(ioe(at)),
        Ok(_) => fs::remove_file(at).map_err(ioe(at)),
        Err(_) => Ok(()),
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), UnpackError> {
    let p = CString::new(path.as_os_str().as_bytes()).map_err(|e| ioe(path)(e.into()))?;
    let n = CString::new(name).map_err(|e| ioe(path)(e.into()))?;
    // SAFETY: both strings are NUL-terminated and live across the call; value is a
    // valid slice.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(ioe(path)(io::Error::last_os_error()));
    }
    Ok(())
}

/// Some writers leave numeric fields empty (all NUL or spaces); GNU tar reads them
/// as 0, and so do we.
fn blank_is_zero(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        r => r,
    }
}

/// Ownership, mode, mtime and xattrs of one entry.
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: TimeSpec,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    fn from_header(h: &tar::Header, p: &Pending, name: &str) -> Result<Meta, UnpackError> {
        let bad = |what: &str| UnpackError::BadEntry {
            path: name.to_string(),
            reason: format!("invalid {what} in header"),
        };
        let num = |key: &str| -> Option<u64> {
            p.pax(key)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
        };
        let uid = num("uid")
            .map(Ok)
            .unwrap_or_else(|| blank_is_zero(h.uid(), &h.as_old().uid))
            .map_err(|_| bad("uid"))?;
        let gid = num("gid")
            .map(Ok)
            .unwrap_or_else(|| blank_is_zero(h.gid(), &h.as_old().gid))
            .map_err(|_| bad("gid"))?;
        let uid = u32::try_from(uid).map_err(|_| bad("uid"))?;
        let gid = u32::try_from(gid).map_err(|_| bad("gid"))?;
        let mode = h.mode().map_err(|_| bad("mode"))? & 0o7777;
        let mtime = match p.pax("mtime").and_then(|v| std::str::from_utf8(v).ok()) {
            Some(s) => {
                let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
                let secs: i64 = secs.parse().map_err(|_| bad("PAX mtime"))?;
                let mut nanos: i64 = 0;
                for (i, c) in frac.bytes().take(9).enumerate() {
                    if !c.is_ascii_digit() {
                        return Err(bad("PAX mtime"));
                    }
                    nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
                }
                TimeSpec::new(secs, nanos)
            }
            None => TimeSpec::new(
                i64::try_from(
                    blank_is_zero(h.mtime(), &h.as_old().mtime).map_err(|_| bad("mtime"))?,
                )
                .map_err(|_| bad("mtime"))?,
                0,
            ),
        };
        let xattrs = p
            .pax
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("SCHILY.xattr.")?;
                // Only what a container legitimately carries: user data and file
                // capabilities. trusted.overlay.* would let a layer steer overlayfs.
                (n.starts_with("user.") || n == "security.capability")
                    .then(|| (n.to_string(), v.clone()))
            })
            .collect();
        Ok(Meta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
        })
    }

    /// For non-regular entries, addressed by path without following the last symlink.
    fn apply(&self, at: &Path, is_symlink: bool) -> Result<(), UnpackError> {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            at,
            Some(self.uid.into()),
            Some(self.gid.into()),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(nixe(at))?;
        if !is_symlink {
            // After chown: chown clears setuid/setgid.
            fs::set_permissions(at, fs::Permissions::from_mode(self.mode)).map_err(ioe(at))?;
        }
        for (k, v) in &self.xattrs {
            if !is_symlink {
                set_xattr(at, k, v)?;
            }
        }
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            at,
            &self.mtime,
            &self.mtime,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .map_err(nixe(at))
    }

    fn apply_file(&self, f: &File, at: &Path) -> Result<(), UnpackError> {
        nix::unistd::fchown(f, Some(self.uid.into()), Some(self.gid.into())).map_err(nixe(at))?;
        f.set_permissions(fs::Permissions::from_mode(self.mode))
            .map_err(ioe(at))?;
        for (k, v) in &self.xattrs {
            set_xattr(at, k, v)?;
        }
        nix::sys::stat::futimens(f, &self.mtime, &self.mtime).map_err(nixe(at))
    }
}
