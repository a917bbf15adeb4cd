//! A per-kernel profile from GPU timestamps (`GpuOptions::profile_kernels`,
//! `qdsim-gpu bench --profile-kernels`): where the device time of a solve goes, kernel by
//! kernel, as Nsight's kernel summary or `nvprof --print-gpu-summary` would show it, on any
//! adapter with timestamp queries.
//!
//! While profiling, each dispatch gets a compute pass of its own whose beginning and end
//! write a timestamp (one pass per dispatch instead of one per run of dispatches: the
//! barriers between dispatches are the same, the pass boundaries cost a little more). At a
//! submission the batch's query set is resolved into a buffer and copied to a mappable one,
//! which is mapped in the background; the figures are collected when the map has completed
//! (at a later submission, or when the profile is read), so profiling adds no host
//! synchronisation to the stream it measures.
//!
//! Besides each kernel's dispatch count and device time, the profile keeps two totals that
//! say whether the device was busy: `in_batch_gaps_s`, the time between consecutive
//! dispatches of one submission (barriers, copies and clears recorded between them, launch
//! latency), and `timeline_s`, the span from the first timestamp to the last, which also
//! holds the time the device waited for the host between submissions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Dispatches per batch at most (two timestamps each; wgpu allows 4096 queries per set).
pub const BATCH_CAPACITY: usize = 2048;

/// Device time of one kernel (entry point) over a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The entry point's name.
    pub kernel: &'static str,
    pub dispatches: u64,
    /// Device seconds between the timestamps around its dispatches, summed.
    pub seconds: f64,
}

/// The profile of the work recorded since profiling started (or since the last reset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelProfile {
    /// Kernels by device time, longest first.
    pub kernels: Vec<KernelTime>,
    /// Device seconds inside the kernels' passes, summed.
    pub busy_s: f64,
    /// Seconds between consecutive dispatches of one submission, summed.
    pub in_batch_gaps_s: f64,
    /// Seconds from the first timestamp to the last.
    pub timeline_s: f64,
    /// Batches whose timestamps could not be read (a failed map): their kernels are missing.
    pub lost_batches: u64,
}

impl KernelProfile {
    pub fn dispatches(&self) -> u64 {
        self.kernels.iter().map(|k| k.dispatches).sum()
    }
}

/// The batch being recorded: its query set and the kernel of each dispatch in it.
struct OpenBatch {
    qs: wgpu::QuerySet,
    labels: Vec<&'static str>,
}

/// A submitted batch whose timestamps are on their way to the host.
struct Flight {
    buf: wgpu::Buffer,
    labels: Vec<&'static str>,
    /// 0: mapping, 1: mapped, 2: failed.
    state: Arc<AtomicU8>,
}

/// The profiler's state: the open batch, the batches in flight, the totals.
#[derive(Default)]
pub struct Profiler {
    open: Option<OpenBatch>,
    flights: Vec<Flight>,
    per_kernel: BTreeMap<&'static str, (u64, u64)>,
    busy_ticks: u64,
    gap_ticks: u64,
    first: Option<u64>,
    last: u64,
    lost: u64,
}

impl Profiler {
    /// Whether the open batch has no room for another dispatch (submit first).
    pub fn full(&self) -> bool {
        self.open.as_ref().is_some_and(|b| b.labels.len() >= BATCH_CAPACITY)
    }

    /// The index of the first of the two timestamps of one more dispatch of `kernel` in the
    /// open batch (created where there is none; [`Profiler::full`] must be false), and the
    /// batch's query set.
    pub fn slot(&mut self, device: &wgpu::Device, kernel: &'static str) -> (u32, &wgpu::QuerySet) {
        let b = self.open.get_or_insert_with(|| OpenBatch {
            qs: device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("kernel profile"), ty: wgpu::QueryType::Timestamp, count: 2 * BATCH_CAPACITY as u32 }),
            labels: Vec::new(),
        });
        debug_assert!(b.labels.len() < BATCH_CAPACITY);
        b.labels.push(kernel);
        (2 * (b.labels.len() as u32 - 1), &b.qs)
    }

    /// Record the resolve of the open batch into `enc` (before its submission); returns the
    /// mappable buffer and labels to hand to [`Profiler::launched`] after the submission.
    pub fn resolve(&mut self, device: &wgpu::Device, enc: &mut wgpu::CommandEncoder) -> Option<(wgpu::Buffer, Vec<&'static str>)> {
        let b = self.open.take().filter(|b| !b.labels.is_empty())?;
        let bytes = 16 * b.labels.len() as u64;
        let buffer = |label, usage| device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: bytes, usage, mapped_at_creation: false });
        let resolved = buffer("profile resolve", wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        let readable = buffer("profile read", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST);
        enc.resolve_query_set(&b.qs, 0..2 * b.labels.len() as u32, &resolved, 0);
        enc.copy_buffer_to_buffer(&resolved, 0, &readable, 0, bytes);
        Some((readable, b.labels))
    }

    /// After the submission that resolved `buf`: map it in the background.
    pub fn launched(&mut self, buf: wgpu::Buffer, labels: Vec<&'static str>) {
        let state = Arc::new(AtomicU8::new(0));
        let s = state.clone();
        buf.map_async(wgpu::MapMode::Read, .., move |r| s.store(if r.is_ok() { 1 } else { 2 }, Ordering::Release));
        self.flights.push(Flight { buf, labels, state });
    }

    /// Whether batches are still being mapped.
    pub fn in_flight(&self) -> bool {
        !self.flights.is_empty()
    }

    /// Add the batches whose maps have completed to the totals.
    pub fn harvest(&mut self) {
        let mut keep = Vec::new();
        for f in std::mem::take(&mut self.flights) {
            match f.state.load(Ordering::Acquire) {
                0 => keep.push(f),
                1 => {
                    let t: Vec<u64> = {
                        let view = f.buf.get_mapped_range(..).expect("mapped profile buffer");
                        view.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect()
                    };
                    f.buf.unmap();
                    self.add(&f.labels, &t);
                }
                _ => self.lost += 1,
            }
        }
        self.flights = keep;
    }

    fn add(&mut self, labels: &[&'static str], t: &[u64]) {
        let mut prev_end: Option<u64> = None;
        for (i, &k) in labels.iter().enumerate() {
            let (b, e) = (t[2 * i], t[2 * i + 1]);
            let d = e.saturating_sub(b);
            let entry = self.per_kernel.entry(k).or_default();
            entry.0 += 1;
            entry.1 += d;
            self.busy_ticks += d;
            if let Some(p) = prev_end {
                self.gap_ticks += b.saturating_sub(p);
            }
            prev_end = Some(e);
            self.first = Some(self.first.map_or(b, |f| f.min(b)));
            self.last = self.last.max(e);
        }
    }

    /// The totals so far, with `period` nanoseconds per timestamp tick.
    pub fn report(&self, period_ns: f64) -> KernelProfile {
        let s = |ticks: u64| ticks as f64 * period_ns * 1e-9;
        let mut kernels: Vec<KernelTime> = self.per_kernel.iter().map(|(&kernel, &(n, t))| KernelTime { kernel, dispatches: n, seconds: s(t) }).collect();
        kernels.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
        KernelProfile {
            kernels,
            busy_s: s(self.busy_ticks),
            in_batch_gaps_s: s(self.gap_ticks),
            timeline_s: self.first.map_or(0.0, |f| s(self.last.saturating_sub(f))),
            lost_batches: self.lost,
        }
    }

    /// Forget the totals (the batches in flight still count when they arrive).
    pub fn reset(&mut self) {
        self.per_kernel.clear();
        self.busy_ticks = 0;
        self.gap_ticks = 0;
        self.first = None;
        self.last = 0;
        self.lost = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_split_busy_time_from_gaps() {
        let mut p = Profiler::default();
        // two dispatches of a, one of b: [0,10] [15,25] [30,70]; then a later batch [100,110]
        p.add(&["a", "a", "b"], &[0, 10, 15, 25, 30, 70]);
        p.add(&["a"], &[100, 110]);
        let r = p.report(1e3); // 1 µs per tick
        let k: Vec<(&str, u64, f64)> = r.kernels.iter().map(|k| (k.kernel, k.dispatches, (k.seconds * 1e6).round())).collect();
        assert_eq!(k, [("b", 1, 40.0), ("a", 3, 30.0)]);
        assert_eq!(r.dispatches(), 4);
        assert_eq!([r.busy_s, r.in_batch_gaps_s, r.timeline_s].map(|t| (t * 1e6).round()), [70.0, 10.0, 110.0]);
        p.reset();
        assert_eq!(p.report(1.0), KernelProfile::default());
    }
}
