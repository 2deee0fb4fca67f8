//! `-o`: the built target's filesystem, as one tar streamed back to the client,
//! which unpacks it (`type=local`) or keeps it (`type=tar`).
use std::io::{self, Write};

use super::exec::Builder;
use super::BuildError;
use crate::content::Digest;
use crate::snapshots::Snapshotter;

/// Chunks of this size go to the client.
const CHUNK: usize = 256 * 1024;

impl Builder {
    /// Write `image`'s whole filesystem to `send`, chunk by chunk; `send` says
    /// false when the client is gone, which ends the export.
    pub async fn export(
        &self,
        image: &Digest,
        send: impl FnMut(Vec<u8>) -> bool + Send + 'static,
    ) -> Result<(), BuildError> {
        let image = image.clone();
        let images = self.images.clone();
        self.blocking(move |_| {
            let view = images.view(Some(&image))?;
            let mut out = Chunks {
                buf: Vec::with_capacity(CHUNK),
                send,
            };
            Snapshotter::export_tree(&view.root(), &mut out)
                .map_err(|e| BuildError::Invalid(format!("-o: writing the result: {e}")))?;
            out.flush()
                .map_err(|e| BuildError::Invalid(format!("-o: sending the result: {e}")))
        })
        .await
    }
}

struct Chunks<F: FnMut(Vec<u8>) -> bool> {
    buf: Vec<u8>,
    send: F,
}

impl<F: FnMut(Vec<u8>) -> bool> Write for Chunks<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        if (self.send)(chunk) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            ))
        }
    }
}
