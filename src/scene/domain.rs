//! How a scene's [`Domain`] is cut into cells: per axis round(size / spacing) cells (at
//! least 3, at most 1e9) of size size / count, the domain centred on the origin. The rule
//! lives here, with the scene, so that validation can judge a domain without a grid;
//! `grid::Grid::from_domain` builds on [`Domain::cells`].

use super::{Domain, Spacing};
use crate::error::{QdError, Result};

const AXES: [&str; 3] = ["x", "y", "z"];

/// The cells of a domain: counts, sizes, lower corner and periodicity per axis (absent
/// axes: 1 cell, size 1, corner 0, not periodic).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainCells {
    /// 1, 2 or 3.
    pub dim: usize,
    /// Cells per axis (1 on absent axes).
    pub n: [usize; 3],
    /// Cell size per axis, nm (1 on absent axes, unused there).
    pub h: [f64; 3],
    /// Lower corner of the domain, nm (0 on absent axes).
    pub origin: [f64; 3],
    /// Periodic boundary per axis.
    pub periodic: [bool; 3],
}

impl DomainCells {
    /// Cell counts of the axes that exist.
    pub fn dims(&self) -> Vec<usize> {
        self.n[..self.dim].to_vec()
    }
    /// Coordinate of cell centre `i` along axis `a`, nm (0 on absent axes).
    pub fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }
}

impl Domain {
    /// Cut the domain into cells (see the module header). Errors name the field.
    pub fn cells(&self) -> Result<DomainCells> {
        let d = self;
        let dim = d.size.len();
        if !(1..=3).contains(&dim) {
            return Err(QdError::input("domain.size", format!("needs 1, 2 or 3 entries (one per axis), got {dim}")));
        }
        let spacing: Vec<f64> = match &d.spacing {
            Spacing::Uniform(h) => vec![*h; dim],
            Spacing::PerAxis(v) => {
                if v.len() != dim {
                    return Err(QdError::input(
                        "domain.spacing",
                        format!("has {} entries but domain.size has {dim}: give one number or one per axis", v.len()),
                    ));
                }
                v.clone()
            }
        };
        let periodic = d.periodic.clone().unwrap_or_else(|| vec![false; dim]);
        if periodic.len() != dim {
            return Err(QdError::input("domain.periodic", format!("has {} entries, the domain has {dim} axes", periodic.len())));
        }
        let mut g = DomainCells { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3] };
        for a in 0..dim {
            let size = d.size[a];
            let h = spacing[a];
            if !(size.is_finite() && size > 0.0) {
                return Err(QdError::input(format!("domain.size[{a}]"), format!("must be a positive length in nm, got {size}")));
            }
            if !(h.is_finite() && h > 0.0) {
                let p = if matches!(d.spacing, Spacing::Uniform(_)) { "domain.spacing".to_string() } else { format!("domain.spacing[{a}]") };
                return Err(QdError::input(p, format!("must be a positive length in nm, got {h}")));
            }
            let cells = (size / h).round();
            if cells < 3.0 {
                return Err(QdError::input(
                    "domain.spacing",
                    format!("gives {cells} cells along {} (size {size} nm / spacing {h} nm): at least 3 are needed", AXES[a]),
                ));
            }
            if cells > 1e9 {
                return Err(QdError::input("domain.spacing", format!("gives {cells:e} cells along {}: far too many", AXES[a])));
            }
            g.n[a] = cells as usize;
            g.h[a] = size / cells;
            g.origin[a] = -size / 2.0;
            g.periodic[a] = periodic[a];
        }
        Ok(g)
    }
}
