//! The statistics, selection and output formats of `lsmc report`.
//!
//! Groups finished runs into configurations (model + overrides other than
//! the seed), picks per row (model + `--by` settings) the configuration whose
//! median validation metric over seeds is best, and reports the median and
//! standard error over seeds of its test metrics, as the paper's Table 2
//! does (`--summary mean-sd`: mean and standard deviation, as its Table 3,
//! and the best mean picks). Each run contributes the evaluation at which its `--select` metric
//! peaked (early stopping; `--at final` takes the last one instead).

use crate::runs::{self, Evaluation, Run, State};
use lsmc_runtime::records::SweepRecord;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What `lsmc report` was asked for (its flags, described there).
#[derive(Clone, Debug)]
pub struct Options {
    pub dirs: Vec<PathBuf>,
    pub select: String,
    pub at: At,
    pub by: Vec<String>,
    pub pivot: Option<String>,
    pub models: Vec<String>,
    pub filters: Vec<String>,
    pub split: String,
    pub metrics: Vec<String>,
    pub percent: bool,
    pub format: Format,
    pub summary: Summary,
    pub plot: Option<PathBuf>,
    pub plot_split: String,
    pub plot_x: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum At {
    Best,
    Final,
}

/// The centre and spread a table reports for each row's seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Summary {
    MedianSe,
    MeanSd,
}

impl Summary {
    fn of(self, s: &Stat) -> (f64, f64) {
        match self {
            Summary::MedianSe => (s.median, s.se),
            Summary::MeanSd => (s.mean, s.sd),
        }
    }

    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Summary::MedianSe => ("median", "standard error"),
            Summary::MeanSd => ("mean", "standard deviation"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Md,
    Csv,
    Json,
}

/// Median, mean, sample standard deviation and standard error (sd / √n)
/// of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub mean: f64,
    pub sd: f64,
    pub se: f64,
    pub n: usize,
}

pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between order statistics (numpy's default).
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn stat(values: &[f64]) -> Option<Stat> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Stat {
        median: quantile(&v, 0.5),
        mean,
        sd,
        se: sd / (n as f64).sqrt(),
        n,
    })
}

/// `split.metric` of an evaluation.
fn lookup(e: &Evaluation, key: &(String, String)) -> Option<f64> {
    e.get(&key.0)?.get(&key.1).copied()
}

/// The evaluation of a run that counts, and its step.
fn counted<'a>(run: &'a Run, select: &(String, String), at: At) -> Option<(u64, &'a Evaluation)> {
    match at {
        At::Final => run.evaluations.iter().next_back().map(|(s, e)| (*s, e)),
        // The first evaluation reaching the maximum: ties go to the earlier step.
        At::Best => run
            .evaluations
            .iter()
            .filter_map(|(s, e)| Some((*s, e, lookup(e, select)?)))
            .fold(
                None,
                |best: Option<(u64, &Evaluation, f64)>, (s, e, v)| match best {
                    Some((_, _, b)) if b >= v => best,
                    _ => Some((s, e, v)),
                },
            )
            .map(|(s, e, _)| (s, e)),
    }
}

/// One row of the table: a model and its `--by` settings, with the chosen
/// configuration's runs.
pub struct Row<'a> {
    pub model: String,
    /// `--by` values, then the pivot value if any.
    pub by: Vec<String>,
    /// The chosen configuration's other settings.
    pub chosen: Vec<(String, String)>,
    /// Configurations compared for this row.
    pub candidates: usize,
    pub runs: Vec<&'a Run>,
    /// For each run, the step whose metrics count.
    pub steps: Vec<u64>,
    /// metric → statistic over seeds (of `--split`), plus the select metric.
    pub stats: BTreeMap<String, Stat>,
    pub select: Option<Stat>,
}

type Settings = Vec<(String, String)>;
/// A model and its `--by` values.
type RowKey = (String, Vec<String>);

fn numeric_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// Groups, selects and aggregates.
#[allow(clippy::too_many_arguments)]
pub fn rows<'a>(
    runs: &'a [Run],
    order: &[String],
    by: &[String],
    select: &(String, String),
    at: At,
    summary: Summary,
    split: &str,
    metrics: &[String],
) -> Vec<Row<'a>> {
    // (model, by values) → config settings → runs
    let mut groups: BTreeMap<RowKey, BTreeMap<Settings, Vec<&Run>>> = BTreeMap::new();
    for run in runs {
        let settings = run.info.settings();
        let by_values: Vec<String> = by
            .iter()
            .map(|k| {
                settings
                    .iter()
                    .find(|(p, _)| p == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "-".into())
            })
            .collect();
        let mut rest: Settings = settings
            .into_iter()
            .filter(|(p, _)| !by.contains(p))
            .collect();
        rest.sort();
        groups
            .entry((run.info.model.clone(), by_values))
            .or_default()
            .entry(rest)
            .or_default()
            .push(run);
    }
    let mut out = Vec::new();
    for ((model, by_values), configs) in groups {
        let candidates = configs.len();
        let mut best: Option<(f64, Settings, Vec<&Run>)> = None;
        for (settings, rs) in configs {
            let vals: Vec<f64> = rs
                .iter()
                .filter_map(|r| counted(r, select, at).and_then(|(_, e)| lookup(e, select)))
                .collect();
            let score = stat(&vals).map_or(f64::NEG_INFINITY, |s| summary.of(&s).0);
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, settings, rs));
            }
        }
        let Some((_, chosen, mut rs)) = best else {
            continue;
        };
        rs.sort_by_key(|r| r.info.seed);
        let points: Vec<Option<(u64, &Evaluation)>> =
            rs.iter().map(|r| counted(r, select, at)).collect();
        let mut stats = BTreeMap::new();
        for m in metrics {
            let key = (split.to_string(), m.clone());
            let vals: Vec<f64> = points
                .iter()
                .flatten()
                .filter_map(|(_, e)| lookup(e, &key))
                .collect();
            if let Some(s) = stat(&vals) {
                stats.insert(m.clone(), s);
            }
        }
        let sel: Vec<f64> = points
            .iter()
            .flatten()
            .filter_map(|(_, e)| lookup(e, select))
            .collect();
        out.push(Row {
            model,
            by: by_values,
            chosen,
            candidates,
            steps: points.iter().map(|p| p.map_or(0, |(s, _)| s)).collect(),
            runs: rs,
            stats,
            select: stat(&sel),
        });
    }
    let rank = |m: &str| order.iter().position(|o| o == m).unwrap_or(usize::MAX);
    out.sort_by(|a, b| {
        rank(&a.model)
            .cmp(&rank(&b.model))
            .then_with(|| a.model.cmp(&b.model))
            .then_with(|| {
                a.by.iter()
                    .zip(&b.by)
                    .map(|(x, y)| numeric_order(x, y))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    });
    out
}

/// What `--percent` multiplies a metric by (`metric` or `split.metric`):
/// fractions become percentages; the loss and the sizes of trees (depth,
/// arc length) and of tag sequences (run length, tags used) are not
/// fractions and stay as they are.
fn scale_of(metric: &str, percent: bool) -> f64 {
    let name = metric.rsplit('.').next().unwrap_or(metric);
    if percent
        && !matches!(
            name,
            "loss" | "tree_depth" | "arc_length" | "run_length" | "tags_used"
        )
    {
        100.0
    } else {
        1.0
    }
}

/// A summary cell. One seed has no spread: its value alone, not `± 0`.
fn cell(s: Option<&Stat>, metric: &str, args: &Options) -> String {
    let k = scale_of(metric, args.percent);
    let digits = if args.percent { 2 } else { 4 };
    match s.map(|s| (args.summary.of(s), s.n)) {
        None => "–".into(),
        Some(((c, _), 1)) => format!("{:.digits$}", k * c),
        Some(((c, w), _)) => format!("{:.digits$} ± {:.digits$}", k * c, k * w),
    }
}

/// The settings every reported run shares: said once under the table
/// rather than in every row.
fn common_settings(runs: &[Run]) -> Settings {
    let mut common = runs.first().map(|r| r.info.settings()).unwrap_or_default();
    for r in runs {
        let s = r.info.settings();
        common.retain(|c| s.contains(c));
    }
    common.sort();
    common
}

fn chosen_text(c: &Settings, common: &Settings) -> String {
    let shown: Vec<_> = c.iter().filter(|s| !common.contains(s)).collect();
    if shown.is_empty() {
        "–".into()
    } else {
        shown
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The Markdown table; with a pivot the last `by` value spreads into column groups.
fn markdown(rows: &[Row], args: &Options, metrics: &[String], common: &Settings) -> String {
    let mut s = String::new();
    let by: Vec<&String> = args.by.iter().collect();
    if let Some(p) = &args.pivot {
        let mut pivots: Vec<String> = rows
            .iter()
            .filter_map(|r| r.by.last().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        pivots.sort_by(|a, b| numeric_order(a, b));
        // Rows keyed by (model, by values without the pivot), in first-seen order.
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for r in rows {
            let k = (r.model.clone(), r.by[..r.by.len() - 1].to_vec());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let mut head = vec!["model".to_string()];
        head.extend(by.iter().map(|b| b.to_string()));
        for pv in &pivots {
            for m in metrics {
                head.push(format!("{p}={pv} {m}"));
            }
        }
        head.push("seeds".into());
        head.push("chosen".into());
        s += &format!("| {} |\n", head.join(" | "));
        s += &format!("|{}\n", "---|".repeat(head.len()));
        for (model, byv) in keys {
            let mut line = vec![model.clone()];
            line.extend(byv.iter().cloned());
            let mut seeds = Vec::new();
            let mut chosen = Vec::new();
            for pv in &pivots {
                let r = rows.iter().find(|r| {
                    r.model == model && r.by[..r.by.len() - 1] == byv[..] && r.by.last() == Some(pv)
                });
                for m in metrics {
                    line.push(cell(r.and_then(|r| r.stats.get(m)), m, args));
                }
                if let Some(r) = r {
                    seeds.push(r.runs.len().to_string());
                    chosen.push(format!("{p}={pv}: {}", chosen_text(&r.chosen, common)));
                }
            }
            line.push(seeds.join("/"));
            line.push(chosen.join("; "));
            s += &format!("| {} |\n", line.join(" | "));
        }
    } else {
        let mut head = vec!["model".to_string()];
        head.extend(by.iter().map(|b| b.to_string()));
        head.extend(metrics.iter().map(|m| format!("{} {m}", args.split)));
        head.push(args.select.clone());
        head.push("seeds".into());
        head.push("chosen".into());
        s += &format!("| {} |\n", head.join(" | "));
        s += &format!("|{}\n", "---|".repeat(head.len()));
        for r in rows {
            let mut line = vec![r.model.clone()];
            line.extend(r.by.iter().cloned());
            line.extend(metrics.iter().map(|m| cell(r.stats.get(m), m, args)));
            line.push(cell(r.select.as_ref(), &args.select, args));
            line.push(r.runs.len().to_string());
            line.push(format!(
                "{} (best of {})",
                chosen_text(&r.chosen, common),
                r.candidates
            ));
            s += &format!("| {} |\n", line.join(" | "));
        }
    }
    let (centre, spread) = args.summary.describe();
    let mut capital = centre.to_string();
    capital[..1].make_ascii_uppercase();
    s += &format!(
        "\n{capital} ± {spread} over seeds; hyper-parameters chosen by the {centre} {} ({} evaluation of each run){}.\n",
        args.select,
        match args.at {
            At::Best => "best",
            At::Final => "final",
        },
        if common.is_empty() {
            String::new()
        } else {
            format!(
                "; every run: {}",
                common
                    .iter()
                    .map(|(k, v)| format!("`{k}={v}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    );
    s
}

fn row_json(r: &Row, args: &Options, by: &[String]) -> Value {
    let st = |m: &str, s: &Stat| {
        let k = scale_of(m, args.percent);
        json!({"median": s.median * k, "se": s.se * k, "mean": s.mean * k, "sd": s.sd * k, "n": s.n})
    };
    json!({
        "model": r.model,
        "by": by.iter().zip(&r.by).map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "chosen": r.chosen.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "candidates": r.candidates,
        "split": args.split,
        "metrics": r.stats.iter().map(|(k, s)| (k.clone(), st(k, s))).collect::<serde_json::Map<_, _>>(),
        "select": {"metric": args.select, "stat": r.select.as_ref().map(|s| st(&args.select, s))},
        "runs": r.runs.iter().zip(&r.steps).map(|(run, step)| json!({
            "dir": run.dir.display().to_string(),
            "seed": run.info.seed,
            "step": step,
        })).collect::<Vec<_>>(),
    })
}

/// One line per row and metric; fields holding a comma, a quote or a line
/// break are quoted by the `csv` crate, so each stays one field.
fn csv(rows: &[Row], args: &Options, by: &[String], metrics: &[String]) -> String {
    let (centre, spread) = match args.summary {
        Summary::MedianSe => ("median", "se"),
        Summary::MeanSd => ("mean", "sd"),
    };
    let mut head = vec!["model".to_string()];
    head.extend(by.iter().cloned());
    head.extend(
        ["chosen", "seeds", "split", "metric", centre, spread]
            .iter()
            .map(|s| s.to_string()),
    );
    let mut lines = vec![head];
    for r in rows {
        for m in metrics {
            if let Some(st) = r.stats.get(m) {
                let (c, w) = args.summary.of(st);
                let k = scale_of(m, args.percent);
                let mut line = vec![r.model.clone()];
                line.extend(r.by.iter().cloned());
                line.extend([
                    chosen_text(&r.chosen, &Vec::new()),
                    r.runs.len().to_string(),
                    args.split.clone(),
                    m.clone(),
                    (c * k).to_string(),
                    (w * k).to_string(),
                ]);
                lines.push(line);
            }
        }
    }
    csv_text(&lines)
}

fn csv_text(lines: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for l in lines {
        // Writing to memory cannot fail.
        let _ = w.write_record(l);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The model order of the sweeps' `sweep.json` files (the order specs were given).
/// Also says which `sweep.json` files could not be read.
fn sweep_order(dirs: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let mut order: Vec<String> = Vec::new();
    let mut unread = Vec::new();
    for d in dirs {
        let doc = match SweepRecord::read(d) {
            Ok(Some(doc)) => doc,
            Ok(None) => continue,
            Err(e) => {
                unread.push(format!("models are in name order: {e}"));
                continue;
            }
        };
        for r in doc.runs {
            if !order.contains(&r.info.model) {
                order.push(r.info.model);
            }
        }
    }
    (order, unread)
}

/// What a report says: warnings and a note for the terminal, the table,
/// and how drawing the plot went (`Ok(path)`, or why not), if one was asked for.
pub struct Report {
    pub warnings: Vec<String>,
    /// Runs skipped because a file of theirs could not be read (each has
    /// a warning); the table is not the whole of what was asked for.
    pub unreadable: usize,
    pub note: Option<String>,
    pub text: String,
    pub plot: Option<Result<PathBuf, String>>,
}

/// Reads the runs under `args.dirs`, groups, selects and aggregates them,
/// and formats the table; `Err` is a usage error to print.
pub fn report(args: &Options) -> Result<Report, String> {
    let Some(select) = args
        .select
        .split_once('.')
        .map(|(a, b)| (a.to_string(), b.to_string()))
    else {
        return Err(format!(
            "--select `{}`: expected SPLIT.METRIC, e.g. valid.accuracy",
            args.select
        ));
    };
    let mut filters = Vec::new();
    for f in &args.filters {
        match f.split_once('=') {
            Some((k, v)) => filters.push((k.trim().to_string(), v.trim().to_string())),
            None => return Err(format!("--where `{f}`: expected PATH=VALUE")),
        }
    }
    let mut by = args.by.clone();
    if let Some(p) = &args.pivot {
        if by.contains(p) {
            return Err(format!("`{p}` is both --by and --pivot"));
        }
        by.push(p.clone());
    }
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for d in &args.dirs {
        if !d.is_dir() {
            return Err(format!("{}: no such directory", d.display()));
        }
        for dir in runs::find(d) {
            match runs::read(&dir) {
                Ok(r) => all.push(r),
                Err(e) => problems.push(e),
            }
        }
    }
    let mut warnings: Vec<String> = problems.iter().map(|p| format!("skipped {p}")).collect();
    let total = all.len();
    let incomplete: Vec<String> = all
        .iter()
        .filter(|r| r.state != State::Complete)
        .map(|r| r.dir.display().to_string())
        .collect();
    let runs: Vec<Run> = all
        .into_iter()
        .filter(|r| r.state == State::Complete)
        .filter(|r| {
            let s = r.info.settings();
            filters.iter().all(|f| s.contains(f))
                && (args.models.is_empty() || args.models.contains(&r.info.model))
        })
        .collect();
    let note = (!incomplete.is_empty()).then(|| {
        format!(
            "{} of {total} runs are not finished and are left out (first: {})",
            incomplete.len(),
            incomplete[0]
        )
    });
    if runs.is_empty() {
        return Err(format!(
            "no finished runs{} under {}{}",
            if filters.is_empty() && args.models.is_empty() {
                ""
            } else {
                " matching --where and --model"
            },
            args.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            problems
                .iter()
                .map(|p| format!("\n  skipped {p}"))
                .collect::<String>()
        ));
    }
    let metrics: Vec<String> = if args.metrics.is_empty() {
        runs.iter()
            .flat_map(|r| r.evaluations.values())
            .filter_map(|e| e.get(&args.split))
            .flat_map(|m| m.keys().cloned())
            .filter(|k| k != "loss")
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        args.metrics.clone()
    };
    let (order, unread) = sweep_order(&args.dirs);
    warnings.extend(unread);
    let rows = rows(
        &runs,
        &order,
        &by,
        &select,
        args.at,
        args.summary,
        &args.split,
        &metrics,
    );
    let text = match args.format {
        Format::Md => markdown(&rows, args, &metrics, &common_settings(&runs)),
        Format::Csv => csv(&rows, args, &by, &metrics),
        Format::Json => {
            serde_json::to_string_pretty(&json!({
                "select": args.select,
                "at": format!("{:?}", args.at).to_lowercase(),
                "rows": rows.iter().map(|r| row_json(r, args, &by)).collect::<Vec<_>>(),
                "incomplete": incomplete,
            }))
            .unwrap_or_default()
                + "\n"
        }
    };
    let plot = args
        .plot
        .as_ref()
        .map(|path| draw(path, &rows, args, &by, &metrics).map(|_| path.clone()));
    Ok(Report {
        warnings,
        unreadable: problems.len(),
        note,
        text,
        plot,
    })
}

/// Draws `--plot`: the `--split` metrics against `--plot-x`, or learning curves.
fn draw(
    path: &std::path::Path,
    rows: &[Row],
    args: &Options,
    by: &[String],
    metrics: &[String],
) -> Result<(), String> {
    if let Some(x) = &args.plot_x {
        let Some(xi) = by.iter().position(|b| b == x) else {
            return Err(format!("--plot-x `{x}` must also be a --by setting"));
        };
        let mut curves: Vec<crate::plot::Curve> = Vec::new();
        for r in rows {
            let Ok(xv) = r.by[xi].parse::<f64>() else {
                return Err(format!("--plot-x `{x}`: `{}` is not a number", r.by[xi]));
            };
            let label = std::iter::once(r.model.clone())
                .chain(
                    by.iter()
                        .zip(&r.by)
                        .filter(|(k, _)| *k != x)
                        .map(|(k, v)| format!("{k}={v}")),
                )
                .collect::<Vec<_>>()
                .join(" ");
            let at = match curves.iter().position(|c| c.label == label) {
                Some(i) => i,
                None => {
                    curves.push(crate::plot::Curve {
                        label,
                        panels: vec![Vec::new(); metrics.len()],
                    });
                    curves.len() - 1
                }
            };
            for (m, metric) in metrics.iter().enumerate() {
                if let Some(st) = r.stats.get(metric) {
                    let k = scale_of(metric, args.percent);
                    let (md, se) = args.summary.of(st);
                    let (md, se) = (md * k, se * k);
                    curves[at].panels[m].push((xv, md - se, md, md + se));
                }
            }
        }
        for c in &mut curves {
            for p in &mut c.panels {
                p.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
        let titles: Vec<String> = metrics
            .iter()
            .map(|m| format!("{} {m}", args.split))
            .collect();
        crate::plot::render(path, &titles, x, &curves)
            .map_err(|e| format!("cannot draw {}: {e}", path.display()))
    } else {
        let series: Vec<crate::plot::Series> = rows
            .iter()
            .map(|r| crate::plot::Series {
                label: std::iter::once(r.model.clone())
                    .chain(by.iter().zip(&r.by).map(|(k, v)| format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(" "),
                runs: r
                    .runs
                    .iter()
                    .map(|run| {
                        metrics
                            .iter()
                            .map(|m| {
                                run.evaluations
                                    .iter()
                                    .filter_map(|(s, e)| {
                                        let k = scale_of(m, args.percent);
                                        Some((*s, e.get(&args.plot_split)?.get(m)? * k))
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect(),
            })
            .collect();
        let titles: Vec<String> = metrics
            .iter()
            .map(|m| format!("{} {m}", args.plot_split))
            .collect();
        crate::plot::curves(path, &titles, &series)
            .map_err(|e| format!("cannot draw {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_scales_fractions_but_not_losses_or_tree_sizes() {
        for m in [
            "accuracy",
            "valid.accuracy",
            "v_measure",
            "flat_trees",
            "path_match",
            "right_branching",
        ] {
            assert_eq!(scale_of(m, true), 100.0, "{m}");
        }
        for m in [
            "loss",
            "valid.loss",
            "tree_depth",
            "arc_length",
            "run_length",
            "z.tags_used",
        ] {
            assert_eq!(scale_of(m, true), 1.0, "{m}");
        }
        assert_eq!(scale_of("accuracy", false), 1.0);
    }

    #[test]
    fn one_seed_is_reported_without_a_spread() {
        let args = Options {
            dirs: Vec::new(),
            select: "valid.accuracy".into(),
            at: At::Best,
            by: Vec::new(),
            pivot: None,
            models: Vec::new(),
            filters: Vec::new(),
            split: "test".into(),
            metrics: Vec::new(),
            percent: false,
            format: Format::Md,
            summary: Summary::MedianSe,
            plot: None,
            plot_split: "test".into(),
            plot_x: None,
        };
        let one = stat(&[0.5490]).unwrap();
        assert_eq!(cell(Some(&one), "accuracy", &args), "0.5490");
        let two = stat(&[0.5, 0.7]).unwrap();
        assert_eq!(cell(Some(&two), "accuracy", &args), "0.6000 ± 0.1000");
        let percent = Options {
            percent: true,
            ..args
        };
        assert_eq!(cell(Some(&one), "accuracy", &percent), "54.90");
    }

    #[test]
    fn median_and_standard_error_match_hand_computation() {
        let s = stat(&[0.9, 0.7, 0.8, 1.0]).unwrap();
        assert!((s.median - 0.85).abs() < 1e-12);
        // mean 0.85, sample variance (0.0025+0.0225+0.0025+0.0225)/3 = 0.05/3
        let se = (0.05f64 / 3.0).sqrt() / 2.0;
        assert!((s.se - se).abs() < 1e-12);
        assert!((s.mean - 0.85).abs() < 1e-12);
        assert!((s.sd - (0.05f64 / 3.0).sqrt()).abs() < 1e-12);
        // Skewed: mean and median part.
        let t = stat(&[1.0, 2.0, 6.0]).unwrap();
        assert_eq!((t.median, t.mean), (2.0, 3.0));
        assert!((t.sd - 7f64.sqrt()).abs() < 1e-12);
        assert_eq!(Summary::MeanSd.of(&t), (3.0, t.sd));
        assert_eq!(Summary::MedianSe.of(&t), (2.0, t.se));
        assert_eq!(stat(&[0.5]).unwrap().se, 0.0);
        assert!(stat(&[]).is_none());
        assert!((quantile(&[1.0, 2.0, 3.0, 4.0], 0.25) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn a_csv_field_with_a_comma_quote_or_line_break_stays_one_field() {
        let awkward = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\r\nlf",
            "",
            " padded ",
        ];
        let lines = vec![
            vec!["model".to_string(), "chosen".to_string()],
            awkward.iter().map(|s| s.to_string()).collect(),
        ];
        let text = csv_text(&lines);
        assert!(text.starts_with("model,chosen\nplain,\"a,b\",\"say \"\"hi\"\"\","));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let back: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(back, lines);
    }
}
