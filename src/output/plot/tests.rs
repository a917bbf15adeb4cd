use super::*;
use crate::grid::Grid;

fn out_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qdsim-plot-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn png_ok(p: &Path, min_bytes: u64) {
    let b = std::fs::read(p).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
    assert!(b.len() as u64 > min_bytes, "{} is only {} bytes", p.display(), b.len());
}

/// Finite square well of depth 0.3 eV and width 10 nm, with sin/cos-like states.
fn well() -> (Vec<f64>, Vec<f64>, Vec<(f64, Vec<f64>)>) {
    let n = 401;
    let x: Vec<f64> = (0..n).map(|i| -20.0 + 40.0 * i as f64 / (n - 1) as f64).collect();
    let v: Vec<f64> = x.iter().map(|&x| if x.abs() < 5.0 { 0.0 } else { 0.3 }).collect();
    let states = (0..3)
        .map(|k| {
            let e = 0.03 * ((k + 1) * (k + 1)) as f64;
            let psi: Vec<f64> = x
                .iter()
                .map(|&x| {
                    let q = (k + 1) as f64 * std::f64::consts::PI * (x + 6.0) / 12.0;
                    if x.abs() < 6.0 { q.sin().powi(2) / 6.0 } else { 0.0 }
                })
                .collect();
            (e, psi)
        })
        .collect();
    (x, v, states)
}

#[test]
fn plots_1d_states() {
    let (x, v, states) = well();
    let p = out_dir().join("states.png");
    plot_1d_states(&p, "Finite quantum well, GaAs/AlGaAs", &x, &v, &states, &[false, false, true], "Energy (eV)").unwrap();
    png_ok(&p, 10_000);
}

#[test]
fn plots_1d_with_non_finite_and_one_state() {
    let (x, mut v, mut states) = well();
    v[10] = f64::NAN;
    v[20] = f64::INFINITY;
    states.truncate(1);
    states[0].1[200] = f64::NAN;
    let p = out_dir().join("states_nan.png");
    plot_1d_states(&p, "one state", &x, &v, &states, &[], "Energy (eV)").unwrap();
    png_ok(&p, 5_000);
    // No states at all, and a state with NaN energy.
    let p = out_dir().join("states_none.png");
    plot_1d_states(&p, "none", &x, &v, &[(f64::NAN, vec![0.0; x.len()])], &[], "E (eV)").unwrap();
    png_ok(&p, 5_000);
}

#[test]
fn empty_or_mismatched_input_is_an_error() {
    let p = out_dir().join("never.png");
    assert!(plot_1d_states(&p, "t", &[], &[], &[], &[], "E").is_err());
    assert!(plot_1d_states(&p, "t", &[1.0, 2.0], &[0.0], &[], &[], "E").is_err());
    assert!(plot_1d_states(&p, "t", &[f64::NAN], &[0.0], &[], &[], "E").is_err());
    assert!(plot_panels(&p, "t", &[]).is_err());
    let mut bad = panel("b", 3, 3, (0.0, 1.0), (0.0, 1.0), |_, _| 0.0);
    bad.values.pop();
    assert!(plot_panels(&p, "t", &[bad]).is_err());
    assert!(!p.exists());
}

fn panel(title: &str, nx: usize, ny: usize, xr: (f64, f64), yr: (f64, f64), f: impl Fn(f64, f64) -> f64) -> Panel {
    let mut values = Vec::with_capacity(nx * ny);
    for j in 0..ny {
        for i in 0..nx {
            let x = xr.0 + (i as f64 + 0.5) / nx as f64 * (xr.1 - xr.0);
            let y = yr.0 + (j as f64 + 0.5) / ny as f64 * (yr.1 - yr.0);
            values.push(f(x, y));
        }
    }
    Panel::new(title, nx, ny, xr, yr, "x (nm)", "y (nm)", values, "eV")
}

#[test]
fn plots_panels() {
    let g = |x: f64, y: f64| (-(x * x + y * y) / 50.0).exp();
    let mut panels = vec![
        panel("|ψ₀|² (nm⁻²), z = 0", 80, 80, (-20.0, 20.0), (-20.0, 20.0), g),
        panel("Conduction band edge (eV)", 120, 40, (-30.0, 30.0), (-10.0, 10.0), |x, y| {
            if x * x / 100.0 + y * y / 25.0 < 1.0 { 0.0 } else { 0.3 }
        }),
        panel("Potential (V)", 30, 90, (0.0, 10.0), (0.0, 30.0), |x, y| -1e-4 * x * y),
        panel("Constant, with NaN", 20, 20, (0.0, 5.0), (0.0, 5.0), |_, _| 1.0),
    ];
    panels[3].values[5] = f64::NAN;
    panels[0].values[0] = f64::INFINITY;
    let p = out_dir().join("panels.png");
    plot_panels(&p, "Quantum dot, lens-shaped InAs on GaAs", &panels).unwrap();
    png_ok(&p, 20_000);
    let p1 = out_dir().join("panel1.png");
    plot_panels(&p1, "A single panel with a rather long figure title for its width", &panels[..1]).unwrap();
    png_ok(&p1, 5_000);
    let all_nan = Panel { values: vec![f64::NAN; 400], ..panels[3].clone() };
    let p2 = out_dir().join("panel_nan.png");
    plot_panels(&p2, "all NaN", &[all_nan]).unwrap();
    png_ok(&p2, 2_000);
}

#[test]
fn clipping() {
    let c = ClipRect { x0: 0.0, x1: 1.0, y0: 0.0, y1: 1.0 };
    let segs = c.polylines(vec![(-1.0, 0.5), (0.5, 0.5), (2.0, 0.5)].into_iter());
    assert_eq!(segs, vec![vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)]]);
    let segs = c.polylines(vec![(0.1, 0.1), (0.2, 2.0), (0.3, 0.1), (f64::NAN, 0.0), (0.5, 0.5), (0.6, 0.6)].into_iter());
    assert_eq!(segs.len(), 3);
}

// --- ticks and numbers (issue 11 item 14: log axes labelled "1000000000000000.0" and
// "9.999999999e-5", iteration axes with ticks at 1.5, colour bars with only min/max).

#[test]
fn log_axes_get_decade_ticks_labelled_as_powers_of_ten() {
    // densities from 10⁵ to 10¹⁸ cm⁻³: plotters' own labels were "1000000000000000.0"
    let a = Axis::log(5.0, 18.0, "density (cm⁻³)");
    assert!(a.ticks.iter().all(|t| t.fract() == 0.0), "{:?}", a.ticks);
    assert!(a.ticks.len() >= 5 && a.ticks.len() <= 11, "{:?}", a.ticks);
    assert!(a.labels.iter().all(|l| l.starts_with("10") && l.chars().count() <= 5), "{:?}", a.labels);
    assert_eq!(decade_ticks(5.0, 18.0, 10), vec![6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]);
    // a convergence history from 10⁻⁷ to 10⁻¹ V: was "9.999999999e-5"
    let a = Axis::log(-7.0, -1.0, "V");
    assert_eq!(a.ticks, vec![-7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0]);
    assert_eq!(a.labels[2], "10⁻⁵");
    assert_eq!(fmt_decade(15.0), "10¹⁵");
    assert_eq!(fmt_decade(0.0), "10⁰");
    assert_eq!(superscript(-12), "⁻¹²");
    // many decades: every 5th
    assert_eq!(decade_ticks(-30.0, 20.0, 10), vec![-30.0, -25.0, -20.0, -15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]);
}

#[test]
fn integer_axes_get_integer_ticks() {
    // 4 iterations: ticks were at 1.5, 2.5, 3.5
    assert_eq!(nice_ticks(1.0, 4.0, 10, true), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(nice_ticks(1.0, 2.0, 10, true), vec![1.0, 2.0]);
    assert_eq!(nice_ticks(0.0, 100.0, 8, true), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
    let a = Axis::linear(1.0, 7.0, 10, true, "iteration");
    assert_eq!(a.labels, vec!["1", "2", "3", "4", "5", "6", "7"]);
    // one point
    assert_eq!(nice_ticks(3.0, 3.0, 10, true), vec![3.0]);
}

#[test]
fn linear_ticks_are_round_and_compact() {
    let t = nice_ticks(-200.0, 200.0, 8, false);
    assert_eq!(t, vec![-200.0, -150.0, -100.0, -50.0, 0.0, 50.0, 100.0, 150.0, 200.0]);
    let (l, e) = tick_labels(&t);
    assert_eq!(e, 0);
    assert_eq!(l[1], "\u{2212}150"); // no "-150.0"
    assert_eq!(l[4], "0");
    let (l, _) = tick_labels(&nice_ticks(0.6, 0.9, 8, false));
    assert!(l.iter().all(|s| s.len() == 4 && s.starts_with("0.")), "{l:?}");
    // |ψ|² of order 10⁻³ nm⁻²: a common factor, not 0.0080
    let t = nice_ticks(0.0, 8.05e-3, 5, false);
    let (l, e) = tick_labels(&t);
    assert_eq!(e, -3);
    assert_eq!(l, vec!["0", "2", "4", "6", "8"]);
    // a charge density of ±2.7×10¹⁸ cm⁻³
    let (l, e) = tick_labels(&nice_ticks(-2.7e18, 2.7e18, 4, false));
    assert_eq!(e, 18);
    assert_eq!(l, vec!["\u{2212}2", "0", "2"]);
    // floating-point noise does not show
    let (l, _) = tick_labels(&[0.1, 0.2, 0.30000000000000004]);
    assert_eq!(l, vec!["0.1", "0.2", "0.3"]);
}

#[test]
fn numbers_in_titles_and_notes_are_compact() {
    assert_eq!(fmt_sig(1.38e-42, 3), "1.38×10⁻⁴²");
    assert_eq!(fmt_sig(9.999999999e-5, 3), "1.00×10⁻⁴");
    assert_eq!(fmt_sig(0.0805, 3), "0.0805");
    assert_eq!(fmt_sig(54.321, 3), "54.3");
    assert_eq!(fmt_sig(-0.1789, 4), "\u{2212}0.1789");
    assert_eq!(fmt_sig(0.0, 3), "0");
    assert_eq!(fmt_fixed(-0.00001, 2), "0.00");
    assert_eq!(fmt_energy(0.65331), "0.6533");
    assert_eq!(subscript(12), "₁₂");
    assert_eq!(fmt_trim(-20.0), "\u{2212}20");
    assert_eq!(fmt_trim(2.5), "2.5");
    assert_eq!(fmt_trim(0.0004), "0");
}

#[test]
fn colour_bars_have_several_ticks_and_start_densities_at_zero() {
    let mut p = panel("|ψ₀|²", 40, 40, (-20.0, 20.0), (-20.0, 20.0), |x, y| 8.05e-3 * (-(x * x + y * y) / 20.0).exp() + 1.38e-42);
    p.unit = "nm⁻²".into();
    let s = Scale::of(&p);
    assert_eq!(s.lo, 0.0);
    assert!(s.ticks.len() >= 4, "{:?}", s.ticks);
    assert_eq!(s.unit, "×10⁻³ nm⁻²");
    // log scale: decades, at most 12 below the maximum
    p.scale = ColourScale::Log;
    p.values = (0..1600).map(|k| 10f64.powf(-9.0 + 27.0 * k as f64 / 1599.0)).collect();
    let s = Scale::of(&p);
    assert!((s.hi - 18.0).abs() < 1e-9 && (s.lo - 6.0).abs() < 1e-9, "{} {}", s.lo, s.hi);
    assert!(s.ticks.iter().all(|(v, l)| v.fract() == 0.0 && l.starts_with("10")), "{:?}", s.ticks);
    // diverging: symmetric about 0
    p.scale = ColourScale::Diverging;
    p.values = (0..1600).map(|k| -2.67e18 + 3.67e18 * k as f64 / 1599.0).collect();
    let s = Scale::of(&p);
    assert_eq!(s.lo, -s.hi);
    assert!((s.frac(0.0) - 0.5).abs() < 1e-12);
}

#[test]
fn structure_panels_show_every_state_zoomed_to_it() {
    // a 10 nm dot in a 200 × 100 nm domain: the old slices showed it on a few pixels
    let g = Grid::uniform(&[200, 100], &[1.0, 1.0]);
    let regions: Vec<u16> = (0..g.len()).map(|c| { let p = g.center(c); u16::from(p[0] * p[0] + p[1] * p[1] < 100.0) }).collect();
    let pot: Vec<f64> = regions.iter().map(|&r| if r == 1 { -0.2 } else { 0.6 }).collect();
    let dens: Vec<Vec<f64>> = (0..10)
        .map(|k| (0..g.len()).map(|c| { let p = g.center(c); (-(p[0] * p[0] + p[1] * p[1]) / (30.0 + k as f64)).exp() }).collect())
        .collect();
    let states: Vec<SliceState> = dens.iter().enumerate().map(|(n, d)| SliceState { energy: 0.01 * n as f64, density: d, unbound: n == 9 }).collect();
    let panels = structure_panels(&g, "potential energy", "eV", &pot, &regions, &states, "eV");
    assert_eq!(panels.len(), 11);
    let ((x0, x1), (y0, y1)) = panels[0].view.expect("zoomed");
    assert!(x1 - x0 < 60.0 && y1 - y0 < 60.0 && x0 <= -10.0 && x1 >= 10.0, "{x0} {x1} {y0} {y1}");
    assert!(x0.fract() == 0.0 && x1.fract() == 0.0);
    assert!(panels[10].title.contains("not bound"), "{}", panels[10].title);
    let note = zoom_note(&panels);
    assert!(note.contains("x \u{2212}") && note.contains("(domain \u{2212}100…100 nm)") && note.contains("(domain \u{2212}50…50 nm)"), "{note}");
    assert_eq!(panels[1].unit, "nm⁻²");
    let p = out_dir().join("structure.png");
    plot_panels(&p, "2D dot", &panels).unwrap();
    png_ok(&p, 20_000);
    // 3D: an xy and an xz plane for the potential and for each state
    let g = Grid::uniform(&[24, 24, 16], &[1.0, 1.0, 1.0]);
    let d: Vec<f64> = (0..g.len()).map(|c| { let p = g.center(c); (-(p[0] * p[0] + p[1] * p[1]) / 10.0 - (p[2] - 3.0).powi(2)).exp() }).collect();
    let pot = vec![0.0; g.len()];
    let states: Vec<SliceState> = (0..3).map(|n| SliceState { energy: n as f64, density: &d, unbound: false }).collect();
    let panels = structure_panels(&g, "V", "eV", &pot, &[], &states, "eV");
    assert_eq!(panels.len(), 8);
    assert!(panels[2].title.contains("z = 3.5 nm") || panels[2].title.contains("z = 2.5 nm"), "{}", panels[2].title);
    let p = out_dir().join("structure3d.png");
    plot_panels(&p, "3D dot", &panels).unwrap();
    png_ok(&p, 20_000);
}

#[test]
fn line_plots_draw_log_axes_and_coinciding_dashed_lines() {
    let x: Vec<f64> = (0..200).map(|i| -100.0 + i as f64).collect();
    let n: Vec<f64> = x.iter().map(|&x| 1e17 / (1.0 + (-(x / 10.0)).exp()) + 1e-20).collect();
    let p0: Vec<f64> = x.iter().map(|&x| 1e17 / (1.0 + (x / 10.0).exp())).collect();
    let nd = vec![1e17; x.len()];
    let p = out_dir().join("densities.png");
    let s = |label: &str, y: &'static [f64], dashed| crate::output::lines::Series { label: label.into(), y, dashed };
    let (n, p0, nd): (&'static [f64], &'static [f64], &'static [f64]) = (n.leak(), p0.leak(), nd.leak());
    crate::output::lines::plot_lines(&p, "p-n", &x, "x (nm)", "density (cm⁻³)", &[s("n", n, false), s("p", p0, false), s("N_D", nd, true), s("N_A", nd, true)], true).unwrap();
    png_ok(&p, 10_000);
    let it = [1.0, 2.0, 3.0, 4.0];
    let p = out_dir().join("convergence.png");
    crate::output::lines::plot_lines(&p, "scf", &it, "iteration", "V", &[s("change", &[1e-2, 5e-3, 4e-5, 8e-7], false)], true).unwrap();
    png_ok(&p, 5_000);
    // nothing positive on a log axis is an error, not a panic
    assert!(crate::output::lines::plot_lines(&p, "t", &it, "i", "V", &[s("zero", &[0.0; 4], false)], true).is_err());
}
