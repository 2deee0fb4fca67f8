//! A tar that arrives in chunks (a context on berthd's side, an `-o` export on the
//! client's) read as one stream by a blocking unpacker on a thread of its own.
use std::io::Read;

use tokio::sync::mpsc;

/// The reading end, for a blocking thread; the sender's chunks in order, EOF once
/// every sender is gone. The sender is async: a full pipe makes it wait, not block.
pub struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

/// A pipe holding at most `depth` chunks in flight.
pub fn chunk_pipe(depth: usize) -> (mpsc::Sender<Vec<u8>>, ChunkReader) {
    let (tx, rx) = mpsc::channel(depth);
    (
        tx,
        ChunkReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        },
    )
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_in_order_then_eof() {
        let (tx, mut r) = chunk_pipe(2);
        let t = std::thread::spawn(move || {
            for c in [b"ab".to_vec(), Vec::new(), b"cde".to_vec()] {
                tx.blocking_send(c).unwrap();
            }
        });
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        t.join().unwrap();
        assert_eq!(all, b"abcde");
    }
}
