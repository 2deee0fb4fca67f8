//! Attach fan-out: every chunk of a process's output goes to each attached
//! client that asked for that stream. A client that cannot keep up loses
//! chunks instead of stalling the log; a client that went away is dropped.

use std::sync::Mutex;

use berth_proto::shim::v1 as pb;
use tokio::sync::mpsc;

pub type Chunk = Result<pb::AttachResponse, tonic::Status>;

/// Chunks buffered per client before it starts losing them.
pub const CLIENT_BUFFER: usize = 1024;

struct Client {
    tx: mpsc::Sender<Chunk>,
    stdout: bool,
    stderr: bool,
}

/// `None` once the output is closed: late subscribers get an empty stream.
pub struct Fanout {
    clients: Mutex<Option<Vec<Client>>>,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout {
            clients: Mutex::new(Some(Vec::new())),
        }
    }
}

impl Fanout {
    /// Adds a client; dropped at once (ending its stream) if output is closed.
    pub fn subscribe(&self, tx: mpsc::Sender<Chunk>, stdout: bool, stderr: bool) {
        if let Some(clients) = lock(&self.clients).as_mut() {
            clients.push(Client { tx, stdout, stderr });
        }
    }

    pub fn send(&self, stream: pb::StdStream, data: &[u8]) {
        let mut guard = lock(&self.clients);
        let Some(clients) = guard.as_mut() else {
            return;
        };
        clients.retain(|c| {
            let wanted = match stream {
                pb::StdStream::Stderr => c.stderr,
                _ => c.stdout,
            };
            if !wanted {
                return !c.tx.is_closed();
            }
            let chunk = pb::AttachResponse {
                stream: stream as i32,
                data: data.to_vec(),
            };
            !matches!(
                c.tx.try_send(Ok(chunk)),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }

    /// Ends every client's stream.
    pub fn close(&self) {
        *lock(&self.clients) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn clients_get_what_they_asked_for_and_end_on_close() {
        let f = Fanout::default();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, mut rx2) = mpsc::channel(8);
        f.subscribe(tx1, true, false);
        f.subscribe(tx2, true, true);
        f.send(pb::StdStream::Stdout, b"o");
        f.send(pb::StdStream::Stderr, b"e");
        f.close();
        let got1: Vec<_> = std::iter::from_fn(|| rx1.try_recv().ok()).collect();
        let got2: Vec<_> = std::iter::from_fn(|| rx2.try_recv().ok()).collect();
        assert_eq!(got1.len(), 1);
        assert_eq!(got2.len(), 2);
        assert!(rx1.recv().await.is_none(), "closed fanout ends the stream");
        let (tx3, mut rx3) = mpsc::channel(8);
        f.subscribe(tx3, true, true);
        assert!(
            rx3.recv().await.is_none(),
            "late subscriber gets an empty stream"
        );
    }
}
