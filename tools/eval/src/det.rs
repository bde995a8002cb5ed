//! The DET curve (false non-match rate against false match rate, both on log axes) of each
//! protocol, drawn with plotters into a PNG.

use anyhow::{Context, Result};
use plotters::prelude::*;
use std::path::Path;

/// (FMR, FNMR) at false match rates from 1e-6 to 1 (points the impostors can resolve).
pub fn curve(genuine: &[f32], impostor: &[f32]) -> Vec<(f64, f64)> {
    let mut imp = impostor.to_vec();
    imp.sort_by(|a, b| b.total_cmp(a));
    let mut gen_sorted = genuine.to_vec();
    gen_sorted.sort_by(f32::total_cmp);
    let n = imp.len().max(1) as f64;
    let mut points = Vec::new();
    for i in 0..=120 {
        let fmr = 10f64.powf(-6.0 + 6.0 * i as f64 / 120.0);
        if fmr * n < 1.0 {
            continue;
        }
        let k = ((fmr * n) as usize).min(imp.len().saturating_sub(1));
        let t = imp[k];
        let below = gen_sorted.partition_point(|&g| g < t);
        let fnmr = below as f64 / gen_sorted.len().max(1) as f64;
        points.push((fmr, fnmr.max(1e-4)));
    }
    points
}

/// Draws the curves (the face matcher's FMR against FNMR, both on log axes).
pub fn plot(path: &Path, curves: &[(&str, Vec<(f64, f64)>)]) -> Result<()> {
    let axes = Axes {
        caption: "Kaoyomi face check on LFW: DET (all-vs-all, held-out halves pooled)",
        x: ("false match rate", 1e-6),
        y: ("false non-match rate", 1e-4),
    };
    plot_with(path, &axes, curves)
}

/// A DET plot's caption and axes (each: its name and lowest value; both run to 1, log scale).
pub struct Axes<'a> {
    /// Above the plot.
    pub caption: &'a str,
    /// Horizontal axis.
    pub x: (&'a str, f64),
    /// Vertical axis.
    pub y: (&'a str, f64),
}

/// Draws `curves` on `axes` into a PNG at `path`.
pub fn plot_with(path: &Path, axes: &Axes<'_>, curves: &[(&str, Vec<(f64, f64)>)]) -> Result<()> {
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .context("reading DejaVu Sans (Debian fonts-dejavu-core) for the plot's labels")?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("the font could not be registered"))?;
    let root = BitMapBackend::new(path, (900, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(axes.caption, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((axes.x.1..1f64).log_scale(), (axes.y.1..1f64).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(axes.x.0)
        .y_desc(axes.y.0)
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK, RGBColor(200, 120, 0)];
    for (i, (name, points)) in curves.iter().enumerate() {
        let c = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
