//! Progress display (indicatif): the bars of a solve and a sweep, and the setup phases.

use indicatif::{ProgressBar, ProgressStyle};

/// The progress of setup phases (painting the regions, sampling the interfaces) that run
/// longer than about a second: a bar of its own, or the message of `host` (the sweep's bar).
pub(super) fn setup_progress(quiet: bool, host: Option<ProgressBar>) -> Box<dyn FnMut(&crate::grid::SetupProgress)> {
    let mut phase: Option<(&'static str, std::time::Instant)> = None;
    let mut bar: Option<ProgressBar> = None;
    let mut saved: Option<String> = None;
    Box::new(move |p: &crate::grid::SetupProgress| {
        if quiet {
            return;
        }
        if p.done == 0 || phase.map(|f| f.0) != Some(p.phase) {
            phase = Some((p.phase, std::time::Instant::now()));
        }
        let long = phase.is_some_and(|f| f.1.elapsed().as_secs_f64() > 1.0);
        let pct = 100.0 * p.done as f64 / p.total.max(1) as f64;
        match &host {
            Some(h) if p.done < p.total && long => {
                let m = saved.get_or_insert_with(|| h.message());
                h.set_message(format!("{m}  setup: {} {pct:.0}%", p.phase));
            }
            Some(h) => {
                if let Some(m) = saved.take() {
                    h.set_message(m);
                }
            }
            None => {
                if bar.is_none() && p.done < p.total && long {
                    let b = ProgressBar::new(p.total as u64).with_elapsed(phase.map_or_else(Default::default, |f| f.1.elapsed()));
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {elapsed_precise} setup: {msg} {wide_bar} {percent}%")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_message(p.phase);
                    b.set_length(p.total as u64);
                    b.set_position(p.done as u64);
                    if p.done >= p.total {
                        b.finish_and_clear();
                        bar = None;
                    }
                }
            }
        }
    })
}
