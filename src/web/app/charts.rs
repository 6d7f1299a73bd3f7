//! Charts for the HR console, drawn on the server as SVG with plotters: no script and no
//! request to anywhere else, and every chart has its numbers in a table beside it. Pure.

use plotters::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

/// A bar per `(label, value)`, negative values below the axis, as an `<svg>` element.
pub fn bars(caption: &str, bars: &[(String, i64)]) -> Result<String, ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let mut svg = String::new();
    {
        let width = (80 + 60 * bars.len() as u32).clamp(320, 720);
        let root = SVGBackend::with_string(&mut svg, (width, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let low = bars.iter().map(|b| b.1).min().unwrap_or(0).min(0);
        let high = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
        let headroom = ((high - low) / 10).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(
                (0..bars.len().max(1)).into_segmented(),
                (low - if low < 0 { headroom } else { 0 })..(high + headroom),
            )
            .map_err(|e| fail(&e))?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                bars.get(*i).map(|b| b.0.clone()).unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().max(1))
            .x_label_formatter(&label)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, value))| {
                let color = if *value < 0 {
                    RGBColor(196, 49, 43)
                } else {
                    RGBColor(22, 119, 255)
                };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0),
                        (SegmentValue::Exact(i + 1), *value),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 6, 6);
                bar
            }))
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

/// Colours of the lines, in order; a chart shows at most this many series.
const PALETTE: [RGBColor; 6] = [
    RGBColor(22, 119, 255),
    RGBColor(250, 140, 22),
    RGBColor(82, 196, 26),
    RGBColor(196, 49, 43),
    RGBColor(114, 46, 209),
    RGBColor(19, 194, 194),
];

/// The most lines one chart draws; the table beside it has every row.
pub const MAX_LINES: usize = PALETTE.len();

/// A line per `(name, values)` over the points of `x`, with a legend, as an `<svg>` element;
/// series past [`MAX_LINES`] are left out.
pub fn lines(
    caption: &str,
    x: &[String],
    series: &[(String, Vec<i64>)],
) -> Result<String, ChartError> {
    let fail = |e: &dyn std::fmt::Display| ChartError(e.to_string());
    let series = &series[..series.len().min(MAX_LINES)];
    let values = || series.iter().flat_map(|(_, v)| v.iter().copied());
    let low = values().min().unwrap_or(0).min(0);
    let high = values().max().unwrap_or(0).max(1);
    let headroom = ((high - low) / 10).max(1);
    let last = x.len().saturating_sub(1).max(1) as i32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            // Room for the last month's label, centred on the right edge.
            .margin_right(32)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(0..last, low..(high + headroom))
            .map_err(|e| fail(&e))?;
        let label = |i: &i32| {
            usize::try_from(*i)
                .ok()
                .and_then(|i| x.get(i))
                .cloned()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(x.len().max(2))
            .x_label_formatter(&label)
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| fail(&e))?;
        for ((name, points), color) in series.iter().zip(PALETTE) {
            let path: Vec<(i32, i64)> = points
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as i32, v))
                .collect();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    path.clone(),
                    color.stroke_width(2),
                )))
                .map_err(|e| fail(&e))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            chart
                .draw_series(path.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 11))
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(svg)
}

/// The Gini coefficient of `values` (0: everyone the same, towards 1: one has it all);
/// negative values count as 0, and no points at all as equality.
pub fn gini(values: &[i64]) -> f64 {
    let mut v: Vec<f64> = values.iter().map(|&x| x.max(0) as f64).collect();
    let total: f64 = v.iter().sum();
    if v.len() < 2 || total == 0.0 {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len() as f64;
    let weighted: f64 = v
        .iter()
        .enumerate()
        .map(|(i, x)| (i as f64 + 1.0) * x)
        .sum();
    (2.0 * weighted) / (n * total) - (n + 1.0) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_chart_is_an_svg_with_a_bar_and_a_label_per_value() {
        let data = [
            ("0".to_string(), 3),
            ("1–9".to_string(), 12),
            ("<0".to_string(), -2),
        ];
        let svg = bars("积分分布", &data).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for label in ["积分分布", "1–9", "&lt;0"] {
            assert!(svg.contains(label), "{label} missing");
        }
        // Background, plot area and one filled rectangle a bar.
        let filled = svg.matches("<rect").count();
        assert!(filled >= data.len(), "{filled} rectangles");
        assert!(svg.contains("#C4312B"), "a negative bar is red");
        assert!(
            bars("空", &[]).unwrap().starts_with("<svg"),
            "no data still draws"
        );
    }

    #[test]
    fn a_line_chart_draws_a_line_and_a_legend_entry_per_series() {
        let months: Vec<String> = ["2026-09", "2026-10", "2026-11"].map(String::from).to_vec();
        let series = vec![
            ("研发部".to_string(), vec![10, 25, 18]),
            ("销售部".to_string(), vec![-4, 0, 30]),
        ];
        let svg = lines("月度趋势", &months, &series).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for label in ["月度趋势", "研发部", "销售部", "2026-10"] {
            assert!(svg.contains(label), "{label} missing");
        }
        // A line a series and a stroke a legend entry.
        assert!(
            svg.matches("<polyline").count() >= 2 * series.len(),
            "{svg}"
        );
        let many: Vec<(String, Vec<i64>)> =
            (0..10).map(|i| (format!("d{i}"), vec![i, i])).collect();
        let svg = lines("多", &months[..2], &many).unwrap();
        assert!(
            svg.contains("d5") && !svg.contains("d6"),
            "at most MAX_LINES lines"
        );
        assert!(
            lines("空", &[], &[]).unwrap().starts_with("<svg"),
            "no data still draws"
        );
    }

    #[test]
    fn gini_is_zero_for_equals_and_grows_with_inequality() {
        let cases: [(&[i64], f64); 5] = [
            (&[5, 5, 5, 5], 0.0),
            (&[0, 0, 0, 0], 0.0),
            (&[0, 0, 0, 12], 0.75),
            (&[1, 2, 3, 4], 0.25),
            (&[-3, 0, 0, 12], 0.75),
        ];
        for (values, want) in cases {
            assert!(
                (gini(values) - want).abs() < 1e-9,
                "{values:?}: {}",
                gini(values)
            );
        }
    }
}
