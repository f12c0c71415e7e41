//! Learning curves for `lsmc report --plot`: one panel per metric, one
//! line per series (the median over its runs at each evaluated step) with
//! the inter-quartile band around it, as the paper's Figure 2.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// A method's runs: run → metric → (step, value) points.
pub struct Series {
    pub label: String,
    pub runs: Vec<Vec<Vec<(u64, f64)>>>,
}

/// One line with its band: (x, low, middle, high) per point, per panel.
pub struct Curve {
    pub label: String,
    pub panels: Vec<Vec<(f64, f64, f64, f64)>>,
}

/// (step, q1, median, q3) at every step some run of the series evaluated.
fn summarise(series: &Series, metric: usize) -> Vec<(f64, f64, f64, f64)> {
    let mut at: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for run in &series.runs {
        for &(step, v) in run.get(metric).into_iter().flatten() {
            at.entry(step).or_default().push(v);
        }
    }
    at.into_iter()
        .map(|(step, mut vs)| {
            vs.sort_by(f64::total_cmp);
            let q = |p| crate::report::quantile(&vs, p);
            (step as f64, q(0.25), q(0.5), q(0.75))
        })
        .collect()
}

/// Matplotlib's tab10 and three more: distinct on white, none pale.
const COLORS: [(u8, u8, u8); 13] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 0),
    (102, 51, 153),
    (0, 102, 102),
];

fn register_font() {
    // ab_glyph draws text from a font in memory; registering twice is harmless.
    let _ =
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    titles: &[String],
    x_desc: &str,
    series: &[Curve],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((1, titles.len().max(1)));
    for (m, (panel, title)) in panels.iter().zip(titles).enumerate() {
        let empty = Vec::new();
        let curves: Vec<&Vec<_>> = series
            .iter()
            .map(|s| s.panels.get(m).unwrap_or(&empty))
            .collect();
        let xmax = curves
            .iter()
            .copied()
            .flatten()
            .map(|c| c.0)
            .fold(1.0f64, f64::max);
        let (lo, hi) = curves
            .iter()
            .copied()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                (lo.min(c.1), hi.max(c.3))
            });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..xmax, (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .x_label_formatter(&|x| format!("{x}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        for (i, (s, c)) in series.iter().zip(&curves).enumerate() {
            if c.is_empty() {
                continue;
            }
            let (r, g, b) = COLORS[i % COLORS.len()];
            let color = RGBColor(r, g, b).to_rgba();
            let band: Vec<(f64, f64)> = c
                .iter()
                .map(|p| (p.0, p.3))
                .chain(c.iter().rev().map(|p| (p.0, p.1)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, color.mix(0.15))))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(
                    c.iter().map(|p| (p.0, p.2)),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            // Markers keep a curve of one evaluation visible.
            chart
                .draw_series(c.iter().map(|p| Circle::new((p.0, p.2), 2, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// Learning curves: `titles.len()` panels side by side into `path`
/// (`.svg` or `.png`), the median over runs with the inter-quartile band.
pub fn curves(path: &Path, titles: &[String], series: &[Series]) -> Result<(), String> {
    let curves: Vec<Curve> = series
        .iter()
        .map(|s| Curve {
            label: s.label.clone(),
            panels: (0..titles.len()).map(|m| summarise(s, m)).collect(),
        })
        .collect();
    render(path, titles, "step", &curves)
}

/// Any precomputed lines and bands (e.g. a metric against a setting).
pub fn render(
    path: &Path,
    titles: &[String],
    x_desc: &str,
    curves: &[Curve],
) -> Result<(), String> {
    register_font();
    let size = (560 * titles.len().max(1) as u32, 460);
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            titles,
            x_desc,
            curves,
        ),
        Some("png") => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            titles,
            x_desc,
            curves,
        ),
        _ => Err("the plot file must end in .svg or .png".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_are_the_median_and_quartiles_over_runs_at_each_step() {
        let s = Series {
            label: "m".into(),
            runs: vec![
                vec![vec![(10, 1.0), (20, 4.0)]],
                vec![vec![(10, 2.0), (20, 5.0)]],
                vec![vec![(10, 3.0)]],
            ],
        };
        let c = summarise(&s, 0);
        assert_eq!(c, vec![(10.0, 1.5, 2.0, 2.5), (20.0, 4.25, 4.5, 4.75)]);
    }
}
