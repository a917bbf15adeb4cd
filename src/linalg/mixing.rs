//! Fixed-point mixing for the self-consistent loop: linear (under-relaxed) and Anderson
//! (Pulay / DIIS) mixing of an input → output map x ↦ g(x).
//!
//! Anderson keeps the last m input vectors and residuals f = g(x) − x and takes the next input
//! as the combination of recent inputs and outputs whose residual is smallest in the least
//! squares sense (Anderson 1965; Eyert, J. Comput. Phys. 124, 271 (1996)), damped by β:
//!   x_{k+1} = x̄ + β f̄,  x̄ = x_k − Σ γ_j Δx_j,  f̄ = f_k − Σ γ_j Δf_j,
//! with γ minimising ‖f_k − Σ γ_j Δf_j‖ (a small least-squares problem solved by the normal
//! equations with Tikhonov regularisation). With history 0 it is linear mixing.

use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct Anderson {
    /// Damping (mixing) parameter β in (0, 1].
    pub beta: f64,
    /// Number of previous steps kept.
    pub history: usize,
    xs: VecDeque<Vec<f64>>,
    fs: VecDeque<Vec<f64>>,
}

impl Anderson {
    pub fn new(beta: f64, history: usize) -> Anderson {
        Anderson { beta, history, xs: VecDeque::new(), fs: VecDeque::new() }
    }

    /// Linear mixing x + β (g − x).
    pub fn linear(beta: f64) -> Anderson {
        Anderson::new(beta, 0)
    }

    /// Forget the history (e.g. after the problem changed).
    pub fn reset(&mut self) {
        self.xs.clear();
        self.fs.clear();
    }

    /// The next input from the current input `x` and the output `g` = G(x).
    pub fn next(&mut self, x: &[f64], g: &[f64]) -> Vec<f64> {
        let n = x.len();
        let f: Vec<f64> = g.iter().zip(x).map(|(g, x)| g - x).collect();
        let (mut xbar, mut fbar) = (x.to_vec(), f.clone());
        if self.history > 0 && !self.xs.is_empty() {
            // differences to the previous steps
            let m = self.xs.len();
            let dx: Vec<Vec<f64>> = self.xs.iter().map(|xp| x.iter().zip(xp).map(|(a, b)| a - b).collect()).collect();
            let df: Vec<Vec<f64>> = self.fs.iter().map(|fp| f.iter().zip(fp).map(|(a, b)| a - b).collect()).collect();
            // normal equations (ΔFᵀΔF + λ I) γ = ΔFᵀ f
            let mut a = nalgebra::DMatrix::<f64>::zeros(m, m);
            let mut rhs = nalgebra::DVector::<f64>::zeros(m);
            for i in 0..m {
                rhs[i] = dot(&df[i], &f);
                for j in 0..=i {
                    let v = dot(&df[i], &df[j]);
                    a[(i, j)] = v;
                    a[(j, i)] = v;
                }
            }
            let scale = (0..m).map(|i| a[(i, i)]).fold(0.0f64, f64::max);
            for i in 0..m {
                a[(i, i)] += 1e-10 * scale + f64::MIN_POSITIVE;
            }
            if let Some(gamma) = a.clone().cholesky().map(|c| c.solve(&rhs)) {
                if gamma.iter().all(|v| v.is_finite()) {
                    for j in 0..m {
                        for k in 0..n {
                            xbar[k] -= gamma[j] * dx[j][k];
                            fbar[k] -= gamma[j] * df[j][k];
                        }
                    }
                }
            }
        }
        if self.history > 0 {
            self.xs.push_front(x.to_vec());
            self.fs.push_front(f);
            self.xs.truncate(self.history);
            self.fs.truncate(self.history);
        }
        xbar.iter().zip(&fbar).map(|(x, f)| x + self.beta * f).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G(x) = A x + b with a contraction A whose fixed point is known.
    fn run(mixer: &mut Anderson, steps: usize) -> (Vec<f64>, usize) {
        let n = 20;
        let exact: Vec<f64> = (0..n).map(|i| (i as f64 * 0.3).sin()).collect();
        // G(x) = x* + D (x − x*) with eigenvalues of D up to 0.98: slow for linear mixing
        let d: Vec<f64> = (0..n).map(|i| 0.98 * (i as f64 / (n - 1) as f64)).collect();
        let mut x = vec![0.0; n];
        for it in 0..steps {
            let g: Vec<f64> = (0..n).map(|i| exact[i] + d[i] * (x[i] - exact[i])).collect();
            let err = g.iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            if err < 1e-10 {
                return (x, it);
            }
            x = mixer.next(&x, &g);
        }
        (x, steps)
    }

    #[test]
    fn anderson_converges_much_faster_than_linear_mixing() {
        let (_, lin) = run(&mut Anderson::linear(1.0), 2000);
        let (x, and) = run(&mut Anderson::new(1.0, 6), 2000);
        assert!(and < 100, "Anderson took {and} steps");
        assert!(lin > 3 * and, "linear {lin}, Anderson {and}");
        let exact: Vec<f64> = (0..20).map(|i| (i as f64 * 0.3).sin()).collect();
        for (a, b) in x.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-8);
        }
    }

    #[test]
    fn linear_mixing_is_under_relaxation() {
        let mut m = Anderson::linear(0.25);
        assert_eq!(m.next(&[1.0, 2.0], &[3.0, 2.0]), vec![1.5, 2.0]);
    }
}
