//! Parquet input for `kestrel ingest` (OCSF data lakes such as Amazon Security Lake store
//! events as Parquet): a file whose content starts with Parquet's magic bytes (`PAR1`)
//! is read as a stream of JSON lines, one object per row, made a batch at a time, so
//! the JSON-lines reader (types, flattening, rejects) handles it like any other input.
//! Timestamps become ISO 8601 text, as in JSON logs.

use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::io::parquet::Rows;

use super::IngestError;

/// The first bytes of every Parquet file.
pub(crate) const MAGIC: &[u8; 4] = b"PAR1";

/// Opens a Parquet file as JSON lines.
pub(crate) fn open(
    path: &Path,
    bytes_read: Arc<AtomicU64>,
) -> Result<Box<dyn BufRead + Send>, IngestError> {
    let rows = Rows::open(path)
        .map_err(|e| IngestError::io(path, io::Error::new(io::ErrorKind::InvalidData, e.0)))?;
    Ok(Box::new(io::BufReader::new(JsonLines {
        rows,
        buf: Vec::new(),
        pos: 0,
        count: bytes_read,
    })))
}

struct JsonLines {
    rows: Rows,
    buf: Vec<u8>,
    pos: usize,
    count: Arc<AtomicU64>,
}

impl Read for JsonLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            let Some(batch) = self
                .rows
                .next_batch()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?
            else {
                return Ok(0);
            };
            self.buf.clear();
            self.pos = 0;
            for row in batch {
                let mut obj = serde_json::Map::with_capacity(row.len());
                for (name, v) in self.rows.columns.iter().zip(row) {
                    if !v.is_null() {
                        obj.insert(name.clone(), v.to_json());
                    }
                }
                serde_json::to_writer(&mut self.buf, &obj)?;
                self.buf.push(b'\n');
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
