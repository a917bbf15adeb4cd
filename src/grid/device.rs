//! The device description painted on the grid: doping per cell (from the fills, as the
//! materials are painted) and the cells held by gates.
//!
//! Doping densities are cm^-3. Fill i is the background (0) or region i − 1, as in
//! [`MaterialMap`]; a later region replaces the doping below it, and a cell cut by an
//! interface gets the volume-weighted average of its fills' densities, exactly as the band
//! edges are averaged.

use super::{Grid, MaterialMap};
use crate::scene::{Doping, Gate};

/// One dopant species: the fills sharing one ionisation energy.
#[derive(Clone, Debug, PartialEq)]
pub struct DopantSpecies {
    /// Ionisation energy from the band edge, eV; None: fully ionised.
    pub energy: Option<f64>,
    /// Density per cell, cm^-3 (volume-averaged in cut cells).
    pub density: Vec<f64>,
}

/// Donors and acceptors per cell, one entry per distinct ionisation energy (fills with the
/// same energy, or all fully ionised ones, share a species). Cut cells stay exact under
/// incomplete ionisation: each species is ionised with its own energy.
#[derive(Clone, Debug, PartialEq)]
pub struct DopingMap {
    pub cells: usize,
    pub donors: Vec<DopantSpecies>,
    pub acceptors: Vec<DopantSpecies>,
}

fn species(map: &MaterialMap, per_fill: &[(f64, Option<f64>)]) -> Vec<DopantSpecies> {
    let mut energies: Vec<Option<f64>> = Vec::new();
    for &(n, e) in per_fill {
        if n != 0.0 && !energies.iter().any(|x| x.map(f64::to_bits) == e.map(f64::to_bits)) {
            energies.push(e);
        }
    }
    energies
        .into_iter()
        .map(|e| {
            let dens: Vec<f64> = per_fill
                .iter()
                .map(|&(n, f)| if f.map(f64::to_bits) == e.map(f64::to_bits) { n } else { 0.0 })
                .collect();
            DopantSpecies { energy: e, density: map.average(&dens) }
        })
        .collect()
}

impl DopingMap {
    /// Paint the fills' doping (`per_fill[i]` for fill i, e.g. `Scene::fill_dopings`).
    pub fn paint(map: &MaterialMap, per_fill: &[Doping]) -> DopingMap {
        let d: Vec<(f64, Option<f64>)> = per_fill.iter().map(|d| (d.donors, d.donor_energy)).collect();
        let a: Vec<(f64, Option<f64>)> = per_fill.iter().map(|d| (d.acceptors, d.acceptor_energy)).collect();
        DopingMap { cells: map.dominant.len(), donors: species(map, &d), acceptors: species(map, &a) }
    }

    fn total(&self, s: &[DopantSpecies]) -> Vec<f64> {
        let mut out = vec![0.0; self.cells];
        for sp in s {
            for (o, v) in out.iter_mut().zip(&sp.density) {
                *o += v;
            }
        }
        out
    }

    /// N_D per cell, cm^-3 (all species).
    pub fn total_donors(&self) -> Vec<f64> {
        self.total(&self.donors)
    }

    /// N_A per cell, cm^-3 (all species).
    pub fn total_acceptors(&self) -> Vec<f64> {
        self.total(&self.acceptors)
    }

    /// Whether no cell is doped.
    pub fn is_undoped(&self) -> bool {
        self.donors.is_empty() && self.acceptors.is_empty()
    }
}

/// N_D and N_A per cell, cm^-3: the fills' doping painted like the materials.
pub fn doping_per_cell(map: &MaterialMap, per_fill: &[Doping]) -> (Vec<f64>, Vec<f64>) {
    let m = DopingMap::paint(map, per_fill);
    (m.total_donors(), m.total_acceptors())
}

/// The gate holding each cell: the last gate whose shape contains the cell centre, or
/// None. Gate cells are fixed-potential cells of the Poisson problem. Each cell tests only
/// the gates whose bounding boxes reach it (as in [`MaterialMap::paint`]).
pub fn gate_cells(grid: &Grid, gates: &[Gate]) -> Vec<Option<usize>> {
    use rayon::prelude::*;
    if gates.len() >= u16::MAX as usize {
        return (0..grid.len())
            .into_par_iter()
            .map(|idx| {
                let c = grid.center(idx);
                gates.iter().rposition(|g| crate::scene::shapes::contains(&g.shape, c))
            })
            .collect();
    }
    let shapes: Vec<&crate::scene::Shape> = gates.iter().map(|g| &g.shape).collect();
    let index = super::shape_index::ShapeIndex::new(grid, &shapes);
    super::paint::par_map_reporting("marking the gates", grid.len(), |idx| {
        let c = grid.center(idx);
        (index.fill_at(c) as usize).checked_sub(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::parse_scene;

    #[test]
    fn later_regions_win_and_cut_cells_average() {
        // 1D, 10 cells of 1 nm from -5 to 5; background n = 1e16, a layer [-5, 0.5] with
        // 1e18 donors and 2e17 acceptors, then an undoped layer [2, 3]
        let s = parse_scene(
            r#"{"domain": {"size": [10], "spacing": 1}, "background": {"material": "GaAs", "doping": {"donors": 1e16}},
                "regions": [
                  {"shape": {"type": "layer", "axis": "x", "from": -6, "to": 0.5}, "material": "GaAs", "doping": {"donors": 1e18, "acceptors": 2e17, "acceptor_energy": 0.03}},
                  {"shape": {"type": "layer", "axis": "x", "from": 2, "to": 3}, "material": "GaAs"}
                ]}"#,
        )
        .unwrap();
        let g = Grid::from_domain(&s.domain).unwrap();
        let shapes: Vec<&crate::scene::Shape> = s.regions.iter().map(|r| &r.shape).collect();
        let map = MaterialMap::paint(&g, &shapes, 4);
        let dm = DopingMap::paint(&map, &s.fill_dopings());
        assert_eq!(dm.donors.len(), 1, "one fully ionised donor species");
        assert_eq!(dm.acceptors.len(), 1);
        assert_eq!(dm.acceptors[0].energy, Some(0.03));
        let (nd, na) = doping_per_cell(&map, &s.fill_dopings());
        // cells 0..5 (x < 0): region 0
        for i in 0..5 {
            assert_eq!(nd[i], 1e18);
            assert_eq!(na[i], 2e17);
        }
        // cell 5 spans [0, 1]: half region 0, half background
        assert!((nd[5] - 0.5 * (1e18 + 1e16)).abs() < 1e-6 * 1e18, "{}", nd[5]);
        assert!((na[5] - 1e17).abs() < 1e-6 * 1e17);
        // cell 7 spans [2, 3]: the undoped region replaces the background's doping
        assert_eq!(nd[7], 0.0);
        assert_eq!(nd[6], 1e16);
        assert_eq!(nd[9], 1e16);
        assert_eq!(na[9], 0.0);
    }

    #[test]
    fn gates_mark_cells() {
        let s = parse_scene(
            r#"{"domain": {"size": [10, 10], "spacing": 1}, "background": {"material": "GaAs"},
                "gates": [{"shape": {"type": "box", "min": [-5, 3], "max": [5, 5]}, "voltage": -0.5},
                          {"shape": {"type": "box", "min": [-1, 2], "max": [1, 5]}, "voltage": 0.2, "barrier": 0.8}]}"#,
        )
        .unwrap();
        let g = Grid::from_domain(&s.domain).unwrap();
        let cells = gate_cells(&g, &s.gates);
        assert_eq!(cells[g.index(0, 9, 0)], Some(0));
        assert_eq!(cells[g.index(5, 9, 0)], Some(1));
        assert_eq!(cells[g.index(5, 7, 0)], Some(1));
        assert_eq!(cells[g.index(0, 7, 0)], None);
        assert_eq!(cells.iter().filter(|c| c.is_some()).count(), 2 * 10 + 2);
    }

    #[test]
    fn many_gates_mark_the_cells_of_the_last_gate_containing_them() {
        // 60 overlapping boxes and spheres (binned by bounding box) against every gate tested
        let g = Grid::uniform(&[40, 30], &[1.0, 1.0]);
        let gates: Vec<Gate> = (0..60)
            .map(|i| {
                let (x, y) = ((i * 37 % 41) as f64 - 20.0, (i * 23 % 31) as f64 - 15.0);
                let r = 1.5 + (i % 5) as f64;
                let shape = if i % 2 == 0 {
                    crate::scene::Shape::Sphere { center: vec![x, y], radius: r }
                } else {
                    crate::scene::Shape::Box { min: vec![x - r, y - 0.5 * r], max: vec![x + r, y + 0.5 * r] }
                };
                Gate { name: None, shape, voltage: 0.0, barrier: None }
            })
            .collect();
        let cells = gate_cells(&g, &gates);
        let mut marked = 0;
        for (idx, got) in cells.iter().enumerate() {
            let c = g.center(idx);
            assert_eq!(*got, gates.iter().rposition(|gt| crate::scene::shapes::contains(&gt.shape, c)), "cell {idx}");
            marked += got.is_some() as usize;
        }
        assert!(marked > g.len() / 4, "{marked} gate cells");
    }
}
