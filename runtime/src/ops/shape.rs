//! Ops that move values around: `Concat` (last axis), masked `SumPool` /
//! `MeanPool` over the sequence axis, `Transpose` (the last two axes),
//! `Embedding` lookup and `OneHot`.
//! Index inputs (labels, ids, lengths) are carried as whole numbers in the
//! float type and receive no gradient.

use super::as_matrix;
use crate::real::Real;
use ndarray::{s, ArrayD, Axis, IxDyn};

pub fn concat<T: Real>(x: &[&ArrayD<T>]) -> ArrayD<T> {
    let axis = Axis(x[0].ndim() - 1);
    let views: Vec<_> = x.iter().map(|a| a.view()).collect();
    ndarray::concatenate(axis, &views)
        .expect("checked shapes agree")
        .as_standard_layout()
        .into_owned()
}

pub fn concat_vjp<T: Real>(x: &[&ArrayD<T>], g: &ArrayD<T>) -> Vec<Option<ArrayD<T>>> {
    let axis = g.ndim() - 1;
    let mut start = 0;
    x.iter()
        .map(|a| {
            let w = a.shape()[axis];
            let part = g
                .slice_axis(Axis(axis), ndarray::Slice::from(start..start + w))
                .as_standard_layout()
                .into_owned();
            start += w;
            Some(part)
        })
        .collect()
}

/// `x[B, N, D]` → `[B, D]`, summing (or averaging) the first `lengths[b]` rows.
pub fn pool<T: Real>(x: &ArrayD<T>, lengths: &ArrayD<T>, mean: bool) -> ArrayD<T> {
    let (b, d) = (x.shape()[0], x.shape()[2]);
    let mut out = ArrayD::zeros(IxDyn(&[b, d]));
    for i in 0..b {
        let n = lengths[[i]].f64() as usize;
        let rows = x.slice(s![i, ..n, ..]);
        let mut sum = rows.sum_axis(Axis(0));
        if mean && n > 0 {
            sum.mapv_inplace(|v| v / T::of(n as f64));
        }
        out.slice_mut(s![i, ..]).assign(&sum);
    }
    out
}

pub fn pool_vjp<T: Real>(
    x: &ArrayD<T>,
    lengths: &ArrayD<T>,
    g: &ArrayD<T>,
    mean: bool,
) -> ArrayD<T> {
    let mut dx = ArrayD::zeros(x.raw_dim());
    for i in 0..x.shape()[0] {
        let n = lengths[[i]].f64() as usize;
        let scale = if mean && n > 0 {
            T::one() / T::of(n as f64)
        } else {
            T::one()
        };
        let gi = g.slice(s![i, ..]).mapv(|v| v * scale);
        for t in 0..n {
            dx.slice_mut(s![i, t, ..]).assign(&gi);
        }
    }
    dx
}

/// `x[…, N, M]` → `[…, M, N]`, in standard layout (batched products read
/// their inputs as contiguous matrices). Its own VJP: the cotangent
/// transposed back.
pub fn transpose<T: Real>(x: &ArrayD<T>) -> ArrayD<T> {
    let r = x.ndim();
    let mut axes: Vec<usize> = (0..r).collect();
    axes.swap(r - 2, r - 1);
    x.view()
        .permuted_axes(IxDyn(&axes))
        .as_standard_layout()
        .into_owned()
}

/// `table[ids]`: `ids[…]` → `[…, E]`.
pub fn embedding<T: Real>(ids: &ArrayD<T>, table: &ArrayD<T>) -> ArrayD<T> {
    let e = table.shape()[1];
    let mut dims = ids.shape().to_vec();
    dims.push(e);
    let mut out = ndarray::Array2::zeros((ids.len(), e));
    for (mut row, &id) in out.outer_iter_mut().zip(ids.iter()) {
        row.assign(&table.slice(s![id.f64() as usize, ..]));
    }
    super::from_matrix(out, &dims)
}

/// Scatter-adds the rows of `g` into a zero table.
pub fn embedding_vjp<T: Real>(ids: &ArrayD<T>, table: &ArrayD<T>, g: &ArrayD<T>) -> ArrayD<T> {
    let mut dt = ArrayD::zeros(table.raw_dim());
    let gm = as_matrix(g, ids.len());
    for (row, &id) in gm.outer_iter().zip(ids.iter()) {
        let mut target = dt.slice_mut(s![id.f64() as usize, ..]);
        target += &row;
    }
    dt
}

/// `labels[…]` → `[…, K]`, a one at each label. Per-word labels
/// `[B, N]` come with their sentences' `lengths[B]`: a padding word's row
/// is zeros. A label outside `0..K` also gives a zero row (the loaders
/// never write one; the op does not index out of its output).
pub fn one_hot<T: Real>(labels: &ArrayD<T>, lengths: Option<&ArrayD<T>>, k: usize) -> ArrayD<T> {
    let mut dims = labels.shape().to_vec();
    dims.push(k);
    let mut out = ArrayD::zeros(IxDyn(&dims));
    let width = labels.shape().get(1).copied().unwrap_or(1).max(1);
    let lengths: Option<Vec<usize>> = lengths.map(|n| n.iter().map(|v| v.f64() as usize).collect());
    let real = |i: usize| match &lengths {
        Some(n) => n.get(i / width).is_some_and(|&n| i % width < n),
        None => true,
    };
    let flat = out
        .as_slice_mut()
        .expect("a new array is in standard layout");
    for (i, &l) in labels.iter().enumerate() {
        let l = l.f64();
        if real(i) && l >= 0.0 && l < k as f64 {
            flat[i * k + l as usize] = T::one();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::{check_inputs, check_op, random};
    use lsmc_ir::graph::Op;

    #[test]
    fn concat_vjp_matches_finite_differences() {
        check_op(&Op::Concat, &[&[3, 2], &[3, 4], &[3, 1]], &[]);
    }

    #[test]
    fn pooling_vjps_match_finite_differences_and_ignore_padding() {
        let x = random(&[3, 4, 2], 1);
        let lengths = ndarray::arr1(&[4.0, 1.0, 2.0]).into_dyn();
        check_inputs(&Op::SumPool, &[x.clone(), lengths.clone()]);
        check_inputs(&Op::MeanPool, &[x.clone(), lengths.clone()]);
        let mut padded = x.clone();
        padded[[1, 3, 0]] = 1e6;
        assert_eq!(
            super::pool(&x, &lengths, true),
            super::pool(&padded, &lengths, true)
        );
    }

    #[test]
    fn transpose_swaps_the_last_two_axes_and_its_vjp_matches_finite_differences() {
        let x = random(&[2, 3, 4], 1);
        let t = super::transpose(&x);
        assert_eq!(t.shape(), &[2, 4, 3]);
        assert_eq!(t[[1, 3, 2]], x[[1, 2, 3]]);
        assert!(t.is_standard_layout());
        check_op(&Op::Transpose, &[&[2, 3, 4]], &[]);
    }

    #[test]
    fn embedding_vjp_matches_finite_differences() {
        check_op(&Op::Embedding, &[&[2, 3], &[5, 4]], &[(0, 5)]);
    }

    #[test]
    fn one_hot_marks_the_label() {
        let l = ndarray::arr1(&[2.0, 0.0]).into_dyn();
        let o = super::one_hot(&l, None, 3);
        assert_eq!(
            o,
            ndarray::arr2(&[[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]).into_dyn()
        );
    }

    #[test]
    fn one_hot_of_word_labels_marks_real_words_and_zeroes_padding() {
        // Two sentences of 3 and 1 words, padded with label 0.
        let l = ndarray::arr2(&[[2.0, 0.0, 1.0], [1.0, 0.0, 0.0]]).into_dyn();
        let lengths = ndarray::arr1(&[3.0, 1.0]).into_dyn();
        let o = super::one_hot(&l, Some(&lengths), 3);
        assert_eq!(o.shape(), &[2, 3, 3]);
        let want = ndarray::arr3(&[
            [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ])
        .into_dyn();
        assert_eq!(o, want);
        // Without lengths every position is a word.
        let all = super::one_hot(&l, None, 3);
        assert_eq!(all[[1, 2, 0]], 1.0);
        // A label out of range never indexes past the row.
        let odd = ndarray::arr1(&[3.0, -1.0]).into_dyn();
        assert_eq!(
            super::one_hot(&odd, None, 3),
            ndarray::Array2::<f64>::zeros((2, 3)).into_dyn()
        );
    }
}
