//! The kernel abstraction: a [`Program`] is one kernel file compiled in the working
//! precision, whose interface (storage bindings of group 0 with their access, the size of
//! the immediates, each entry point's workgroup size) is read from the shader by naga
//! reflection, not written a second time on the host. A [`Kernel`] is one entry point of it,
//! with the program's bind-group layout. [`Recorder::bind`] builds a bind group from the
//! buffers in binding order (unused slots get a dummy of the right access) and
//! [`Recorder::run`] binds and records one dispatch over a thread count in one line.
//!
//! Every entry point of a file shares the file's bind-group layout, so one bind group
//! serves consecutive kernels of a file (the dot-product passes of shaders/multi.wgsl).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wgpu::naga;

use super::memory::{BindKey, MemoryManager};
use super::shader::shader_source;

/// Submit the pending commands after this many dispatches even without a read-back.
pub const FLUSH_EVERY: usize = 256;

/// One storage binding of group 0, as the WGSL declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub binding: u32,
    pub read_only: bool,
}

/// What the host must know of a kernel file: its bindings (0, 1, … in order), the bytes of
/// its immediates, the workgroup size of each entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub slots: Vec<Slot>,
    pub immediate_size: u32,
    pub entry_points: Vec<(String, [u32; 3])>,
}

/// Read the interface of a parsed module. Err: a binding outside group 0, a non-storage
/// binding, two declarations of one binding with different access, or a gap in the
/// binding numbers (the bind helper takes buffers by position).
pub fn reflect(module: &naga::Module) -> Result<Interface, String> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut immediate_size = 0;
    for (_, g) in module.global_variables.iter() {
        let name = g.name.as_deref().unwrap_or("?");
        match (g.space, &g.binding) {
            (naga::AddressSpace::Immediate, _) => immediate_size = module.types[g.ty].inner.size(module.to_ctx()),
            (naga::AddressSpace::Storage { access }, Some(rb)) => {
                if rb.group != 0 {
                    return Err(format!("`{name}` is in bind group {}; the kernels use group 0 only", rb.group));
                }
                let slot = Slot { binding: rb.binding, read_only: !access.contains(naga::StorageAccess::STORE) };
                match slots.iter().find(|s| s.binding == rb.binding) {
                    Some(s) if *s != slot => return Err(format!("binding {} is declared with two different accesses (`{name}`)", rb.binding)),
                    Some(_) => {} // an alias of the same buffer (vector.wgsl's vec4 view)
                    None => slots.push(slot),
                }
            }
            (_, Some(_)) => return Err(format!("`{name}` is not a storage buffer; the kernels bind storage buffers only")),
            _ => {}
        }
    }
    slots.sort_by_key(|s| s.binding);
    if let Some((i, s)) = slots.iter().enumerate().find(|(i, s)| s.binding != *i as u32) {
        return Err(format!("binding {} follows {} bindings: number them 0, 1, … without gaps", s.binding, i));
    }
    let entry_points = module.entry_points.iter().map(|e| (e.name.clone(), e.workgroup_size)).collect();
    Ok(Interface { slots, immediate_size, entry_points })
}

thread_local! {
    static COMPILED_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many compute pipelines this thread has compiled ([`Program::kernel`]), on any
/// device: the count a test compares before and after constructing a backend, which
/// compiles none on the caller's thread (issue 13: the compiles run on the backend's
/// background thread, or on first use).
pub fn pipelines_compiled_on_this_thread() -> usize {
    COMPILED_HERE.with(|c| c.get())
}

/// One kernel file compiled for a device: module, bind-group and pipeline layouts, and the
/// interface they were built from.
pub struct Program {
    module: wgpu::ShaderModule,
    bind_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    interface: Arc<Interface>,
    label: &'static str,
}

impl Program {
    /// Compile kernel file `src` (see [`shader_source`]) in the working precision. Panics
    /// where the file's interface cannot be reflected (a shader bug the tests catch).
    pub fn new(dev: &wgpu::Device, label: &'static str, src: &str, f64_mode: bool) -> Program {
        let code = shader_source(src, f64_mode);
        let ir = naga::front::wgsl::parse_str(&code).unwrap_or_else(|e| panic!("{label}: {}", e.emit_to_string(&code)));
        let interface = reflect(&ir).unwrap_or_else(|e| panic!("{label}: {e}"));
        let entries: Vec<wgpu::BindGroupLayoutEntry> = interface
            .slots
            .iter()
            .map(|s| wgpu::BindGroupLayoutEntry {
                binding: s.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only: s.read_only }, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            })
            .collect();
        let bind_layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(label), entries: &entries });
        let pipeline_layout =
            dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some(label), bind_group_layouts: &[Some(&bind_layout)], immediate_size: interface.immediate_size });
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(code.into()) });
        Program { module, bind_layout, pipeline_layout, interface: Arc::new(interface), label }
    }

    /// The kernel of entry point `name`. Panics if the file has none of that name.
    pub fn kernel(&self, dev: &wgpu::Device, name: &'static str) -> Kernel {
        let workgroup = self.interface.entry_points.iter().find(|e| e.0 == name).unwrap_or_else(|| panic!("{} has no entry point {name}", self.label)).1;
        COMPILED_HERE.with(|c| c.set(c.get() + 1));
        let pipeline = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: Some(&self.pipeline_layout),
            module: &self.module,
            entry_point: Some(name),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        Kernel { pipeline, bind_layout: self.bind_layout.clone(), interface: self.interface.clone(), workgroup: workgroup[0] * workgroup[1] * workgroup[2], name }
    }
}

/// One entry point: its pipeline and what a dispatch of it needs.
pub struct Kernel {
    pipeline: wgpu::ComputePipeline,
    bind_layout: wgpu::BindGroupLayout,
    interface: Arc<Interface>,
    /// Threads per workgroup.
    workgroup: u32,
    name: &'static str,
}

impl Kernel {
    /// Threads per workgroup (the shader's `@workgroup_size`).
    pub fn workgroup(&self) -> u32 {
        self.workgroup
    }
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A buffer argument of a kernel, in binding order.
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    /// A slot the kernel does not read or write: bound to a dummy buffer.
    Unused,
    /// A whole buffer.
    Whole(&'a wgpu::Buffer),
    /// Bytes `offset .. offset + size` of a buffer.
    Part(&'a wgpu::Buffer, u64, u64),
}

impl<'a> From<&'a wgpu::Buffer> for Arg<'a> {
    fn from(b: &'a wgpu::Buffer) -> Arg<'a> {
        Arg::Whole(b)
    }
}

impl<'a> From<Option<&'a wgpu::Buffer>> for Arg<'a> {
    fn from(b: Option<&'a wgpu::Buffer>) -> Arg<'a> {
        b.map_or(Arg::Unused, Arg::Whole)
    }
}

/// Records kernels into the pending command stream of a [`MemoryManager`].
pub struct Recorder {
    mem: Arc<MemoryManager>,
    /// 8-byte buffers bound to unused slots (read-only and read-write slots must not share one).
    dummy: wgpu::Buffer,
    dummy_rw: wgpu::Buffer,
    max_groups: u32,
}

/// The dispatch grid for `groups` workgroups: one row while it fits `max` per dimension,
/// else rows of equal length (the kernels index it with `global_index`).
pub fn grid(groups: u32, max: u32) -> (u32, u32) {
    let groups = groups.max(1);
    if groups <= max {
        (groups, 1)
    } else {
        let y = groups.div_ceil(max);
        (groups.div_ceil(y), y)
    }
}

impl Recorder {
    /// Workgroups per dispatch dimension at most.
    pub fn max_groups(&self) -> u32 {
        self.max_groups
    }

    pub fn new(mem: Arc<MemoryManager>, max_groups: u32) -> Recorder {
        let dev = mem.device();
        let dummy = |label| dev.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: 8, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
        let (dummy, dummy_rw) = (dummy("dummy"), dummy("dummy_rw"));
        Recorder { mem, dummy, dummy_rw, max_groups }
    }

    /// The bind group of `k` with `args` in binding order: a cached one where the same
    /// layout was bound to the same buffer ranges before (memory/bind_cache.rs), else a new one.
    pub fn bind(&self, k: &Kernel, args: &[Arg]) -> wgpu::BindGroup {
        let slots = &k.interface.slots;
        assert_eq!(args.len(), slots.len(), "{}: {} buffers for {} bindings", k.name, args.len(), slots.len());
        let key = BindKey {
            layout: k.bind_layout.clone(),
            slots: slots
                .iter()
                .zip(args)
                .map(|(s, a)| match *a {
                    Arg::Unused => ((if s.read_only { &self.dummy } else { &self.dummy_rw }).clone(), 0, u64::MAX),
                    Arg::Whole(b) => (b.clone(), 0, u64::MAX),
                    Arg::Part(b, offset, size) => (b.clone(), offset, size),
                })
                .collect(),
        };
        self.mem.bind_group(key, |key| {
            let entries: Vec<wgpu::BindGroupEntry> = slots
                .iter()
                .zip(&key.slots)
                .map(|(s, (b, offset, size))| {
                    let resource = if *size == u64::MAX {
                        b.as_entire_binding()
                    } else {
                        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: b, offset: *offset, size: std::num::NonZeroU64::new(*size) })
                    };
                    wgpu::BindGroupEntry { binding: s.binding, resource }
                })
                .collect();
            self.mem.device().create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &key.layout, entries: &entries })
        })
    }

    /// The grid of workgroups that gives `k` one thread per element of `threads`.
    pub fn groups(&self, k: &Kernel, threads: usize) -> (u32, u32) {
        grid((threads as u64).div_ceil(k.workgroup as u64) as u32, self.max_groups)
    }

    /// Bind `args` and record `k` over `threads` threads.
    pub fn run(&self, k: &Kernel, args: &[Arg], imm: &[u8], threads: usize) {
        self.dispatch(k, &self.bind(k, args), imm, self.groups(k, threads));
    }

    /// Record one dispatch of `k` over a grid of workgroups into the pending stream (one
    /// open compute pass while dispatches keep coming; submitted every [`FLUSH_EVERY`]).
    pub fn dispatch(&self, k: &Kernel, bind: &wgpu::BindGroup, imm: &[u8], groups: (u32, u32)) {
        debug_assert_eq!(imm.len() as u32, k.interface.immediate_size, "{}: immediates", k.name);
        let mut guard = self.mem.lock_pending();
        let p = &mut *guard;
        if p.profiler.is_some() {
            self.dispatch_profiled(p, k, bind, imm, groups);
            return;
        }
        if p.pass.is_none() {
            let dev = self.mem.device();
            let enc = p.encoder.get_or_insert_with(|| dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
            let pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None }).forget_lifetime();
            p.pass = Some(pass);
        }
        if let Some(pass) = p.pass.as_mut() {
            encode(pass, k, bind, imm, groups);
        }
        self.dispatched(p);
    }

    /// Count a recorded dispatch; submit when the batch is full (see `Pending::flush_at`).
    fn dispatched(&self, p: &mut super::memory::Pending) {
        p.dispatches += 1;
        self.mem.stats.dispatches.fetch_add(1, Ordering::Relaxed);
        if p.dispatches >= p.flush_at.clamp(1, FLUSH_EVERY) {
            self.mem.submit_locked(p);
        }
    }

    /// [`Recorder::dispatch`] while profiling: the dispatch in a compute pass of its own,
    /// between two timestamps.
    fn dispatch_profiled(&self, p: &mut super::memory::Pending, k: &Kernel, bind: &wgpu::BindGroup, imm: &[u8], groups: (u32, u32)) {
        p.pass = None;
        if p.profiler.as_ref().is_some_and(|pr| pr.full()) {
            self.mem.submit_locked(p);
        }
        let dev = self.mem.device();
        let Some(pr) = p.profiler.as_mut() else { return };
        let (i, qs) = pr.slot(dev, k.name);
        let enc = p.encoder.get_or_insert_with(|| dev.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(k.name),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites { query_set: qs, beginning_of_pass_write_index: Some(i), end_of_pass_write_index: Some(i + 1) }),
            });
            encode(&mut pass, k, bind, imm, groups);
        }
        self.dispatched(p);
    }
}

/// One dispatch of `k` into `pass`.
fn encode(pass: &mut wgpu::ComputePass<'_>, k: &Kernel, bind: &wgpu::BindGroup, imm: &[u8], groups: (u32, u32)) {
    pass.set_pipeline(&k.pipeline);
    pass.set_bind_group(0, bind, &[]);
    pass.set_immediates(0, imm);
    pass.dispatch_workgroups(groups.0, groups.1, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::gpu::shader::SHADERS;

    #[test]
    fn grid_splits_large_dispatches() {
        assert_eq!(grid(10, 65535), (10, 1));
        let (x, y) = grid(70000, 65535);
        assert!(x <= 65535 && x as u64 * y as u64 >= 70000);
        assert_eq!(grid(0, 65535), (1, 1));
    }

    #[test]
    fn every_kernel_file_reflects_to_the_layout_the_host_binds() {
        let expect = |ro: &[bool]| ro.iter().enumerate().map(|(i, &r)| Slot { binding: i as u32, read_only: r }).collect::<Vec<_>>();
        for (name, src) in SHADERS {
            for f64_mode in [false, true] {
                let ir = naga::front::wgsl::parse_str(&shader_source(src, f64_mode)).unwrap();
                let i = reflect(&ir).unwrap_or_else(|e| panic!("{name}: {e}"));
                let slots = match name {
                    "vector.wgsl" => expect(&[true, false]),
                    "spmv.wgsl" => expect(&[true, true, true, true, false]),
                    "multi.wgsl" => expect(&[true, true, true, true, true, true, true, true, true, false, false]),
                    "cg.wgsl" => expect(&[true, true, true, false, false]),
                    "stencil.wgsl" => expect(&[true, true, true, true, true, false]),
                    "block.wgsl" => expect(&[[true; 8].as_slice(), &[false; 9]].concat()),
                    "spmm.wgsl" => expect(&[[true; 12].as_slice(), &[false; 8]].concat()),
                    "gram.wgsl" => expect(&[[true; 12].as_slice(), &[false; 2]].concat()),
                    _ => unreachable!(),
                };
                assert_eq!(i.slots, slots, "{name}");
                assert!(i.entry_points.iter().all(|e| e.1 == [256, 1, 1]), "{name}: {:?}", i.entry_points);
            }
        }
    }
}
