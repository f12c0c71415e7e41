//! A trained program evaluated again: the spec's metrics, the loss and,
//! for tree latents, the shapes of the induced trees, on any splits.

use lsmc_ir::plan::Split;
use lsmc_ir::Program;
use lsmc_runtime::exec::Executor;
use lsmc_runtime::real::Real;
use lsmc_runtime::records::Evaluation;
use lsmc_runtime::{data, train, Context};
use ndarray::ArrayD;

/// Evaluates `params` on `splits` (`None`: those the plan evaluates on),
/// running with `cx`.
pub fn evaluate<T: Real>(
    cx: &Context,
    program: &Program,
    params: &[ArrayD<T>],
    splits: Option<&[Split]>,
) -> Result<Evaluation, String> {
    let exec = Executor::new(&program.graph, cx).map_err(|e| e.to_string())?;
    let data: data::Dataset<T> = data::load(&program.data)?;
    let splits = splits.unwrap_or(&program.train.evaluate_on);
    // Every batch evaluation will run must fit before the first runs.
    let element = std::mem::size_of::<T>() as u64;
    for &part in splits {
        let split = data.split(part);
        lsmc_runtime::text_limit::check_split(&program.graph, split, part.name(), cx.max_words())?;
        for idx in split.evaluation_batches() {
            let lengths = split.longest(&idx);
            lsmc_runtime::memory::batch_fits(&program.graph, idx.len() as u64, &lengths, element)
                .map_err(|e| format!("{part}: {e}"))?;
        }
    }
    train::evaluate_splits(&exec, &program.train, params, &data, splits)
        .map_err(|e| format!("evaluation failed: {e}"))
}

/// The table `lsmc eval` prints for one run's results: the loss first,
/// then the metrics in the order they first appear.
pub fn table(results: &Evaluation) -> String {
    let mut columns: Vec<String> = vec!["loss".into()];
    for m in results.values().flat_map(|m| m.keys()) {
        if !columns.contains(m) {
            columns.push(m.clone());
        }
    }
    let width = |c: &str| c.len().max(8);
    let mut out = format!("  {:<6}", "split");
    for c in &columns {
        out += &format!("  {:>w$}", c, w = width(c));
    }
    out.push('\n');
    for (split, m) in results {
        out += &format!("  {split:<6}");
        for c in &columns {
            let cell = m.get(c).map_or("–".to_string(), |x| format!("{x:.4}"));
            out += &format!("  {:>w$}", cell, w = width(c));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_puts_the_loss_first_and_marks_missing_metrics() {
        let mut r = Evaluation::new();
        r.insert(
            "test".into(),
            [("loss".to_string(), 0.5), ("accuracy".to_string(), 0.75)].into(),
        );
        r.insert("valid".into(), [("loss".to_string(), 0.25)].into());
        let t = table(&r);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "  split       loss  accuracy");
        assert_eq!(lines[1], "  test      0.5000    0.7500");
        assert_eq!(lines[2], "  valid     0.2500         –");
    }
}
