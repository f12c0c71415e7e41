//! TensorBoard event files: every line of a run's `metrics.jsonl` as
//! scalars, so `tensorboard --logdir runs/` shows each run's curves.
//!
//! An event file is a sequence of TFRecords — a little-endian `u64`
//! length, its masked CRC-32C, the bytes, their masked CRC-32C — each
//! holding an `Event` protocol buffer: a `file_version` first, then one
//! `Summary` of `simple_value`s per metrics line. The four fields used
//! are encoded by hand here (field numbers from TensorFlow's
//! `event.proto` and `summary.proto`); `tests/it` reads the files back
//! with TensorBoard's own `EventAccumulator`.
//!
//! The file mirrors `metrics.jsonl`: a resumed run, whose metrics lose
//! the lines after its checkpoint, rewrites the file from them, so no
//! step is shown twice.

use crate::records::{MetricsLine, LOG_SPLIT};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Names of event files start so; TensorBoard requires `tfevents` in them.
const PREFIX: &str = "events.out.tfevents.";

pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Replaces the run directory's event files with one that holds
    /// `lines` (the metrics so far).
    pub fn create(dir: &Path, lines: &[MetricsLine]) -> std::io::Result<EventWriter> {
        for entry in std::fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PREFIX) {
                std::fs::remove_file(entry.path())?;
            }
        }
        let now = wall_time();
        let path = dir.join(format!("{PREFIX}{}.lsmc", now as u64));
        let mut w = EventWriter {
            out: BufWriter::new(File::create(&path)?),
            path,
        };
        let mut event = Vec::new();
        double(&mut event, 1, now);
        bytes(&mut event, 3, b"brain.Event:2");
        w.record(&event)?;
        for line in lines {
            w.write(line)?;
        }
        w.out.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One metrics line as scalars tagged `SPLIT/NAME` (`valid/accuracy`;
    /// the training log's as `training/loss`, `training/lr`), flushed so a
    /// live TensorBoard sees it.
    pub fn write(&mut self, line: &MetricsLine) -> std::io::Result<()> {
        let split = if line.split == LOG_SPLIT {
            "training"
        } else {
            line.split.as_str()
        };
        let mut summary = Vec::new();
        for (name, v) in &line.values {
            let mut value = Vec::new();
            bytes(&mut value, 1, format!("{split}/{name}").as_bytes());
            // simple_value is a float (field 2, fixed 32-bit).
            key(&mut value, 2, 5);
            value.extend_from_slice(&(*v as f32).to_le_bytes());
            bytes(&mut summary, 1, &value);
        }
        let mut event = Vec::new();
        double(&mut event, 1, wall_time());
        key(&mut event, 2, 0);
        varint(&mut event, line.step);
        bytes(&mut event, 5, &summary);
        self.record(&event)?;
        self.out.flush()
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// TFRecord's checksum: CRC-32C, rotated right by 15 and offset.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn double(out: &mut Vec<u8>, field: u64, v: f64) {
    key(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length-delimited field: a string or an embedded message.
fn bytes(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut one = Vec::new();
        varint(&mut one, 1);
        assert_eq!(one, [1]);
    }

    #[test]
    fn the_masked_crc_of_the_crc32c_check_string() {
        // CRC-32C("123456789") = 0xe3069283 (RFC 3720's check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }
}
