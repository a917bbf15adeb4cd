//! The rectilinear grid ([`Grid`], built from a `scene::Domain`) and what is painted onto it
//! by the scene's shapes: the material map and its sampling (`paint`), the gates and doping
//! (`device`), the shape index that makes painting many regions fast (`shape_index`).
//!
//! Unknowns live at cell centres (cell-centred finite volumes). Flat arrays are x-fastest:
//! index = i + nx·(j + ny·k). Lengths are nm.

pub mod device;
pub mod interface;
pub mod paint;
pub mod shape_index;

pub use paint::{fill_at, with_setup_progress, MaterialMap, SetupProgress, FACE_SAMPLES, SUBSAMPLES};

use crate::error::Result;
use crate::scene::Domain;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Grid {
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

impl Grid {
    /// Build the grid of a scene's domain (the domain is centred on the origin), by the
    /// rule of [`Domain::cells`].
    pub fn from_domain(d: &Domain) -> Result<Grid> {
        let c = d.cells()?;
        Ok(Grid { dim: c.dim, n: c.n, h: c.h, origin: c.origin, periodic: c.periodic })
    }

    /// A uniform grid from explicit counts and spacings (tests, benchmarks).
    pub fn uniform(n: &[usize], h: &[f64]) -> Grid {
        let dim = n.len();
        let mut g = Grid { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3] };
        for a in 0..dim {
            g.n[a] = n[a];
            g.h[a] = h[a];
            g.origin[a] = -(n[a] as f64) * h[a] / 2.0;
        }
        g
    }

    /// Number of cells (unknowns).
    pub fn len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cell counts of the axes that exist.
    pub fn dims(&self) -> Vec<usize> {
        self.n[..self.dim].to_vec()
    }
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.n[0] * (j + self.n[1] * k)
    }
    #[inline]
    pub fn ijk(&self, idx: usize) -> [usize; 3] {
        let i = idx % self.n[0];
        let r = idx / self.n[0];
        [i, r % self.n[1], r / self.n[1]]
    }
    /// Coordinate of cell centre `i` along axis `a`, nm (0 on absent axes).
    #[inline]
    pub fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }
    pub fn center(&self, idx: usize) -> [f64; 3] {
        let [i, j, k] = self.ijk(idx);
        [self.center_coord(0, i), self.center_coord(1, j), self.center_coord(2, k)]
    }
    /// Cell-centre coordinates along axis `a`, nm.
    pub fn axis_centers(&self, a: usize) -> Vec<f64> {
        (0..self.n[a]).map(|i| self.center_coord(a, i)).collect()
    }
    /// Upper corner of the domain, nm.
    pub fn upper(&self) -> [f64; 3] {
        let mut u = [0.0; 3];
        for a in 0..self.dim {
            u[a] = self.origin[a] + self.n[a] as f64 * self.h[a];
        }
        u
    }
    /// Distance in the flat index between neighbours along axis `a`.
    pub fn stride(&self, a: usize) -> usize {
        match a {
            0 => 1,
            1 => self.n[0],
            _ => self.n[0] * self.n[1],
        }
    }
    /// Cell volume in nm^dim.
    pub fn cell_volume(&self) -> f64 {
        self.h[..self.dim].iter().product()
    }
}

/// What the structure plots need of a grid (the io layer below knows no `Grid`).
impl From<&Grid> for crate::output::plot::SliceGrid {
    fn from(g: &Grid) -> Self {
        crate::output::plot::SliceGrid { dim: g.dim, n: g.n, h: g.h, origin: g.origin }
    }
}
