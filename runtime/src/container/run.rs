//! `run`: create + start, then (unless `--detach`) wait for the container's init,
//! forwarding signals to it, and exit with its code, holding the terminal when the process has one and no
//! `--console-socket` was given. The container is deleted afterwards unless `--keep`.
use super::create::{create_init, CreateOptions};
use super::delete::destroy;
use super::start::start_container;
use super::Error;
use crate::{console, process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn run(opts: &CreateOptions, detach: bool, keep: bool) -> Result<i32, Error> {
    if !detach {
        // The init may be a grandchild (joining path): adopt it so we can wait for it.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Error::io(Path::new("prctl(PR_SET_CHILD_SUBREAPER)"), e.into()))?;
    }
    let terminal = super::config::load_spec(&opts.bundle.join("config.json"))
        .ok()
        .and_then(|s| s.process().as_ref().and_then(|p| p.terminal()))
        .unwrap_or(false);
    let (own_child_end, own_end): (Option<OwnedFd>, Option<UnixStream>) =
        if terminal && !detach && opts.console_socket.is_none() {
            let (a, b) = UnixStream::pair().map_err(|e| Error::io(Path::new("socketpair"), e))?;
            (Some(b.into()), Some(a))
        } else {
            (None, None)
        };
    let (c, init) = create_init(opts, own_child_end)?;
    if !detach {
        process::hold_signals();
    }
    if let Err(e) = start_container(&c) {
        let _ = super::delete(&opts.root, &opts.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let master = match own_end {
        Some(sock) => match console::recv_fd(sock.as_raw_fd()) {
            Ok(m) => Some(m),
            Err(e) => {
                crate::logging::warn(&e.to_string());
                None
            }
        },
        None => None,
    };
    let code = process::supervise(init.pid, master.as_ref());
    if !keep {
        destroy(&c)?;
    }
    Ok(code)
}
