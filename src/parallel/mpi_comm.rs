//! [`Comm`] over MPI (rsmpi), built with the cargo feature `mpi`.
//!
//! MPI is initialised with `MPI_THREAD_FUNNELED`: only the main thread calls MPI (rayon's
//! workers and wgpu's threads never do).

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::comm::Comm;

/// MPI_COMM_WORLD and, for the adapter choice, the node-local communicator.
pub struct MpiComm {
    world: SimpleCommunicator,
    node: (usize, usize),
    host: String,
}

// SAFETY: the raw communicator handles are only used from the main thread (MPI is
// initialised FUNNELED and the distributed backend is driven by the main thread); the
// trait bounds of `Backend` require Send + Sync of everything it holds.
unsafe impl Send for MpiComm {}
unsafe impl Sync for MpiComm {}

impl MpiComm {
    pub fn new(world: SimpleCommunicator) -> MpiComm {
        let local = world.split_shared(world.rank());
        let node = (local.rank() as usize, local.size() as usize);
        let host = mpi::environment::processor_name().unwrap_or_else(|_| super::comm::hostname());
        MpiComm { world, node, host }
    }
}

fn counts_displs(counts: &[usize]) -> (Vec<i32>, Vec<i32>) {
    let c: Vec<i32> = counts.iter().map(|&c| c as i32).collect();
    let mut d = Vec::with_capacity(c.len());
    let mut acc = 0i32;
    for &x in &c {
        d.push(acc);
        acc += x;
    }
    (c, d)
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    /// The partial vectors are gathered and summed in rank order on every rank, so every
    /// rank holds the same bits (MPI_Allreduce does not promise that for floating point,
    /// and a rank that saw a different dot product could branch differently and hang the
    /// job).
    fn all_sum(&self, v: &mut [f64]) {
        let n = self.size();
        if n > 1 && !v.is_empty() {
            let mut all = vec![0.0; n * v.len()];
            self.world.all_gather_into(&v[..], &mut all[..]);
            let m = v.len();
            for (i, x) in v.iter_mut().enumerate() {
                *x = (0..n).map(|r| all[r * m + i]).fold(0.0, |a, b| a + b);
            }
        }
    }
    fn all_max(&self, v: &mut [f64]) {
        if self.size() > 1 && !v.is_empty() {
            let local = v.to_vec();
            self.world.all_reduce_into(&local[..], v, SystemOperation::max());
        }
    }
    fn all_gather_v(&self, local: &[f64], counts: &[usize]) -> Vec<f64> {
        let total: usize = counts.iter().sum();
        let mut out = vec![0.0; total];
        let (c, d) = counts_displs(counts);
        let mut part = PartitionMut::new(&mut out[..], c, d);
        self.world.all_gather_varcount_into(local, &mut part);
        out
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        let n = self.size();
        let mut lens = vec![0u64; n];
        self.world.all_gather_into(&(local.len() as u64), &mut lens[..]);
        let counts: Vec<usize> = lens.iter().map(|&l| l as usize).collect();
        let mut out = vec![0u8; counts.iter().sum()];
        let (c, d) = counts_displs(&counts);
        {
            let mut part = PartitionMut::new(&mut out[..], c, d.clone());
            self.world.all_gather_varcount_into(local, &mut part);
        }
        (0..n).map(|r| out[d[r] as usize..d[r] as usize + counts[r]].to_vec()).collect()
    }
    fn exchange(&self, sends: &[(usize, &[f64])], recvs: &mut [(usize, &mut [f64])], during: &mut dyn FnMut()) {
        mpi::request::scope(|scope| {
            let mut rreqs = Vec::with_capacity(recvs.len());
            for (src, buf) in recvs.iter_mut() {
                rreqs.push(self.world.process_at_rank(*src as i32).immediate_receive_into(scope, &mut buf[..]));
            }
            let mut sreqs = Vec::with_capacity(sends.len());
            for (dst, buf) in sends {
                sreqs.push(self.world.process_at_rank(*dst as i32).immediate_send(scope, &buf[..]));
            }
            during();
            for r in rreqs {
                r.wait();
            }
            for s in sreqs {
                s.wait();
            }
        });
    }
    fn node_rank(&self) -> (usize, usize) {
        self.node
    }
    fn host(&self) -> String {
        self.host.clone()
    }
    fn library(&self) -> String {
        mpi::environment::library_version().unwrap_or_else(|_| "MPI".into()).lines().next().unwrap_or("MPI").trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string()
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
