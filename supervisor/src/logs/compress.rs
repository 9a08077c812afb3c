//! Gzip of rotated log files on a thread of its own, so compressing a file
//! of hundreds of megabytes never delays a line being written.
//!
//! A file is compressed to `<name>.gz.tmp`, fsync'd, renamed to
//! `<name>.gz`, and only then is `<name>` removed: a crash or a full disk at
//! any step leaves the uncompressed file whole (and a `.tmp` that the next
//! listing removes). Retention may delete a file while it is being
//! compressed; whichever of its forms this thread then finds missing, it
//! stops quietly and leaves nothing behind.

use std::fs::{self, File};
use std::io::{self, BufWriter, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::rotation::{gzip_path, partial_path};

/// The handle of the compression thread. Clones share the thread, which
/// ends when the last handle is dropped, after the files queued so far.
#[derive(Clone)]
pub struct Compressor {
    jobs: mpsc::Sender<Job>,
}

enum Job {
    Gzip(PathBuf),
    Flush(mpsc::SyncSender<()>),
}

impl Compressor {
    /// Starts the thread. One is enough for a whole supervisor: rotations
    /// are rare next to the time a gzip takes.
    pub fn start() -> io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        thread::Builder::new()
            .name("corral-gzip".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        Job::Gzip(path) => compress(&path),
                        Job::Flush(done) => drop(done.send(())),
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Queues a rotated file; it is compressed after those queued before.
    pub(crate) fn gzip(&self, path: PathBuf) {
        // The thread only goes away by panicking; its files then stay
        // uncompressed and are queued again by the next run's listing.
        let _ = self.jobs.send(Job::Gzip(path));
    }

    /// Waits up to `timeout` for the files queued so far to be compressed,
    /// so that shutdown can leave finished `.gz` files rather than cut one
    /// short; false if the time ran out.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, finished) = mpsc::sync_channel(1);
        self.jobs.send(Job::Flush(done)).is_ok() && finished.recv_timeout(timeout).is_ok()
    }
}

fn compress(plain: &Path) {
    let partial = partial_path(plain);
    match gzip(plain, &partial) {
        Ok(()) => {}
        // Retention deleted the file (or its partial gzip) meanwhile.
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let _ = fs::remove_file(&partial);
        }
        Err(err) => {
            let _ = fs::remove_file(&partial);
            tracing::warn!(path = %plain.display(), %err, "cannot compress a rotated log file; it stays uncompressed");
        }
    }
}

fn gzip(plain: &Path, partial: &Path) -> io::Result<()> {
    let mut source = File::open(plain)?;
    let mut encoder = GzEncoder::new(
        BufWriter::new(File::create(partial)?),
        Compression::default(),
    );
    io::copy(&mut source, &mut encoder)?;
    let file = encoder
        .finish()?
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    let gzipped = gzip_path(plain);
    fs::rename(partial, &gzipped)?;
    if let Err(err) = fs::remove_file(plain) {
        // Deleted by retention while being compressed: the copy goes too.
        let _ = fs::remove_file(&gzipped);
        if err.kind() != ErrorKind::NotFound {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(path: &Path) -> Vec<u8> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn replaces_a_file_by_its_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("api-out.1.log");
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        fs::write(&plain, &text).unwrap();
        let compressor = Compressor::start().unwrap();
        compressor.gzip(plain.clone());
        assert!(compressor.flush(Duration::from_secs(10)));
        assert!(!plain.exists() && !partial_path(&plain).exists());
        assert_eq!(gunzip(&gzip_path(&plain)), text);
    }

    #[test]
    fn a_failure_leaves_the_file_uncompressed() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("api-out.1.log");
        fs::write(&plain, b"kept\n").unwrap();
        // A directory where the partial gzip goes: creating it fails even as root.
        fs::create_dir(partial_path(&plain)).unwrap();
        let compressor = Compressor::start().unwrap();
        compressor.gzip(plain.clone());
        assert!(compressor.flush(Duration::from_secs(10)));
        assert_eq!(fs::read(&plain).unwrap(), b"kept\n");
        assert!(!gzip_path(&plain).exists());
    }

    #[test]
    fn a_file_deleted_before_its_turn_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("api-out.1.log");
        let compressor = Compressor::start().unwrap();
        compressor.gzip(plain.clone());
        assert!(compressor.flush(Duration::from_secs(10)));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
