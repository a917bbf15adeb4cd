//! What the CLI prints after a run: the summary of a solve (both modes) and the table of a
//! sweep, read from the typed results ([`crate::pipeline::report`]).

use std::path::Path;

use crate::pipeline::report::{DeviceResults, SchrodingerResults};
use crate::pipeline::sweep::{SweepReport, SweepSpec};
use crate::pipeline;

/// A number as results.json writes it (serde_json's shortest form; null when not finite).
pub(super) fn json_number(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_default()
}

/// A peak-memory figure in MiB (NaN when unknown).
pub(super) fn mib(peak: Option<Option<u64>>) -> f64 {
    peak.flatten().map_or(f64::NAN, |b| b as f64) / 1048576.0
}

pub(super) fn print_device_summary(res: &DeviceResults, out_dir: &Path) {
    let g = &res.grid;
    outln!(
        "{}: {} grid {} ({} unknowns), mode {} on {}",
        res.scene_file,
        g.dimension,
        serde_json::to_string(&g.cells).unwrap_or_default(),
        g.unknowns,
        res.mode,
        res.backend.name
    );
    let c = &res.classical_poisson;
    outln!("  classical Poisson: {} Newton steps ({} PCG iterations), converged {}", c.iterations, c.cg_iterations, c.converged);
    outln!("  potential span {:.4} V; Fermi levels: electrons {:.4} eV, holes {:.4} eV", res.potential_v.span, res.fermi_levels_ev.electrons, res.fermi_levels_ev.holes);
    let ch = &res.charge;
    let unit = ch.unit;
    outln!("  electrons {:.4e} {unit}, holes {:.4e} {unit}, net charge {:.4e} {unit}", ch.electrons, ch.holes, ch.net);
    if let Some(q) = &res.quantum {
        outln!("  self-consistent in {} iterations; quantum region {} cells, {:.4e} electrons ({})", res.self_consistency.iterations, q.cells, q.electrons_total, q.electrons_unit);
        outln!("  state    energy (eV)   E - E_F (meV)   electrons");
        let mut unbound = 0;
        for s in &q.states {
            let free = !s.bound;
            unbound += free as usize;
            // (the index unpadded, as it always printed)
            outln!("  {}  {:>13.6}   {:>13.3}   {:.4e}{}", s.index, s.energy_ev, s.energy_minus_ef_mev, s.electrons, if free { "   not bound *" } else { "" });
        }
        if unbound > 0 {
            outln!(
                "  * at or above the continuum edge ({:.6} eV, the lowest band edge on the quantum region's faces inside the domain): not bound by the structure; such states hold no electrons",
                q.continuum_edge_ev.unwrap_or(f64::NAN)
            );
        }
    }
    let t = &res.timings_s;
    outln!("  {} in {:.2} s (solve {:.2}); peak memory {:.0} MiB", res.status.as_str(), t.total, t.solve, mib(res.peak_memory_bytes));
    outln!("  results in {}", out_dir.display());
}

pub(super) fn print_summary(res: &SchrodingerResults, out_dir: &Path) {
    let g = &res.grid;
    outln!(
        "{}: {} grid {} ({} unknowns), {} via {} on {}",
        res.scene_file,
        g.dimension,
        serde_json::to_string(&g.cells).unwrap_or_default(),
        g.unknowns,
        res.carrier,
        res.solver.method,
        res.backend.name,
    );
    outln!("  state    energy (eV)   above band edge (meV)   residual (eV)");
    let mut unbound = 0;
    for s in &res.states {
        let free = !s.bound;
        unbound += free as usize;
        // (the index unpadded, as it always printed)
        outln!(
            "  {}  {:>13.6}   {:>21.3}   {:>13.2e}{}",
            s.index,
            s.energy_ev,
            s.energy_above_band_edge_mev,
            s.residual_ev,
            if free { "   not bound *" } else { "" }
        );
    }
    if unbound > 0 {
        outln!(
            "  * at or above the continuum threshold ({:.6} eV, the lowest energy at which a state can leave through the domain's boundary): not bound by the structure, confined only by the domain's walls",
            res.reference.continuum_threshold_ev.unwrap_or(f64::NAN)
        );
    }
    let t = &res.timings_s;
    outln!(
        "  {} in {:.2} s (setup {:.2}, assemble {:.2}, solve {:.2}, output {:.2}); peak memory {:.0} MiB",
        res.status.as_str(),
        t.total,
        t.setup,
        t.assemble,
        t.solve,
        t.output,
        res.peak_memory_bytes.flatten().map_or(0.0, |b| b as f64) / 1048576.0
    );
    outln!("  results in {}", out_dir.display());
}

/// The table of a sweep: one line per point (value, convergence, products, the two lowest
/// levels, the states not bound), the totals and the folder.
pub(super) fn print_sweep(scene: &Path, spec: &SweepSpec, report: &SweepReport, cold: bool) {
    let params: Vec<String> = spec.parameters.iter().map(|p| pipeline::sweep::label_of(&p.path)).collect();
    outln!("{}: {} points over {}", scene.display(), report.points.len(), params.join(" with "));
    outln!("  point  {:>14}  converged  H·x      E0 (eV)       E1 (eV)     not bound", "value");
    let mut flagged = 0;
    for p in &report.points {
        let v = p.values.first().map(|v| v.to_string()).unwrap_or_default();
        let e = |n: usize| p.energies.get(n).map(|e| format!("{e:>12.6}")).unwrap_or_else(|| format!("{:>12}", "-"));
        let unbound: Vec<String> = pipeline::sweep::unbound_states(p).iter().map(usize::to_string).collect();
        flagged += !unbound.is_empty() as usize;
        outln!(
            "  {:>5}  {:>14}  {:>9}  {:>6}  {}  {}     {}",
            p.index,
            v,
            if p.converged { "yes" } else { "NO" },
            pipeline::sweep::point_matvecs(p),
            e(0),
            e(1),
            if unbound.is_empty() { "-".to_string() } else { unbound.join(",") }
        );
    }
    if flagged > 0 {
        outln!("  not bound: the states above the continuum threshold (results.json `bound: false`, sweep.csv `unbound_states`)");
    }
    let s = &report.summary.summary;
    outln!(
        "  {} H·x in all ({} start), solve {:.2} s, total {:.2} s",
        s.matvecs_total,
        if cold { "cold" } else { "warm" },
        s.solve_s_total,
        s.total_s
    );
    outln!("  results in {}", report.out_dir.display());
}
