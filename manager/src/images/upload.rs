//! Uploads: the body of an `import` or `load` arrives as chunks, but the verbs
//! read a blocking `Read` (and a docker archive may name its layers only in a
//! `manifest.json` that comes last), so the body is spooled to a file under
//! `<root>/tmp` first. The file goes when the [`Spooled`] upload is dropped;
//! berthd clears the directory at start for what a crash left.

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use super::{Error, ImageService, Result};

/// An upload being written.
pub struct Upload {
    path: PathBuf,
    file: tokio::fs::File,
    /// Removes the file should the upload be abandoned half-way.
    spooled: Spooled,
}

/// A complete upload, removed on drop.
#[derive(Debug)]
pub struct Spooled(PathBuf);

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ImageService {
    /// A new, empty upload in the spool directory.
    pub async fn upload(&self) -> Result<Upload> {
        tokio::fs::create_dir_all(&self.uploads)
            .await
            .map_err(io(&self.uploads))?;
        let path = self
            .uploads
            .join(format!("upload-{}", hex::encode(rand::random::<[u8; 8]>())));
        let file = tokio::fs::File::create(&path).await.map_err(io(&path))?;
        Ok(Upload {
            spooled: Spooled(path.clone()),
            path,
            file,
        })
    }
}

impl Upload {
    /// Appends one chunk of the body.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).await.map_err(io(&self.path))
    }

    /// The whole body is here.
    pub async fn finish(mut self) -> Result<Spooled> {
        self.file.flush().await.map_err(io(&self.path))?;
        Ok(self.spooled)
    }
}

impl Spooled {
    /// The body, from its first byte.
    pub fn open(&self) -> Result<std::fs::File> {
        std::fs::File::open(&self.0).map_err(Error::Stream)
    }
}
