//! The pending command stream: the one encoder that uploads, kernels and downloads are
//! recorded into in the order the host issues them, and its submission.

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::profile::{KernelProfile, Profiler};
use crate::backend::gpu::FLUSH_EVERY;
use super::{lock, MemoryManager};

/// Commands recorded but not yet submitted: one encoder and, while dispatches keep coming,
/// one open compute pass (wgpu puts the needed barriers between its dispatches), so a
/// sequence of kernels costs one pass, not one pass each. Copies (uploads, downloads,
/// clears) end the open pass.
#[derive(Default)]
pub struct Pending {
    pub encoder: Option<wgpu::CommandEncoder>,
    pub pass: Option<wgpu::ComputePass<'static>>,
    pub dispatches: usize,
    /// Upload staging buffers used by the recorded copies; re-mapped after the submission.
    pub(super) uploads: Vec<wgpu::Buffer>,
    pub(super) upload_bytes: u64,
    /// The per-kernel timestamps, while profiling (see profile.rs).
    pub profiler: Option<Profiler>,
    /// Submit when this many dispatches are recorded: [`MemoryManager::first_flush`] after a
    /// host synchronisation, doubled at each submission up to [`FLUSH_EVERY`].
    pub flush_at: usize,
}

impl MemoryManager {
    /// The pending command stream. Lock it after any array state, never before.
    pub fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    /// The pending encoder with no compute pass open (for copies and clears).
    pub fn encoder_locked<'a>(&self, p: &'a mut Pending) -> &'a mut wgpu::CommandEncoder {
        p.pass = None; // ends the open pass
        p.encoder.get_or_insert_with(|| self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }))
    }

    /// Submit what is recorded; the upload staging buffers it used are re-mapped in the
    /// background and return to their pool.
    pub fn submit_locked(&self, p: &mut Pending) -> Option<wgpu::SubmissionIndex> {
        p.pass = None;
        let mut enc = p.encoder.take()?;
        p.dispatches = 0;
        p.upload_bytes = 0;
        let timestamps = p.profiler.as_mut().and_then(|pr| pr.resolve(&self.device, &mut enc));
        self.stats.submissions.fetch_add(1, Ordering::Relaxed);
        let idx = self.queue.submit([enc.finish()]);
        p.flush_at = (p.flush_at.max(1) * 2).min(FLUSH_EVERY);
        if let Some(pr) = p.profiler.as_mut() {
            if let Some((buf, labels)) = timestamps {
                pr.launched(buf, labels);
            }
            pr.harvest();
        }
        for b in p.uploads.drain(..) {
            let free = self.write_staging.clone();
            let back = b.clone();
            b.map_async(wgpu::MapMode::Write, .., move |r| {
                let mut free = lock(&free);
                free.out = free.out.saturating_sub(back.size());
                if r.is_ok() {
                    free.put(back);
                }
            });
        }
        Some(idx)
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) {
        let mut p = self.lock_pending();
        self.submit_locked(&mut p);
    }

    /// The next submission goes after [`MemoryManager::first_flush`] dispatches: the host is
    /// about to wait for the device, which then idles until the host submits again.
    pub(super) fn ramp_flushes(&self, p: &mut Pending) {
        p.flush_at = self.first_flush.load(Ordering::Relaxed);
    }

    /// Set [`crate::backend::gpu::GpuOptions::first_flush`].
    pub fn set_first_flush(&self, n: usize) {
        self.first_flush.store(n.max(1), Ordering::Relaxed);
        self.lock_pending().flush_at = n.clamp(1, FLUSH_EVERY);
    }

    /// Start a per-kernel profile from GPU timestamps (the adapter must have
    /// TIMESTAMP_QUERY), or, when one runs, forget what it holds.
    pub fn start_profile(&self) {
        let mut p = self.lock_pending();
        self.submit_locked(&mut p);
        match p.profiler.as_mut() {
            Some(pr) => {
                pr.harvest();
                pr.reset();
            }
            None => p.profiler = Some(Profiler::default()),
        }
    }

    /// The per-kernel profile of the work recorded since [`MemoryManager::start_profile`]
    /// (None when not profiling): submits what is pending and waits for the device.
    pub fn kernel_profile(&self) -> Option<KernelProfile> {
        {
            let mut p = self.lock_pending();
            p.profiler.as_ref()?;
            self.submit_locked(&mut p);
        }
        for _ in 0..100 {
            let _ = self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
            let mut p = self.lock_pending();
            let pr = p.profiler.as_mut()?;
            pr.harvest();
            if !pr.in_flight() {
                break;
            }
        }
        let period = self.queue.get_timestamp_period() as f64;
        self.lock_pending().profiler.as_ref().map(|pr| pr.report(period))
    }

    /// Record a zero fill of `buf` into the pending stream.
    pub(super) fn clear(&self, buf: &wgpu::Buffer) {
        let mut p = self.lock_pending();
        self.encoder_locked(&mut p).clear_buffer(buf, 0, None);
    }
}
