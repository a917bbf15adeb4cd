//! Running one scene over many processes with MPI (domain decomposition).
//!
//! - [`comm`]: the communication the distributed backend needs ([`comm::Comm`]), with the
//!   one-process [`comm::Solo`] and, with the cargo feature `mpi`, MPI's (`mpi_comm`).
//! - [`partition`]: how rows and vector entries are split over ranks (slabs of planes).
//! - [`distributed`]: [`distributed::DistBackend`], the backend that wraps a rank's local
//!   CPU or GPU backend and exchanges halos, so CG, Lanczos, multigrid and the
//!   self-consistent loop run on it unchanged.
//!
//! The program is SPMD: under `mpirun -np N qdsim-gpu solve scene.json` every rank reads
//! the scene, runs the same pipeline and holds the same host-side results; the solvers'
//! vectors and operators are split. Only rank 0 prints and writes the output folder, so
//! it is the same as a serial run's. A rank that fails stops the whole job (MPI_Abort)
//! with its error, never leaving the others waiting.

pub mod comm;
pub mod distributed;
#[cfg(feature = "mpi")]
pub mod mpi_comm;
pub mod partition;

use std::sync::{Arc, OnceLock};

pub use comm::{Comm, Solo};
pub use distributed::DistBackend;

/// `$body` with `$be` bound to a backend: `$local` itself, or, in an MPI job, `$local`
/// wrapped in the [`DistBackend`] (collective: every rank evaluates it).
#[macro_export]
macro_rules! on_ranks {
    ($local:expr, |$be:ident| $body:expr) => {{
        let local = $local;
        match $crate::parallel::world() {
            Some(w) => {
                let $be = &$crate::parallel::DistBackend::new(local, w);
                $body
            }
            None => {
                let $be = &local;
                $body
            }
        }
    }};
}

/// Whether this process is one rank of an MPI job of several.
pub fn distributed() -> bool {
    world().is_some_and(|w| w.size() > 1)
}

static WORLD: OnceLock<Arc<dyn Comm>> = OnceLock::new();

/// The job's communicator when the process was started with MPI support initialised
/// ([`init`]); None in a serial build or run.
pub fn world() -> Option<Arc<dyn Comm>> {
    WORLD.get().cloned()
}

/// This process's rank in the job (0 without MPI).
pub fn rank() -> usize {
    world().map_or(0, |w| w.rank())
}

/// Whether this process prints and writes output: rank 0, or any serial process.
pub fn is_root() -> bool {
    world().is_none_or(|w| w.rank() == 0)
}

/// Install `comm` as the job's communicator (once; later calls are ignored).
pub fn set_world(comm: Arc<dyn Comm>) {
    let _ = WORLD.set(comm);
}

/// What MPI initialisation leaves to be dropped at the end of `main` (MPI_Finalize).
pub struct Session {
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

/// How to start the job, as the front end read it (cli/ reads the environment).
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// Do not initialise MPI even in a build with the `mpi` feature (`QDSIM_NO_MPI`).
    pub no_mpi: bool,
    /// The host name to report when the kernel does not give one (`HOSTNAME`).
    pub hostname: Option<String>,
}

/// Initialise MPI when the binary was built with the `mpi` feature (a process started
/// without `mpirun` is a job of one rank) unless `opts.no_mpi`. Keep the returned session
/// alive until the end of `main`.
pub fn init(opts: &InitOptions) -> Session {
    if let Some(h) = &opts.hostname {
        comm::set_hostname_fallback(h);
    }
    #[cfg(feature = "mpi")]
    {
        if opts.no_mpi {
            return Session { _universe: None };
        }
        match mpi::initialize_with_threading(mpi::Threading::Funneled) {
            Some((universe, _)) => {
                set_world(Arc::new(mpi_comm::MpiComm::new(universe.world())));
                Session { _universe: Some(universe) }
            }
            None => Session { _universe: None },
        }
    }
    #[cfg(not(feature = "mpi"))]
    Session {}
}

/// The adapter this rank asks for. `choice` (from `--adapter` or `QDSIM_ADAPTER`, which
/// the front end reads) may list one adapter per rank, comma-separated (rank r takes entry
/// r mod count); without a choice, a rank of an MPI job takes hardware adapter number
/// (node-local rank mod the number of hardware adapters), so the ranks of a node spread
/// over its GPUs. Serial runs keep the automatic choice.
pub fn adapter_for_rank(choice: Option<&str>) -> Option<String> {
    let choice = choice.map(str::to_string);
    let world = world();
    match (choice, world) {
        (Some(c), Some(w)) if c.contains(',') => {
            let items: Vec<&str> = c.split(',').map(str::trim).collect();
            Some(items[w.rank() % items.len()].to_string())
        }
        (Some(c), _) => Some(c),
        (None, Some(w)) if w.size() > 1 => {
            let hardware: Vec<usize> = crate::backend::gpu::list_adapters()
                .iter()
                .filter(|a| a.immediates && a.device_type != "Cpu")
                .map(|a| a.index)
                .collect();
            if hardware.len() > 1 {
                Some(hardware[w.node_rank().0 % hardware.len()].to_string())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The exit of a rank that failed with `code`: in an MPI job of several ranks every rank
/// is aborted (the others may be waiting for this one in a collective, and would hang);
/// otherwise the code is returned.
pub fn abort_job(code: i32) -> i32 {
    if let Some(w) = world() {
        if w.size() > 1 {
            w.abort(code);
        }
    }
    code
}
