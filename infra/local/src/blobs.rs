//! Stored files on the developer's machine: one file per key under a
//! folder (beside the database), served by the local API itself.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tidings::channels::blobs::{BlobError, BlobKey, BlobStore, Download};

pub struct FolderBlobs {
    root: PathBuf,
}

impl FolderBlobs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// A key's segments are checked (no `..`, no leading `/`, no empty or
    /// `.` segment), so its path stays below the root.
    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

fn io_error(error: &std::io::Error) -> BlobError {
    let code = format!("io_{:?}", error.kind());
    match error.kind() {
        std::io::ErrorKind::PermissionDenied => BlobError::Refused(code),
        _ => BlobError::Unavailable(code),
    }
}

/// Writes to a temporary file beside the target, then renames it over the
/// target: a reader sees the old file or the whole new one, never part of
/// one, and a crash leaves at most a stray temporary file. Its name has a
/// `~`, which no key has, so it never shadows a stored file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    std::fs::create_dir_all(parent)?;
    let name = path.file_name().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let temporary = parent.join(format!("{}~{}.tmp", name.to_string_lossy(), uuid::Uuid::new_v4().simple()));
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(err) => {
            // The temporary file is ours alone; it may not even exist.
            let _ = std::fs::remove_file(&temporary);
            Err(err)
        }
    }
}

/// The file's bytes, `None` when there is none.
fn read(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| BlobError::Unavailable("io_task".into()))?
        .map_err(|err| io_error(&err))
}

#[async_trait]
impl BlobStore for FolderBlobs {
    /// The content type is not kept: the API serves a download with the one
    /// its record names.
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, _content_type: &str) -> Result<(), BlobError> {
        let path = self.path(key);
        blocking(move || write_atomically(&path, &bytes)).await
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(key);
        blocking(move || read(&path)).await
    }

    /// The local runner has no other server to send a browser to: the API
    /// serves the bytes itself.
    async fn download(&self, key: &BlobKey, _filename: &str, _content_type: &str) -> Result<Download, BlobError> {
        self.get(key).await?.map(Download::Bytes).ok_or(BlobError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reply: &str) -> BlobKey {
        BlobKey::attachment(&"acct:1".parse().unwrap(), reply, "0").unwrap()
    }

    #[tokio::test]
    async fn keeps_files_under_the_root_by_key_and_reads_them_back() {
        let root = tempfile::tempdir().unwrap();
        let blobs = FolderBlobs::new(root.path());
        let pdf = b"%PDF-1.4 a fax".to_vec();
        blobs.put(&key("r1"), pdf.clone(), "application/pdf").await.unwrap();

        assert_eq!(std::fs::read(root.path().join(key("r1").as_str())).unwrap(), pdf);
        assert_eq!(blobs.get(&key("r1")).await.unwrap(), Some(pdf.clone()));
        assert_eq!(blobs.download(&key("r1"), "fax.pdf", "application/pdf").await.unwrap(), Download::Bytes(pdf));
    }

    #[tokio::test]
    async fn writing_the_same_key_again_leaves_one_whole_file_and_no_temporary_one() {
        let root = tempfile::tempdir().unwrap();
        let blobs = FolderBlobs::new(root.path());
        blobs.put(&key("r1"), b"first".to_vec(), "text/plain").await.unwrap();
        blobs.put(&key("r1"), b"second".to_vec(), "text/plain").await.unwrap();
        blobs.put(&key("r1"), b"second".to_vec(), "text/plain").await.unwrap();

        assert_eq!(blobs.get(&key("r1")).await.unwrap(), Some(b"second".to_vec()));
        let folder = root.path().join(key("r1").as_str());
        let files: Vec<_> =
            std::fs::read_dir(folder.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, vec![folder.file_name().unwrap().to_owned()]);
    }

    #[tokio::test]
    async fn a_missing_file_reads_as_none_and_cannot_be_downloaded() {
        let root = tempfile::tempdir().unwrap();
        let blobs = FolderBlobs::new(root.path());
        assert_eq!(blobs.get(&key("nothing")).await.unwrap(), None);
        assert_eq!(blobs.download(&key("nothing"), "a.pdf", "application/pdf").await, Err(BlobError::NotFound));
    }

    #[tokio::test]
    async fn a_root_that_cannot_hold_files_is_an_error_not_a_panic() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let blobs = FolderBlobs::new(&file);
        let err = blobs.put(&key("r1"), b"x".to_vec(), "text/plain").await.unwrap_err();
        assert!(matches!(err, BlobError::Unavailable(_) | BlobError::Refused(_)), "{err:?}");
    }
}
