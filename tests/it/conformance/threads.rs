//! A communicator whose ranks are threads of the test process, so that the distributed
//! backend exchanges real halos in the conformance suite without mpirun.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use qdsim_gpu::parallel::Comm;

/// What ranks send each other.
enum Msg {
    Values(Vec<f64>),
    Bytes(Vec<u8>),
}

/// One FIFO mailbox per (source, destination) pair of ranks, shared by all ranks.
#[derive(Default)]
struct Mailboxes {
    queues: Mutex<HashMap<(usize, usize), VecDeque<Msg>>>,
    arrived: Condvar,
}

/// A [`Comm`] whose ranks are threads of one process. Every collective is built from
/// point-to-point messages: as every rank makes the same calls in the same order (SPMD),
/// the k-th message from one rank to another belongs to the k-th operation in which the two
/// meet, as with MPI's ordered matching. Sums are taken in rank order, so every rank holds the
/// same bits.
pub struct Threads {
    pub rank: usize,
    size: usize,
    boxes: Arc<Mailboxes>,
}

impl Threads {
    /// A wait longer than this is a rank that failed or diverged: panic instead of hanging.
    pub const TIMEOUT: Duration = Duration::from_secs(60);

    pub fn world(size: usize) -> Vec<Threads> {
        let boxes = Arc::new(Mailboxes::default());
        (0..size).map(|rank| Threads { rank, size, boxes: boxes.clone() }).collect()
    }

    fn send(&self, to: usize, m: Msg) {
        let mut q = self.boxes.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.entry((self.rank, to)).or_default().push_back(m);
        self.boxes.arrived.notify_all();
    }

    fn recv(&self, from: usize) -> Msg {
        let t0 = Instant::now();
        let mut q = self.boxes.queues.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(m) = q.get_mut(&(from, self.rank)).and_then(|d| d.pop_front()) {
                return m;
            }
            let left = Self::TIMEOUT.checked_sub(t0.elapsed()).unwrap_or_else(|| panic!("rank {}: nothing from rank {from} within {:?}", self.rank, Self::TIMEOUT));
            q = self.boxes.arrived.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn recv_values(&self, from: usize) -> Vec<f64> {
        match self.recv(from) {
            Msg::Values(v) => v,
            Msg::Bytes(_) => panic!("rank {}: bytes from rank {from} where values were expected", self.rank),
        }
    }

    /// Every rank's values, in rank order.
    fn gather_all(&self, local: &[f64]) -> Vec<Vec<f64>> {
        for r in (0..self.size).filter(|&r| r != self.rank) {
            self.send(r, Msg::Values(local.to_vec()));
        }
        (0..self.size).map(|r| if r == self.rank { local.to_vec() } else { self.recv_values(r) }).collect()
    }
}

impl Comm for Threads {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn all_sum(&self, v: &mut [f64]) {
        let all = self.gather_all(v);
        for (i, x) in v.iter_mut().enumerate() {
            *x = all.iter().fold(0.0, |s, a| s + a[i]);
        }
    }
    fn all_max(&self, v: &mut [f64]) {
        let all = self.gather_all(v);
        for (i, x) in v.iter_mut().enumerate() {
            *x = all.iter().fold(f64::NEG_INFINITY, |s, a| s.max(a[i]));
        }
    }
    fn all_gather_v(&self, local: &[f64], counts: &[usize]) -> Vec<f64> {
        assert_eq!(local.len(), counts[self.rank], "rank {}: all_gather_v count", self.rank);
        let all = self.gather_all(local);
        for (r, a) in all.iter().enumerate() {
            assert_eq!(a.len(), counts[r], "rank {}: rank {r} sent {} values, {} expected", self.rank, a.len(), counts[r]);
        }
        all.concat()
    }
    fn all_gather_bytes(&self, local: &[u8]) -> Vec<Vec<u8>> {
        for r in (0..self.size).filter(|&r| r != self.rank) {
            self.send(r, Msg::Bytes(local.to_vec()));
        }
        (0..self.size)
            .map(|r| {
                if r == self.rank {
                    return local.to_vec();
                }
                match self.recv(r) {
                    Msg::Bytes(b) => b,
                    Msg::Values(_) => panic!("rank {}: values from rank {r} where bytes were expected", self.rank),
                }
            })
            .collect()
    }
    fn exchange(&self, sends: &[(usize, &[f64])], recvs: &mut [(usize, &mut [f64])], during: &mut dyn FnMut()) {
        for &(to, buf) in sends {
            assert_ne!(to, self.rank, "a rank does not exchange with itself");
            self.send(to, Msg::Values(buf.to_vec()));
        }
        during();
        for (from, buf) in recvs.iter_mut() {
            let v = self.recv_values(*from);
            assert_eq!(v.len(), buf.len(), "rank {}: {} values from rank {from}, {} expected", self.rank, v.len(), buf.len());
            buf.copy_from_slice(&v);
        }
    }
    fn node_rank(&self) -> (usize, usize) {
        (self.rank, self.size)
    }
    fn host(&self) -> String {
        "threads".into()
    }
    fn library(&self) -> String {
        "threads of the test process".into()
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} of {} aborts the job with code {code}", self.rank, self.size)
    }
}
