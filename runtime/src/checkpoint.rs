//! Checkpoints: everything a run needs to continue bit-identically.
//!
//! Layout: the magic `LSMCKPT1`, the length of a JSON header (u64, little
//! endian), the header, the raw little-endian tensors it lists, and an
//! FNV-1a checksum (u64) of everything before it. A checkpoint is written
//! to a temporary file, synced, and renamed over the previous one, so a
//! process killed at any moment leaves the previous checkpoint readable.

use crate::real::Real;
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const MAGIC: &[u8; 8] = b"LSMCKPT1";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Identifies the spec, overrides, seed and element type that made it.
    pub fingerprint: String,
    pub dtype: String,
    pub step: u64,
    pub epoch: u64,
    /// Position in the current epoch's example order.
    pub position: usize,
    pub order: Vec<u32>,
    /// The training generator's position (ChaCha word position, decimal).
    pub rng_word_pos: String,
    pub optimizer_steps: u64,
    pub surrogate_state: std::collections::BTreeMap<String, f64>,
    pub best: Option<serde_json::Value>,
    pub seconds: f64,
    /// `(name, shape)` of each tensor group, in file order.
    pub tensors: Vec<(String, Vec<usize>)>,
}

#[derive(Debug)]
pub struct Checkpoint<T> {
    pub header: Header,
    /// Parameters, then the optimiser's first and second moments.
    pub tensors: Vec<ArrayD<T>>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn save<T: Real>(path: &Path, ck: &Checkpoint<T>) -> std::io::Result<()> {
    let header = serde_json::to_vec(&ck.header).map_err(std::io::Error::other)?;
    let size: usize = ck.tensors.iter().map(|t| t.len()).sum();
    let mut bytes = Vec::with_capacity(24 + header.len() + size * std::mem::size_of::<T>());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for t in &ck.tensors {
        for v in t.iter() {
            bytes.extend_from_slice(&v.to_le_bytes_vec());
        }
    }
    let sum = fnv1a(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());

    let tmp = path.with_extension("bin.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename itself must reach the disk.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads a checkpoint, verifying magic, checksum and sizes.
pub fn load<T: Real>(path: &Path) -> Result<Checkpoint<T>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = |why: &str| format!("{} is not a usable checkpoint: {why}", path.display());
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return Err(bad("it does not start with the lsmc checkpoint marker"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let sum = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if fnv1a(body) != sum {
        return Err(bad(
            "its checksum does not match (the file is truncated or corrupt)",
        ));
    }
    let hlen = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes")) as usize;
    let hend = 16usize
        .checked_add(hlen)
        .filter(|&e| e <= body.len())
        .ok_or_else(|| bad("its header length is wrong"))?;
    let header: Header = serde_json::from_slice(&body[16..hend])
        .map_err(|e| bad(&format!("its header does not parse: {e}")))?;
    if header.dtype != T::NAME {
        return Err(bad(&format!(
            "it holds {} values, this run uses {}",
            header.dtype,
            T::NAME
        )));
    }
    let width = std::mem::size_of::<T>();
    let mut at = hend;
    let mut tensors = Vec::new();
    for (name, shape) in &header.tensors {
        let n: usize = shape.iter().product();
        let end = at + n * width;
        if end > body.len() {
            return Err(bad(&format!(
                "tensor `{name}` runs past the end of the file"
            )));
        }
        let data: Vec<T> = body[at..end]
            .chunks_exact(width)
            .map(T::from_le_slice)
            .collect();
        tensors.push(ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| bad(&e.to_string()))?);
        at = end;
    }
    if at != body.len() {
        return Err(bad("it has trailing bytes"));
    }
    Ok(Checkpoint { header, tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint<f32> {
        Checkpoint {
            header: Header {
                fingerprint: "abc".into(),
                dtype: "f32".into(),
                step: 7,
                epoch: 1,
                position: 0,
                order: vec![2, 0, 1],
                rng_word_pos: "123".into(),
                optimizer_steps: 7,
                surrogate_state: Default::default(),
                best: None,
                seconds: 1.5,
                tensors: vec![("w".into(), vec![2, 2]), ("b".into(), vec![3])],
            },
            tensors: vec![
                ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]).into_dyn(),
                ndarray::arr1(&[5.0, 6.0, 7.0]).into_dyn(),
            ],
        }
    }

    #[test]
    fn a_checkpoint_round_trips() {
        let dir = std::env::temp_dir().join(format!("lsmc-ck-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.bin");
        save(&path, &sample()).unwrap();
        let back: Checkpoint<f32> = load(&path).unwrap();
        assert_eq!(back.header, sample().header);
        assert_eq!(back.tensors, sample().tensors);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_or_truncated_checkpoints_are_refused_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("lsmc-ck-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.bin");
        save(&path, &sample()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(load::<f32>(&path).unwrap_err().contains("checksum"));
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert!(load::<f32>(&path).is_err());
        std::fs::write(&path, b"hello").unwrap();
        assert!(load::<f32>(&path).unwrap_err().contains("marker"));
        save(&path, &sample()).unwrap();
        assert!(load::<f64>(&path).unwrap_err().contains("f32"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
