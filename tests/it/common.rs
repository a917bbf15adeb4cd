//! Helpers shared by the integration tests: the one skip rule of the GPU tests, and running
//! the binary in a scratch folder.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use qdsim_gpu::backend::gpu::GpuOptions;
use qdsim_gpu::backend::GpuBackend;
use qdsim_gpu::linalg::CsrMatrix;

/// The variable that forbids skipping: with `QDSIM_REQUIRE_GPU=1` (.ci/run sets it) a GPU
/// test that would skip fails instead.
pub const REQUIRE_GPU: &str = "QDSIM_REQUIRE_GPU";

/// Whether an adapter opens, software ones included (lavapipe in CI); asked once per process.
/// Err says why not: no adapter at all, or the error opening one gave.
fn probe() -> &'static Result<String, String> {
    static PROBE: OnceLock<Result<String, String>> = OnceLock::new();
    PROBE.get_or_init(|| match GpuBackend::with_options(None, true, qdsim_gpu::cli::env::gpu_options_from_env().expect("GPU variables")) {
        Ok(Some(g)) => Ok(format!("{:?}", g.adapter())),
        Ok(None) => Err("no adapter".into()),
        Err(e) => Err(format!("no usable adapter: {e}")),
    })
}

/// The one skip rule of the GPU tests: true (skip: the test returns at once) when no adapter
/// opens. Every GPU test asks here: through [`gpu`] / [`gpu_with`] when it opens a backend
/// in this process, directly when it runs the binary.
pub fn skip_without_gpu() -> bool {
    match probe() {
        Ok(_) => false,
        Err(why) => {
            skip(&format!("no GPU adapter ({why})"));
            true
        }
    }
}

/// Every skip goes through here: a `SKIPPED: <test>: <why>` line on stderr, or, with
/// QDSIM_REQUIRE_GPU=1, a failure, so CI never skips (on lavapipe nothing does: it has f64
/// shaders and 128 MiB storage bindings). The test returns after it.
pub fn skip(why: &str) {
    let name = std::thread::current().name().unwrap_or("a test").to_string();
    if std::env::var(REQUIRE_GPU).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_GPU}=1 forbids skipping {name}: {why}");
    }
    // straight to stderr: the harness captures `eprintln!` and shows it only for failures
    let _ = writeln!(std::io::stderr(), "SKIPPED: {name}: {why}");
}

/// A GPU backend on any adapter (lavapipe in CI), or None under the skip rule.
pub fn gpu() -> Option<GpuBackend> {
    if skip_without_gpu() {
        return None;
    }
    eprintln!("GPU adapter: {}", probe().as_ref().unwrap());
    Some(GpuBackend::with_options(None, true, qdsim_gpu::cli::env::gpu_options_from_env().expect("GPU variables")).expect("the probe opened an adapter").expect("the probe found an adapter"))
}

/// The same with `opts`; a failure that the options cause fails the test.
pub fn gpu_with(opts: GpuOptions) -> Option<GpuBackend> {
    if skip_without_gpu() {
        return None;
    }
    Some(GpuBackend::with_options(None, true, opts).expect("a GPU backend with these options").expect("the probe found an adapter"))
}

/// The qdsim-gpu binary.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qdsim-gpu"));
    c.env("XDG_RUNTIME_DIR", "/tmp");
    c
}

/// An empty scratch folder `qdsim-<prefix>-<name>-<pid>-<call>` under the system's temp folder.
pub fn tmpdir(prefix: &str, name: &str) -> PathBuf {
    // a fresh folder per call: tests of one binary run in parallel in one process, and two
    // of them asking for the same name (fuzz_scenes' two file tests) raced on one folder
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("qdsim-{prefix}-{name}-{}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the binary with `args`.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run qdsim-gpu")
}

/// Its stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Elementwise |a − b| ≤ rel · max|b|.
pub fn close(a: &[f64], b: &[f64], rel: f64) {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= rel * scale, "element {i}: {x} vs {y} (scale {scale})");
    }
}

/// −Δ on an m³ grid (7-point, Dirichlet, unit spacing): eigenvalues 6 − 2Σcos(kπ/(m+1)),
/// with exact threefold degeneracies.
pub fn laplacian3(m: usize) -> CsrMatrix {
    let n = m * m * m;
    let mut t = Vec::new();
    for k in 0..m {
        for j in 0..m {
            for i in 0..m {
                let idx = i + m * (j + m * k);
                t.push((idx, idx, 6.0));
                for (d, s) in [(i, 1), (j, m), (k, m * m)] {
                    if d > 0 {
                        t.push((idx, idx - s, -1.0));
                    }
                    if d + 1 < m {
                        t.push((idx, idx + s, -1.0));
                    }
                }
            }
        }
    }
    CsrMatrix::from_triplets(n, n, &t)
}

/// A random sparse symmetric matrix, diagonally dominant (4 + r on the diagonal, `per_row`
/// off-diagonal pairs per row at random columns): a general CSR operator, not a stencil.
pub fn random_sym(n: usize, per_row: usize, seed: u64) -> CsrMatrix {
    let r = qdsim_gpu::linalg::backend::random_values(n * per_row * 2 + n, seed);
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 4.0 + r[i]));
        for k in 0..per_row {
            let j = ((r[n + i * per_row + k].abs() * n as f64) as usize).min(n - 1);
            let v = r[n + n * per_row + i * per_row + k];
            t.push((i, j, v));
            t.push((j, i, v));
        }
    }
    CsrMatrix::from_triplets(n, n, &t)
}

/// Eigensolver options for the GPU tests: iterative even on small matrices, block 3, the
/// default filter.
pub fn gpu_solve_options(states: usize) -> qdsim_gpu::pipeline::SolveOptions {
    qdsim_gpu::pipeline::SolveOptions {
        states,
        tolerance: 1e-8,
        max_matvecs: 50_000,
        block_size: 3,
        force_iterative: true,
        filter_degree: qdsim_gpu::pipeline::DEFAULT_FILTER_DEGREE,
        eigensolver: Default::default(),
        dims: None,
    }
}

/// A named pipe at `p`, if `mkfifo` is there.
pub fn mkfifo(p: &std::path::Path) -> bool {
    std::process::Command::new("mkfifo").arg(p).status().is_ok_and(|s| s.success())
}

/// A .npy header (version 1) for `shape` of <f8, Fortran order.
pub fn npy_header(shape: &str) -> Vec<u8> {
    let mut h = format!("{{'descr': '<f8', 'fortran_order': True, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b
}
