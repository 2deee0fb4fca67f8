//! The copy loops: output fd → json-file log + attach fan-out, and attach
//! clients → stdin fd.

use std::sync::{Arc, Mutex};

use berth_proto::shim::v1 as pb;
use tokio::sync::mpsc;

use super::fanout::Fanout;
use super::fd::Fd;
use super::log::{JsonLog, Stream};

pub type SharedLog = Arc<Mutex<JsonLog>>;

/// Bytes read from the container per call.
const BUF_SIZE: usize = 32 * 1024;

/// Copies `fd` until end of file. Log write errors (disk full…) are reported
/// once and do not stop the copy: attached clients still get the output.
pub async fn copy_out(fd: Fd, stream: Stream, log: Option<SharedLog>, fanout: Arc<Fanout>) {
    let pb_stream = match stream {
        Stream::Stdout => pb::StdStream::Stdout,
        Stream::Stderr => pb::StdStream::Stderr,
    };
    // Allocated when the first output arrives: most containers' stderr (and
    // many a stdout) stays silent for life, and an idle shim should not
    // hold 32 KiB per stream for it.
    let mut buf = Vec::new();
    let mut log_failed = false;
    loop {
        if buf.is_empty() {
            if let Err(e) = fd.readable().await {
                crate::log!("reading container {}: {e}", stream_name(stream));
                break;
            }
            buf = vec![0u8; BUF_SIZE];
        }
        let n = match fd.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                crate::log!("reading container {}: {e}", stream_name(stream));
                break;
            }
        };
        if let Some(log) = &log {
            let res = lock(log).write(stream, &buf[..n]);
            if let Err(e) = res {
                if !log_failed {
                    crate::log!("writing log: {e}");
                    log_failed = true;
                }
            }
        }
        fanout.send(pb_stream, &buf[..n]).await;
    }
    if let Some(log) = &log {
        let _ = lock(log).finish(stream);
    }
}

fn stream_name(s: Stream) -> &'static str {
    match s {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

pub enum StdinMsg {
    Data(Vec<u8>),
    Close,
}

/// Writes what attach clients send to the process's stdin. On `Close`, a pipe
/// is closed (EOF); a pty gets ^D, since its master must stay open for output.
pub fn spawn_stdin(fd: Fd, tty: bool) -> mpsc::UnboundedSender<StdinMsg> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                StdinMsg::Data(d) => {
                    if let Err(e) = fd.write_all(&d).await {
                        crate::log!("stdin: {e}");
                        break;
                    }
                }
                StdinMsg::Close => {
                    if tty {
                        let _ = fd.write_all(&[4]).await;
                    }
                    break;
                }
            }
        }
    });
    tx
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
