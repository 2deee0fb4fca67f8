//! Attach fan-out: every chunk of a process's output goes to each attached
//! client that asked for that stream, in order and complete. A slow client
//! slows the copy (and so, through the pipe, the container), as with docker;
//! a client that takes no chunk for [`STALL_TIMEOUT`] is dropped so that it
//! cannot stall the log forever; a client that went away is dropped.

use std::sync::Mutex;
use std::time::Duration;

use berth_proto::shim::v1 as pb;
use tokio::sync::mpsc;

pub type Chunk = Result<pb::AttachResponse, tonic::Status>;

/// Chunks buffered per client.
pub const CLIENT_BUFFER: usize = 256;
/// How long one client may refuse a chunk before it is detached.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

struct Client {
    id: u64,
    tx: mpsc::Sender<Chunk>,
    stdout: bool,
    stderr: bool,
}

/// `clients` is `None` once the output is closed: late subscribers get an
/// empty stream.
pub struct Fanout {
    clients: Mutex<Option<Vec<Client>>>,
    next_id: Mutex<u64>,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout {
            clients: Mutex::new(Some(Vec::new())),
            next_id: Mutex::new(0),
        }
    }
}

impl Fanout {
    /// Adds a client; dropped at once (ending its stream) if output is closed.
    pub fn subscribe(&self, tx: mpsc::Sender<Chunk>, stdout: bool, stderr: bool) {
        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            *n
        };
        if let Some(clients) = lock(&self.clients).as_mut() {
            clients.push(Client {
                id,
                tx,
                stdout,
                stderr,
            });
        }
    }

    pub async fn send(&self, stream: pb::StdStream, data: &[u8]) {
        let targets: Vec<(u64, mpsc::Sender<Chunk>)> = match lock(&self.clients).as_ref() {
            Some(clients) => clients
                .iter()
                .filter(|c| match stream {
                    pb::StdStream::Stderr => c.stderr,
                    _ => c.stdout,
                })
                .map(|c| (c.id, c.tx.clone()))
                .collect(),
            None => return,
        };
        let mut gone = Vec::new();
        for (id, tx) in targets {
            let chunk = pb::AttachResponse {
                stream: stream as i32,
                data: data.to_vec(),
            };
            let delivered = match tx.try_send(Ok(chunk)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
                Err(mpsc::error::TrySendError::Full(chunk)) => {
                    matches!(
                        tokio::time::timeout(STALL_TIMEOUT, tx.send(chunk)).await,
                        Ok(Ok(()))
                    )
                }
            };
            if !delivered {
                gone.push(id);
            }
        }
        let mut guard = lock(&self.clients);
        if let Some(clients) = guard.as_mut() {
            clients.retain(|c| !gone.contains(&c.id) && !c.tx.is_closed());
        }
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
        f.send(pb::StdStream::Stdout, b"o").await;
        f.send(pb::StdStream::Stderr, b"e").await;
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_client_gets_everything_once_it_reads() {
        let f = std::sync::Arc::new(Fanout::default());
        let (tx, mut rx) = mpsc::channel(1);
        f.subscribe(tx, true, true);
        let sender = {
            let f = f.clone();
            tokio::spawn(async move {
                for i in 0..20u8 {
                    f.send(pb::StdStream::Stdout, &[i]).await;
                }
                f.close();
            })
        };
        let mut got = Vec::new();
        while let Some(Ok(c)) = rx.recv().await {
            got.extend(c.data);
        }
        sender.await.unwrap();
        assert_eq!(got, (0..20u8).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_stalled_client_is_dropped() {
        let f = Fanout::default();
        let (tx, mut rx) = mpsc::channel(1);
        f.subscribe(tx, true, true);
        f.send(pb::StdStream::Stdout, b"1").await;
        // Full now; nobody reads: after the timeout the client is detached.
        f.send(pb::StdStream::Stdout, b"2").await;
        assert!(rx.recv().await.is_some());
        assert!(rx.recv().await.is_none(), "stalled client's stream ended");
    }
}
