//! Adapter discovery and device creation (wgpu).
//!
//! Selection: a choice (`--adapter`, QDSIM_ADAPTER, through [`super::GpuOptions::adapter`])
//! picks an adapter by index in `qdsim-gpu info`'s list or by a case-insensitive name
//! substring; otherwise the best hardware
//! adapter (discrete, then integrated, then virtual) is taken. A software adapter (Mesa's
//! lavapipe, `DeviceType::Cpu`) is used only when asked for by name or index, or with
//! `allow_software`, which the tests use to run the real shaders in CI.

use super::options::MemoryHints;
use crate::error::{QdError, Result};

/// One adapter as `qdsim-gpu info` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub index: usize,
    pub name: String,
    pub api: String,
    pub device_type: String,
    pub driver: String,
    pub f64: bool,
    pub immediates: bool,
    pub max_storage_binding_bytes: u64,
    pub max_buffer_bytes: u64,
    pub max_workgroups_per_dimension: u32,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::PRIMARY.with_env(),
        flags: wgpu::InstanceFlags::empty().with_env(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

fn adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::PRIMARY.with_env()))
}

fn summary(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let i = a.get_info();
    let l = a.limits();
    let f = a.features();
    AdapterSummary {
        index,
        name: i.name.clone(),
        api: format!("{:?}", i.backend),
        device_type: format!("{:?}", i.device_type),
        driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
        f64: f.contains(wgpu::Features::SHADER_F64),
        immediates: f.contains(wgpu::Features::IMMEDIATES),
        max_storage_binding_bytes: l.max_storage_buffer_binding_size as u64,
        max_buffer_bytes: l.max_buffer_size,
        max_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
    }
}

/// Every adapter wgpu can see.
pub fn list_adapters() -> Vec<AdapterSummary> {
    adapters().iter().enumerate().map(|(i, a)| summary(i, a)).collect()
}

/// The created device and what it offers.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
}

fn rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Pick and open an adapter. `choice`: an index or a name substring (None: automatic);
/// `hints`: the allocator hint of the device. Returns Ok(None) when no suitable adapter
/// exists (the caller decides whether that is an error).
pub fn open(choice: Option<&str>, allow_software: bool, hints: MemoryHints) -> Result<Option<GpuContext>> {
    let choice = choice.map(str::to_string);
    let all = adapters();
    let usable = |a: &wgpu::Adapter| a.features().contains(wgpu::Features::IMMEDIATES);
    let picked = match &choice {
        Some(c) => {
            let found = match c.trim().parse::<usize>() {
                Ok(i) => all.get(i),
                Err(_) => {
                    let w = c.to_lowercase();
                    all.iter().find(|a| a.get_info().name.to_lowercase().contains(&w))
                }
            };
            match found {
                Some(a) if usable(a) => Some(a),
                Some(a) => {
                    return Err(QdError::input(
                        "--adapter",
                        format!("adapter '{}' lacks push constants (immediates), which the kernels need", a.get_info().name),
                    ))
                }
                None => {
                    let names: Vec<String> = all.iter().enumerate().map(|(i, a)| format!("{i}: {}", a.get_info().name)).collect();
                    return Err(QdError::input(
                        "--adapter",
                        format!("no adapter matches '{c}' (adapters: {})", if names.is_empty() { "none".into() } else { names.join(", ") }),
                    ));
                }
            }
        }
        None => all
            .iter()
            .filter(|a| usable(a) && (allow_software || a.get_info().device_type != wgpu::DeviceType::Cpu))
            .min_by_key(|a| rank(a.get_info().device_type)),
    };
    let Some(adapter) = picked else { return Ok(None) };
    let index = all.iter().position(|a| std::ptr::eq(a, adapter)).unwrap_or(0);
    let wanted = wgpu::Features::IMMEDIATES | wgpu::Features::SHADER_F64 | wgpu::Features::TIMESTAMP_QUERY;
    let mut limits = adapter.limits();
    limits.max_immediate_size = limits.max_immediate_size.min(128);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("qdsim-gpu"),
        required_features: adapter.features() & wanted,
        required_limits: limits.clone(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: match hints {
            MemoryHints::MemoryUsage => wgpu::MemoryHints::MemoryUsage,
            MemoryHints::Performance => wgpu::MemoryHints::Performance,
        },
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| QdError::Internal(format!("opening adapter '{}': {e}", adapter.get_info().name)))?;
    Ok(Some(GpuContext { device, queue, adapter: summary(index, adapter), limits }))
}
