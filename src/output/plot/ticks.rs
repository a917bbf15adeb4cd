//! Ticks and numbers of the plots: "nice" 1-2-5 steps, decades, a common ×10ⁿ factor,
//! compact and fixed-point number labels.

/// The "nice" step (1, 2 or 5 × 10^k) nearest above `raw`; at least 1 when `integer`.
pub(crate) fn nice_step(raw: f64, integer: bool) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    if integer && raw <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag);
    if integer {
        step.round().max(1.0)
    } else {
        step
    }
}

/// Ticks at multiples of a nice step inside [lo, hi], about `target` of them (integers
/// only when `integer`). A degenerate range gives its single value.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    if hi <= lo {
        return vec![if integer { lo.round() } else { lo }];
    }
    let step = nice_step((hi - lo) / target.max(1) as f64, integer);
    let eps = 1e-9 * step;
    let (k0, k1) = (((lo - eps) / step).ceil() as i64, ((hi + eps) / step).floor() as i64);
    (k0..=k1)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < eps {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Decade ticks on a log axis whose range is `lo..hi` in log10 units: integer exponents,
/// every decade or every 2nd, 3rd, 5th, ... so that there are at most about `target`.
pub(crate) fn decade_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let decades = (hi - lo).max(0.0);
    let step = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .find(|&s| decades / s <= target.max(1) as f64)
        .unwrap_or_else(|| (decades / target.max(1) as f64).ceil());
    let (k0, k1) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
    (k0..=k1).map(|k| k as f64 * step).collect()
}

/// Decimals needed to tell ticks `step` apart (steps from [`nice_step`]).
pub(crate) fn step_decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    (-(step.log10() + 1e-9).floor()).clamp(0.0, 12.0) as usize
}

/// `v` with `dec` decimals, a true minus sign, and no "-0".
pub(crate) fn fmt_fixed(v: f64, dec: usize) -> String {
    let s = format!("{:.*}", dec, v.abs());
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("\u{2212}{s}")
    } else {
        s
    }
}

/// Superscript digits (and minus) for an exponent: -15 → "⁻¹⁵".
pub(crate) fn superscript(n: i64) -> String {
    const D: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if n < 0 {
        s.push('⁻');
    }
    for c in n.unsigned_abs().to_string().chars() {
        s.push(D[c as usize - '0' as usize]);
    }
    s
}

/// Subscript digits: 12 → "₁₂".
pub(crate) fn subscript(n: usize) -> String {
    n.to_string().chars().map(|c| char::from_u32(0x2080 + (c as u32 - '0' as u32)).unwrap_or(c)).collect()
}

/// A decade label: 15 → "10¹⁵".
pub(crate) fn fmt_decade(k: f64) -> String {
    format!("10{}", superscript(k.round() as i64))
}

/// The power of ten to factor out of a set of tick values so that their labels stay
/// short (0 when they read well as they are: largest magnitude in [0.01, 10⁴)).
pub(crate) fn common_exponent(ticks: &[f64]) -> i32 {
    let m = ticks.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 {
        return 0;
    }
    let e = (m.log10() + 1e-9).floor() as i32;
    if (-2..4).contains(&e) {
        0
    } else {
        e
    }
}

/// Labels for evenly spaced ticks, and the power of ten factored out of them (the axis
/// or colour bar says "×10ⁿ" when it is not 0).
pub(crate) fn tick_labels(ticks: &[f64]) -> (Vec<String>, i32) {
    let e = common_exponent(ticks);
    let f = 10f64.powi(e);
    let step = ticks.windows(2).map(|w| (w[1] - w[0]).abs()).fold(f64::INFINITY, f64::min);
    let dec = if step.is_finite() {
        step_decimals(step / f)
    } else {
        // one tick: enough decimals for 3 significant digits
        ticks.first().map(|v| (v / f).abs()).filter(|a| *a > 0.0).map(|a| (2 - a.log10().floor() as i32).clamp(0, 6) as usize).unwrap_or(0)
    };
    (ticks.iter().map(|v| fmt_fixed(v / f, dec)).collect(), e)
}

/// A number for a title or note: `sig` significant digits, ×10ⁿ outside [10⁻³, 10⁴).
pub(crate) fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let e = a.log10().floor() as i32;
    let sig = sig.max(1) as i32;
    if (-3..4).contains(&e) {
        fmt_fixed(v, (sig - 1 - e).max(0) as usize)
    } else {
        let mut m = v / 10f64.powi(e);
        let mut e = e;
        // rounding may give 10.0
        if format!("{:.*}", (sig - 1) as usize, m.abs()).starts_with("10") {
            m /= 10.0;
            e += 1;
        }
        format!("{}×10{}", fmt_fixed(m, (sig - 1) as usize), superscript(e as i64))
    }
}

/// An energy for a legend or title: 4 decimals (eV), ×10ⁿ for tiny or huge values.
pub(super) fn fmt_energy(e: f64) -> String {
    if e != 0.0 && (e.abs() < 1e-3 || e.abs() >= 1e4) {
        fmt_sig(e, 4)
    } else {
        fmt_fixed(e, 4)
    }
}

/// The unit in the last parentheses of an axis label ("Energy (eV)" → "eV").
pub(super) fn energy_unit(label: &str) -> &str {
    match (label.rfind('('), label.rfind(')')) {
        (Some(a), Some(b)) if b > a + 1 => label[a + 1..b].split(',').next().unwrap_or("eV"),
        _ => "eV",
    }
}

/// (min, max) over the finite values, or None.
pub(crate) fn finite_range(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = it
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo <= hi).then_some((lo, hi))
}
