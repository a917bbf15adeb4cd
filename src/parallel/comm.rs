//! The communication the distributed backend needs, as a trait: all-reduce, all-gather
//! and a non-blocking point-to-point exchange with work overlapped. [`Solo`] is the
//! one-process implementation (every build has it); `super::mpi_comm::MpiComm` (cargo
//! feature `mpi`) is MPI's.
//!
//! Every method is collective over the ranks of the communicator: all ranks call it in the
//! same order (the program is SPMD: every rank runs the same pipeline on the same scene).

/// A communicator of `size` ranks.
pub trait Comm: Send + Sync {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// v ← Σ over ranks of v (element-wise).
    fn all_sum(&self, v: &mut [f64]);
    /// v ← max over ranks of v (element-wise).
    fn all_max(&self, v: &mut [f64]);
    /// Every rank's `local`, concatenated in rank order; `counts[r]` is rank r's length.
    fn all_gather_v(&self, local: &[f64], counts: &[usize]) -> Vec<f64>;
    /// Every rank's bytes, in rank order (small messages: host names, details).
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>>;
    /// Post a non-blocking send of each `sends` buffer to its rank and a non-blocking
    /// receive into each `recvs` buffer from its rank, run `during` (the overlapped work),
    /// then wait for all of them. Buffers between a pair of ranks are matched in the order
    /// they are listed.
    fn exchange(&self, sends: &[(usize, &[f64])], recvs: &mut [(usize, &mut [f64])], during: &mut dyn FnMut());
    /// Rank within the node (for the choice of adapter) and the number of ranks there.
    fn node_rank(&self) -> (usize, usize);
    /// This rank's host name.
    fn host(&self) -> String;
    /// The MPI implementation and version (for results.json).
    fn library(&self) -> String;
    /// Stop every rank of the job with `code` (a rank that fails must not leave the
    /// others waiting in a collective).
    fn abort(&self, code: i32) -> !;
}

/// One process: collectives are identities and there is no one to exchange with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Comm for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_sum(&self, _v: &mut [f64]) {}
    fn all_max(&self, _v: &mut [f64]) {}
    fn all_gather_v(&self, local: &[f64], _counts: &[usize]) -> Vec<f64> {
        local.to_vec()
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        vec![local.to_vec()]
    }
    fn exchange(&self, sends: &[(usize, &[f64])], recvs: &mut [(usize, &mut [f64])], during: &mut dyn FnMut()) {
        assert!(sends.is_empty() && recvs.is_empty(), "a single process has no one to exchange with");
        during();
    }
    fn node_rank(&self) -> (usize, usize) {
        (0, 1)
    }
    fn host(&self) -> String {
        hostname()
    }
    fn library(&self) -> String {
        "none (one process)".into()
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

static HOSTNAME_FALLBACK: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The host name to report when the kernel gives none (set once, by [`super::init`], from
/// what the front end read: `HOSTNAME`).
pub fn set_hostname_fallback(name: &str) {
    let _ = HOSTNAME_FALLBACK.set(name.to_string());
}

/// The machine's host name (the kernel's, else the front end's fallback, else "unknown").
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| HOSTNAME_FALLBACK.get().cloned())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
