//! Checkpoints: everything a run needs to continue bit-identically.
//!
//! A checkpoint is a safetensors file, so other tools (Python's
//! `safetensors`, candle, …) read lsmc's parameters: tensors `param.W`,
//! `m.W` and `v.W` (parameters, then the optimiser's first and second
//! moments) in the run's element type, and in the metadata, under `lsmc`,
//! the JSON of a [`Header`] (step, epoch, generator position, data cursor,
//! surrogate state, fingerprint, best evaluation, …) and, under
//! `lsmc.checksum`, an FNV-1a hash of the whole file with those 16 hex
//! digits read as zeros: the format itself checks sizes, not contents, and
//! a bit flipped anywhere, header included, must not go unnoticed. A
//! checkpoint is written to a
//! temporary file, synced, and renamed over the previous one, so a process
//! killed at any moment leaves the previous checkpoint readable.

use crate::real::Real;
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub use crate::records::CheckpointHeader as Header;

/// Metadata keys.
const HEADER_KEY: &str = "lsmc";
const CHECKSUM_KEY: &str = "lsmc.checksum";
/// What checkpoints of lsmc before safetensors start with.
const OLD_MAGIC: &[u8; 8] = b"LSMCKPT1";

#[derive(Debug)]
pub struct Checkpoint<T> {
    pub header: Header,
    /// In the order of `header.tensors`.
    pub tensors: Vec<ArrayD<T>>,
}

fn fnv1a(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

const FNV_START: u64 = 0xcbf29ce484222325;
const NO_SUM: &[u8; 16] = b"0000000000000000";

/// Where the checksum's 16 digits are: after the first `"lsmc.checksum":"`,
/// which is in the safetensors header (the lsmc header inside it is an
/// escaped string, so its quotes cannot match).
fn checksum_at(file: &[u8]) -> Option<usize> {
    let key = format!("\"{CHECKSUM_KEY}\":\"");
    let at = file.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    (at + NO_SUM.len() <= file.len()).then_some(at)
}

/// The file's hash with the checksum's digits read as zeros.
fn file_sum(file: &[u8], at: usize) -> String {
    let h = fnv1a(FNV_START, &file[..at]);
    let h = fnv1a(h, NO_SUM);
    format!("{:016x}", fnv1a(h, &file[at + NO_SUM.len()..]))
}

fn dtype<T: Real>() -> Dtype {
    if T::NAME == "f64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

pub fn save<T: Real>(path: &Path, ck: &Checkpoint<T>) -> std::io::Result<()> {
    if ck.header.tensors.len() != ck.tensors.len() {
        return Err(std::io::Error::other(format!(
            "{} tensor names for {} tensors",
            ck.header.tensors.len(),
            ck.tensors.len()
        )));
    }
    let header = serde_json::to_string(&ck.header).map_err(std::io::Error::other)?;
    let bytes: Vec<Vec<u8>> = ck
        .tensors
        .iter()
        .map(|t| t.iter().flat_map(|v| v.to_le_bytes_vec()).collect())
        .collect();
    let views = ck
        .header
        .tensors
        .iter()
        .zip(ck.tensors.iter().zip(&bytes))
        .map(|(name, (t, b))| {
            TensorView::new(dtype::<T>(), t.shape().to_vec(), b).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let metadata = HashMap::from([
        (HEADER_KEY.to_string(), header),
        (
            CHECKSUM_KEY.to_string(),
            String::from_utf8_lossy(NO_SUM).into_owned(),
        ),
    ]);
    let mut file = safetensors::serialize(views, Some(metadata)).map_err(std::io::Error::other)?;
    let at = checksum_at(&file)
        .ok_or_else(|| std::io::Error::other("the checksum's place is missing"))?;
    let sum = file_sum(&file, at);
    file[at..at + NO_SUM.len()].copy_from_slice(sum.as_bytes());

    let tmp = path.with_extension("bin.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&file)?;
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

/// Reads a checkpoint, verifying its format, checksum, element type and
/// sizes; `Err` names the file and says what is wrong with it.
pub fn load<T: Real>(path: &Path) -> Result<Checkpoint<T>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = |why: &str| format!("{} is not a usable checkpoint: {why}", path.display());
    if bytes.starts_with(OLD_MAGIC) {
        return Err(bad(
            "it was written by an older lsmc (format LSMCKPT1) that this one does not read; train the run again",
        ));
    }
    let checksum = checksum_at(&bytes);
    if let Some(at) = checksum {
        if bytes[at..at + NO_SUM.len()] != *file_sum(&bytes, at).as_bytes() {
            return Err(bad(
                "its checksum does not match (the file is truncated or corrupt)",
            ));
        }
    }
    let (_, index) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        bad(&format!(
            "it is not a safetensors file, or it is truncated or corrupt ({e})"
        ))
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(&e.to_string()))?;
    let Some(text) = index.metadata().as_ref().and_then(|m| m.get(HEADER_KEY)) else {
        return Err(bad("it holds tensors but no lsmc header"));
    };
    // lsmc always writes one: without it, nothing above was verified.
    if checksum.is_none() {
        return Err(bad(
            "it carries no checksum (the file is corrupt or not written by lsmc)",
        ));
    }
    let header: Header =
        serde_json::from_str(text).map_err(|e| bad(&format!("its header does not parse: {e}")))?;
    if header.dtype != T::NAME {
        return Err(bad(&format!(
            "it holds {} values, this run uses {}",
            header.dtype,
            T::NAME
        )));
    }
    let width = std::mem::size_of::<T>();
    let mut tensors = Vec::with_capacity(header.tensors.len());
    for name in &header.tensors {
        let view = file
            .tensor(name)
            .map_err(|_| bad(&format!("its header lists tensor `{name}`, which it lacks")))?;
        if view.dtype() != dtype::<T>() {
            return Err(bad(&format!(
                "tensor `{name}` holds {:?} values, the header says {}",
                view.dtype(),
                header.dtype
            )));
        }
        let data: Vec<T> = view
            .data()
            .chunks_exact(width)
            .map(T::from_le_slice)
            .collect();
        tensors.push(
            ArrayD::from_shape_vec(IxDyn(view.shape()), data).map_err(|e| bad(&e.to_string()))?,
        );
    }
    if file.len() != header.tensors.len() {
        return Err(bad("it holds tensors its header does not list"));
    }
    Ok(Checkpoint { header, tensors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Evaluated;

    fn header(dtype: &str) -> Header {
        Header {
            fingerprint: "abc".into(),
            dtype: dtype.into(),
            step: 7,
            epoch: 1,
            position: 0,
            order: vec![2, 0, 1],
            rng_word_pos: "123".into(),
            optimizer_steps: 7,
            // Running means as training leaves them: arithmetic results
            // that a lossy float reader would change in the last place.
            surrogate_state: [
                ("z/baseline".to_string(), 0.1 + 0.2),
                ("z/tiny".to_string(), 5e-324),
                ("z/huge".to_string(), 1.7976931348623157e308),
                ("z/negzero".to_string(), -0.0),
                ("z/third".to_string(), 1.0 / 3.0 * 0.7f64.exp()),
            ]
            .into(),
            best: Some(Evaluated {
                step: 7,
                epoch: 1,
                splits: [(
                    "valid".to_string(),
                    [("loss".to_string(), 0.1 * 3.0)].into(),
                )]
                .into(),
            }),
            best_score: Some(-(0.1 * 3.0)),
            seconds: 1.5,
            tensors: vec!["param.w".into(), "param.b".into()],
            stale_evaluations: 1,
            log_loss_sum: 0.1 + 0.2,
            log_steps: 4,
        }
    }

    fn sample<T: Real>() -> Checkpoint<T> {
        Checkpoint {
            header: header(T::NAME),
            tensors: vec![
                ndarray::arr2(&[[T::of(1.0), T::of(0.1 + 0.2)], [T::of(-0.0), T::of(4.0)]])
                    .into_dyn(),
                ndarray::arr1(&[T::of(5e-40), T::of(6.0), T::of(f64::MAX)]).into_dyn(),
            ],
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lsmc-ck-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn bits<T: Real>(ts: &[ArrayD<T>]) -> Vec<Vec<u8>> {
        ts.iter()
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes_vec()).collect())
            .collect()
    }

    fn round_trips<T: Real>() {
        let dir = scratch(T::NAME);
        let path = dir.join("checkpoint.bin");
        save(&path, &sample::<T>()).unwrap();
        let back: Checkpoint<T> = load(&path).unwrap();
        assert_eq!(back.header, sample::<T>().header);
        assert_eq!(bits(&back.tensors), bits(&sample::<T>().tensors));
        let state =
            |h: &Header| -> Vec<u64> { h.surrogate_state.values().map(|v| v.to_bits()).collect() };
        assert_eq!(state(&back.header), state(&sample::<T>().header));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_f32_checkpoint_round_trips_bit_for_bit() {
        round_trips::<f32>();
    }

    #[test]
    fn an_f64_checkpoint_round_trips_bit_for_bit() {
        round_trips::<f64>();
    }

    #[test]
    fn a_checkpoint_is_a_safetensors_file_with_its_header_as_metadata() {
        let dir = scratch("st");
        let path = dir.join("best.bin");
        save(&path, &sample::<f64>()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let w = file.tensor("param.w").unwrap();
        assert_eq!((w.dtype(), w.shape()), (Dtype::F64, &[2, 2][..]));
        assert_eq!(&w.data()[8..16], &(0.1f64 + 0.2).to_le_bytes());
        let (_, index) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta: serde_json::Value =
            serde_json::from_str(&index.metadata().as_ref().unwrap()[HEADER_KEY]).unwrap();
        assert_eq!(meta["step"], 7);
        assert_eq!(meta["fingerprint"], "abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_whose_checksum_is_gone_is_refused_not_read_unverified() {
        let dir = scratch("nosum");
        let path = dir.join("checkpoint.bin");
        save(&path, &sample::<f32>()).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let key = CHECKSUM_KEY.as_bytes();
        let at = bytes
            .windows(key.len())
            .position(|w| w == key)
            .expect("the checksum's key");
        // Same length, so the safetensors header still parses.
        bytes[at + key.len() - 1] = b'x';
        std::fs::write(&path, &bytes).unwrap();
        let e = load::<f32>(&path).unwrap_err();
        assert!(e.contains("no checksum"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_truncated_foreign_or_old_checkpoints_are_refused_with_the_file_named() {
        let dir = scratch("bad");
        let path = dir.join("checkpoint.bin");
        save(&path, &sample::<f32>()).unwrap();
        let good = std::fs::read(&path).unwrap();
        let named = |e: String| {
            assert!(e.contains(&path.display().to_string()), "{e}");
            e
        };
        // A flipped bit in a tensor, and one in the header's numbers.
        let mut bytes = good.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        assert!(named(load::<f32>(&path).unwrap_err()).contains("checksum"));
        let step = br#"\"step\":7"#;
        let at = good
            .windows(step.len())
            .position(|w| w == step)
            .expect("the step in the metadata")
            + step.len()
            - 1;
        let mut bytes = good.clone();
        bytes[at] = b'8';
        std::fs::write(&path, &bytes).unwrap();
        assert!(named(load::<f32>(&path).unwrap_err()).contains("checksum"));
        for cut in [good.len() - 3, good.len() / 2, 20, 4, 0] {
            std::fs::write(&path, &good[..cut]).unwrap();
            let e = named(load::<f32>(&path).unwrap_err());
            assert!(e.contains("not a usable checkpoint"), "{cut}: {e}");
        }
        std::fs::write(&path, b"hello").unwrap();
        assert!(named(load::<f32>(&path).unwrap_err()).contains("not a safetensors file"));
        let mut old = b"LSMCKPT1".to_vec();
        old.extend_from_slice(&[0; 40]);
        std::fs::write(&path, &old).unwrap();
        assert!(named(load::<f32>(&path).unwrap_err()).contains("older lsmc"));
        // Another tool's safetensors file: tensors, no lsmc header.
        let t = [0u8; 8];
        let other = safetensors::serialize(
            [("w", TensorView::new(Dtype::F32, vec![2], &t).unwrap())],
            None,
        )
        .unwrap();
        std::fs::write(&path, other).unwrap();
        assert!(named(load::<f32>(&path).unwrap_err()).contains("no lsmc header"));
        save(&path, &sample::<f32>()).unwrap();
        assert!(named(load::<f64>(&path).unwrap_err()).contains("holds f32 values"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
