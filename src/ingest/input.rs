//! Opening an input file: a buffered byte stream, gunzipped when the content starts with
//! the gzip magic bytes (1f 8b) whatever the file is called; bytes read from disk are
//! counted for the progress line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::IngestError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUFFER: usize = 256 * 1024;

/// Opens `path` for reading, transparently decompressing gzip (also several concatenated
/// gzip members, as `cat a.gz b.gz` makes).
pub(crate) fn open(
    path: &Path,
    bytes_read: Arc<AtomicU64>,
) -> Result<Box<dyn BufRead + Send>, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(IngestError::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "is a directory"),
        ));
    }
    let mut raw = BufReader::with_capacity(
        BUFFER,
        Counting {
            inner: file,
            count: bytes_read,
        },
    );
    let head = raw.fill_buf().map_err(|e| IngestError::io(path, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(BufReader::with_capacity(
            BUFFER,
            MultiGzDecoder::new(raw),
        )))
    } else {
        Ok(Box::new(raw))
    }
}

/// A reader that adds the bytes it reads to a shared counter.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
