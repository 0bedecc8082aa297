//! Opening an input file: a buffered byte stream, gunzipped when the content starts with
//! the gzip magic bytes (1f 8b) whatever the file is called; the (decompressed) bytes
//! read are counted for the progress line.

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
    let mut raw = BufReader::with_capacity(BUFFER, file);
    let head = raw.fill_buf().map_err(|e| IngestError::io(path, e))?;
    if head.starts_with(super::parquet::MAGIC) {
        return super::parquet::open(path, bytes_read);
    }
    if head.starts_with(&GZIP_MAGIC) {
        let inner = MultiGzDecoder::new(raw);
        Ok(Box::new(BufReader::with_capacity(
            BUFFER,
            Counting {
                inner,
                count: bytes_read,
            },
        )))
    } else {
        // Already buffered: count what the reader consumes.
        Ok(Box::new(CountingBuf {
            inner: raw,
            count: bytes_read,
        }))
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

/// A buffered reader that adds the bytes consumed from it to a shared counter.
struct CountingBuf<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: BufRead> Read for CountingBuf<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingBuf<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(path: &Path) -> (Vec<u8>, u64) {
        let count = Arc::new(AtomicU64::new(0));
        let mut input = open(path, Arc::clone(&count)).unwrap();
        let mut out = Vec::new();
        input.read_to_end(&mut out).unwrap();
        (out, count.load(Ordering::Relaxed))
    }

    #[test]
    fn gzip_by_magic_bytes_and_concatenated_members() {
        let dir = std::env::temp_dir().join(format!("kestrel-ingest-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gz = |text: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text).unwrap();
            e.finish().unwrap()
        };
        let plain = dir.join("a.gz");
        std::fs::write(&plain, b"not gzip\n").unwrap();
        let two = dir.join("b.log");
        std::fs::write(&two, [gz(b"one\n"), gz(b"two\n")].concat()).unwrap();
        let empty = dir.join("c.jsonl");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(read_all(&plain), (b"not gzip\n".to_vec(), 9));
        assert_eq!(read_all(&two), (b"one\ntwo\n".to_vec(), 8));
        assert_eq!(read_all(&empty), (Vec::new(), 0));
        assert!(open(&dir, Arc::default()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
