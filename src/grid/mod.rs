//! The rectilinear grid ([`Grid`], built from a `scene::Domain`) and what is painted onto it
//! by the scene's shapes: the material map and its sampling (`paint`), the gates and doping
//! (`device`), the shape index that makes painting many regions fast (`shape_index`).
//!
//! Unknowns live at cell centres (cell-centred finite volumes). Flat arrays are x-fastest:
//! index = i + nx·(j + ny·k). Lengths are nm.
//!
//! A grid is uniform per axis (`h`, `origin`) or graded: then `nodes` holds every axis's
//! cell boundaries and the cell widths, centres and volumes come from them ([`Grid::width`],
//! [`Grid::center_coord`], [`Grid::volume`]); on a uniform grid these are the old formulas,
//! operation for operation, so uniform results do not change.

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
    /// Graded grids: the n[a] + 1 cell boundaries of each axis, nm (absent axes [0, 1]);
    /// `h` then holds each axis's smallest width. None: uniform.
    #[serde(skip)]
    pub nodes: Option<[Vec<f64>; 3]>,
}

impl Grid {
    /// Build the grid of a scene's domain (the domain is centred on the origin), by the
    /// rule of [`Domain::cells`].
    pub fn from_domain(d: &Domain) -> Result<Grid> {
        let c = d.cells()?;
        Ok(Grid { dim: c.dim, n: c.n, h: c.h, origin: c.origin, periodic: c.periodic, nodes: c.nodes })
    }

    /// A uniform grid from explicit counts and spacings (tests, benchmarks).
    pub fn uniform(n: &[usize], h: &[f64]) -> Grid {
        let dim = n.len();
        let mut g = Grid { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3], nodes: None };
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
    /// A grid from explicit node lists per axis (nm; tests): graded.
    pub fn from_nodes(nodes: &[Vec<f64>]) -> Grid {
        let dim = nodes.len();
        let mut g = Grid { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3], nodes: None };
        let mut all: [Vec<f64>; 3] = [vec![0.0, 1.0], vec![0.0, 1.0], vec![0.0, 1.0]];
        for (a, x) in nodes.iter().enumerate() {
            g.n[a] = x.len() - 1;
            g.origin[a] = x[0];
            g.h[a] = x.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
            all[a] = x.clone();
        }
        g.nodes = Some(all);
        g
    }

    /// Whether the grid is graded (cell widths vary or were given as nodes).
    #[inline]
    pub fn is_graded(&self) -> bool {
        self.nodes.is_some()
    }

    /// Width of cell `i` along axis `a`, nm (`h[a]` on absent axes).
    #[inline]
    pub fn width(&self, a: usize, i: usize) -> f64 {
        match &self.nodes {
            Some(x) if a < self.dim => x[a][i + 1] - x[a][i],
            _ => self.h[a],
        }
    }

    /// Lower boundary of cell `i` along axis `a`, nm (`i` = n[a]: the upper end).
    #[inline]
    pub fn edge(&self, a: usize, i: usize) -> f64 {
        match &self.nodes {
            Some(x) if a < self.dim => x[a][i],
            _ => self.origin[a] + i as f64 * self.h[a],
        }
    }

    /// The n[a] + 1 cell boundaries along axis `a`, nm.
    pub fn axis_nodes(&self, a: usize) -> Vec<f64> {
        (0..=self.n[a]).map(|i| self.edge(a, i)).collect()
    }

    /// Widths of cell `idx` along the three axes, nm (`h` on absent axes).
    #[inline]
    pub fn cell_widths(&self, idx: usize) -> [f64; 3] {
        match &self.nodes {
            None => self.h,
            Some(_) => {
                let ijk = self.ijk(idx);
                std::array::from_fn(|a| self.width(a, ijk[a]))
            }
        }
    }

    /// Distance between the centres of cell `i` and of the next one along `a` (wrapping
    /// past the last cell on a periodic axis), nm.
    #[inline]
    pub fn center_distance(&self, a: usize, i: usize) -> f64 {
        match &self.nodes {
            None => self.h[a],
            Some(_) => 0.5 * (self.width(a, i) + self.width(a, (i + 1) % self.n[a])),
        }
    }

    /// Volume of cell `idx`, nm^dim ([`Self::cell_volume`] on a uniform grid).
    #[inline]
    pub fn volume(&self, idx: usize) -> f64 {
        match &self.nodes {
            None => self.cell_volume(),
            Some(_) => {
                let w = self.cell_widths(idx);
                w[..self.dim].iter().product()
            }
        }
    }

    /// Every cell's volume, nm^dim.
    pub fn volumes(&self) -> Vec<f64> {
        (0..self.len()).map(|c| self.volume(c)).collect()
    }

    /// Coordinate of cell centre `i` along axis `a`, nm (0 on absent axes).
    #[inline]
    pub fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else if let Some(x) = &self.nodes {
            0.5 * (x[a][i] + x[a][i + 1])
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }

    /// The grid of the axes `axes` only (a cross-section: the face of a domain), with
    /// their widths and periodicity.
    pub fn cross_section(&self, axes: &[usize]) -> Grid {
        let n: Vec<usize> = axes.iter().map(|&b| self.n[b]).collect();
        let h: Vec<f64> = axes.iter().map(|&b| self.h[b]).collect();
        let mut g = if self.is_graded() {
            Grid::from_nodes(&axes.iter().map(|&b| self.axis_nodes(b)).collect::<Vec<_>>())
        } else {
            Grid::uniform(&n, &h)
        };
        for (k, &b) in axes.iter().enumerate() {
            g.periodic[k] = self.periodic[b];
        }
        g
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
            u[a] = self.edge(a, self.n[a]);
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
    /// The neighbour of cell `idx` (at `ijk`) along axis `a` in direction `dir` (±1),
    /// wrapping on periodic axes; None beyond an outer face.
    pub fn neighbour(&self, idx: usize, ijk: &[usize; 3], a: usize, dir: i64) -> Option<usize> {
        let stride = self.stride(a);
        let na = self.n[a];
        let pos = ijk[a] as i64 + dir;
        if pos >= 0 && (pos as usize) < na {
            Some((idx as i64 + dir * stride as i64) as usize)
        } else if self.periodic[a] {
            let wrapped = if pos < 0 { na - 1 } else { 0 };
            Some(idx - ijk[a] * stride + wrapped * stride)
        } else {
            None
        }
    }
    /// Cell volume in nm^dim of a uniform grid (on a graded grid: the smallest cell's;
    /// use [`Self::volume`]).
    pub fn cell_volume(&self) -> f64 {
        self.h[..self.dim].iter().product()
    }
}

/// What the structure plots need of a grid (the io layer below knows no `Grid`).
impl From<&Grid> for crate::output::plot::SliceGrid {
    fn from(g: &Grid) -> Self {
        crate::output::plot::SliceGrid { dim: g.dim, n: g.n, h: g.h, origin: g.origin, nodes: g.nodes.clone() }
    }
}
