//! The integration tests: one test binary (`cargo test --release --test it`) whose modules
//! were separate binaries before; each extra binary linked the whole crate and wgpu again,
//! which was most of a cold `cargo test --release`. Filter by module path:
//! `cargo test --release --test it cli::` runs the command-line tests.
//!
//! The tests share one process, so none of them may change process-wide state (environment
//! variables, the current folder, a global thread pool): a child process gets its environment
//! through `Command::env`, a library call its options through its arguments.
//!
//! GPU tests open the adapter through [`common::gpu`] or ask [`common::skip_without_gpu`]:
//! one skip rule (see common.rs).

mod common;

mod cli;
mod conformance;
mod device;
mod eigensolver;
mod exact_answers;
mod fuzz_scenes;
mod graded;
mod gpu_backend;
mod gpu_memory;
mod layers;
mod lobpcg;
mod poisson;
mod qdsim_import;
mod scene_input;
mod strain;
mod sweep;

/// MPI runs (`mpirun -np N`): built only with the `mpi` feature,
/// `cargo test --release --features mpi --test it distributed::` (.ci/run does).
#[cfg(feature = "mpi")]
mod distributed;
