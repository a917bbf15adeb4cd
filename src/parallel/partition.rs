//! How the rows of a grid operator (and the entries of its vectors) are split over ranks.
//!
//! Rank r owns the contiguous block `starts[r]..starts[r+1]` of the global numbering
//! (x fastest, so a block of whole x–y planes is a slab of the grid along z, the slowest
//! axis; for a 2D grid along y, for 1D along x). Blocks are whole planes where the
//! operator's plane size is known, and differ by at most one plane, so rank counts that do
//! not divide the grid still balance to within a plane. A 7-point operator then couples a
//! rank only to the last plane of the rank below and the first plane of the rank above:
//! its ghost layer. Any other coupling (periodic faces, the dense coarse inverse of
//! multigrid) is still exchanged correctly, through the general ghost lists of
//! [`super::distributed`].

/// A split of `n` entries into `starts.len() - 1` contiguous blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub n: usize,
    pub starts: Vec<usize>,
}

impl Partition {
    /// `n` entries over `ranks` blocks of whole units of `unit` entries (planes), balanced
    /// to within one unit. A `unit` that does not divide `n`, or leaves fewer units than
    /// ranks, falls back to single entries.
    pub fn balanced(n: usize, ranks: usize, unit: usize) -> Partition {
        let ranks = ranks.max(1);
        let unit = if unit > 1 && n.is_multiple_of(unit) && n / unit >= ranks { unit } else { 1 };
        let units = n / unit;
        let starts = (0..=ranks).map(|r| (units * r / ranks) * unit).collect();
        Partition { n, starts }
    }
    pub fn ranks(&self) -> usize {
        self.starts.len() - 1
    }
    pub fn range(&self, rank: usize) -> std::ops::Range<usize> {
        self.starts[rank]..self.starts[rank + 1]
    }
    pub fn len_of(&self, rank: usize) -> usize {
        self.starts[rank + 1] - self.starts[rank]
    }
    pub fn counts(&self) -> Vec<usize> {
        (0..self.ranks()).map(|r| self.len_of(r)).collect()
    }
    /// The rank that owns global entry `i`.
    pub fn owner(&self, i: usize) -> usize {
        debug_assert!(i < self.n);
        // the last block whose start is ≤ i (empty blocks share a start: take the last)
        self.starts.partition_point(|&s| s <= i) - 1
    }
}

/// Sorted local indices as maximal runs `(start, len)` of consecutive indices.
pub fn runs(sorted: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &i in sorted {
        match out.last_mut() {
            Some((s, l)) if *s + *l == i => *l += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

/// The plane size of a square grid operator: the largest coupling distance |col − row|
/// below n/2 (a 7-point operator on an nx × ny × nz grid: nx·ny; wrap-around couplings of
/// periodic faces are longer and ignored), or 1.
pub fn plane_size(nrows: usize, row_ptr: &[usize], col: &[u32], rows: std::ops::Range<usize>) -> usize {
    let mut best = 1;
    for r in rows {
        for &c in &col[row_ptr[r]..row_ptr[r + 1]] {
            let d = (c as usize).abs_diff(r);
            if d > best && 2 * d < nrows {
                best = d;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_planes_balanced_to_one_plane() {
        let p = Partition::balanced(10 * 7, 3, 10);
        assert_eq!(p.starts, vec![0, 20, 40, 70]);
        assert_eq!(p.counts(), vec![20, 20, 30]);
        for i in 0..70 {
            assert!(p.range(p.owner(i)).contains(&i));
        }
    }

    #[test]
    fn falls_back_to_entries_and_tolerates_empty_blocks() {
        assert_eq!(Partition::balanced(7, 3, 4).starts, vec![0, 2, 4, 7]);
        let p = Partition::balanced(2, 4, 1);
        assert_eq!(p.counts().iter().sum::<usize>(), 2);
        assert_eq!(p.owner(0), 1);
        assert_eq!(p.owner(1), 3);
    }

    #[test]
    fn runs_of_indices() {
        assert_eq!(runs(&[0, 1, 2, 5, 7, 8]), vec![(0, 3), (5, 1), (7, 2)]);
        assert!(runs(&[]).is_empty());
    }
}
