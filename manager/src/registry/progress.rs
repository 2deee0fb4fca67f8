//! What a pull or push reports while it works: docker's progress vocabulary, one
//! event per layer step, streamed to the client as it happens.

use tokio::sync::mpsc;

/// One step of one layer (or of the whole operation when `id` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    /// Short layer digest (12 hex digits), or empty for a line about the image.
    pub id: String,
    /// docker's words: "Pulling fs layer", "Downloading", "Verifying Checksum",
    /// "Download complete", "Extracting", "Pull complete", "Already exists",
    /// "Pushing", "Pushed", "Layer already exists", "Mounted from …".
    pub status: String,
    /// Bytes done and total, for "Downloading"/"Pushing" (0 when unknown).
    pub current: u64,
    pub total: u64,
}

/// Where a pull or push sends its events. Dropped events never block the work.
#[derive(Debug, Clone)]
pub struct Progress(Option<mpsc::Sender<ProgressEvent>>);

impl Progress {
    /// Sends events to `tx`.
    pub fn new(tx: mpsc::Sender<ProgressEvent>) -> Progress {
        Progress(Some(tx))
    }

    /// Reports nothing.
    pub fn none() -> Progress {
        Progress(None)
    }

    pub fn send(&self, id: &str, status: impl Into<String>, current: u64, total: u64) {
        if let Some(tx) = &self.0 {
            // A slow client loses byte counts, never the work: try_send drops.
            let _ = tx.try_send(ProgressEvent {
                id: id.to_string(),
                status: status.into(),
                current,
                total,
            });
        }
    }

    /// A line that must arrive (status changes, not byte counts).
    pub async fn line(&self, id: &str, status: impl Into<String>) {
        if let Some(tx) = &self.0 {
            let _ = tx
                .send(ProgressEvent {
                    id: id.to_string(),
                    status: status.into(),
                    current: 0,
                    total: 0,
                })
                .await;
        }
    }
}
