//! Where an array lives ([`Placement`], chosen per array) and where it keeps its data now
//! ([`Home`], which an adaptive placement changes with use); see the [`super`] documentation.

/// Where an array lives (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Placement {
    CpuOnly,
    #[default]
    GpuOnly,
    Unified,
    Adaptive,
}

impl Placement {
    pub const ALL: [Placement; 4] = [Placement::CpuOnly, Placement::GpuOnly, Placement::Unified, Placement::Adaptive];

    /// The command-line spelling: cpu-only, gpu-only, unified, adaptive.
    pub fn name(self) -> &'static str {
        match self {
            Placement::CpuOnly => "cpu-only",
            Placement::GpuOnly => "gpu-only",
            Placement::Unified => "unified",
            Placement::Adaptive => "adaptive",
        }
    }

    /// Parse a name (case-insensitive; `-`, `_` or nothing between the words).
    pub fn parse(s: &str) -> Option<Placement> {
        let k: String = s.trim().to_lowercase().chars().filter(|c| *c != '-' && *c != '_').collect();
        match k.as_str() {
            "cpuonly" | "cpu" => Some(Placement::CpuOnly),
            "gpuonly" | "gpu" => Some(Placement::GpuOnly),
            "unified" => Some(Placement::Unified),
            "adaptive" => Some(Placement::Adaptive),
            _ => None,
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Placement::CpuOnly => 0,
            Placement::GpuOnly => 1,
            Placement::Unified => 2,
            Placement::Adaptive => 3,
        }
    }
}

/// Where an array currently keeps its data (the effective behaviour of its placement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// Host only: device copies are transient.
    Host,
    /// Device only: host copies are transient.
    Device,
    /// Both sides mirrored lazily.
    Both,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_names_parse() {
        for p in Placement::ALL {
            assert_eq!(Placement::parse(p.name()), Some(p));
        }
        assert_eq!(Placement::parse("GPU_ONLY"), Some(Placement::GpuOnly));
        assert_eq!(Placement::parse("somewhere"), None);
    }
}
