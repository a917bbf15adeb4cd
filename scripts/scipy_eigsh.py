#!/usr/bin/env python3
"""Time SciPy's eigsh (ARPACK) on a Matrix Market file: the lowest k eigenvalues.

Usage: python3 scripts/scipy_eigsh.py dot64.mtx [--k 10] [--tol 1e-8] [--ncv N] [--reps 1]

Export the benchmark matrix first (64³ dot by default, --eigen-size to change):
  qdsim-gpu bench --export-matrix /tmp/dot64.mtx --eigen-size 64

Tolerances differ: ARPACK stops when |r_i| <= tol*|theta_i| (per Ritz value); qdsim's
Lanczos when |r_i| <= tol*||H|| (||H|| estimated by the largest Ritz value). With
theta ~ 0.7 eV and ||H|| ~ 18 eV, scipy tol=1e-8 is ~25x stricter than qdsim tol=1e-8;
--tol 2.5e-7 is the equivalent criterion. Both residual measures are printed.
Threads: OMP_NUM_THREADS / OPENBLAS_NUM_THREADS control the BLAS; the sparse product
itself is single-threaded in SciPy.
"""
import argparse
import time

import numpy as np
import scipy
import scipy.io
import scipy.sparse
import scipy.sparse.linalg as sla

p = argparse.ArgumentParser()
p.add_argument("mtx")
p.add_argument("--k", type=int, default=10)
p.add_argument("--tol", type=float, default=1e-8)
p.add_argument("--ncv", type=int, default=None)
p.add_argument("--reps", type=int, default=1)
a = p.parse_args()

t = time.perf_counter()
A = scipy.sparse.csr_matrix(scipy.io.mmread(a.mtx))
print(f"read {a.mtx}: {A.shape[0]} rows, {A.nnz} nnz in {time.perf_counter() - t:.2f} s "
      f"(scipy {scipy.__version__}, numpy {np.__version__})")
x = np.random.default_rng(0).standard_normal(A.shape[0])
A @ x
t = time.perf_counter()
for _ in range(20):
    y = A @ x
print(f"scipy spmv: {(time.perf_counter() - t) / 20 * 1e3:.3f} ms per product (mean of 20)")

best = None
for _ in range(a.reps):
    nmv = [0]

    def mv(v):
        nmv[0] += 1
        return A @ v

    op = sla.LinearOperator(A.shape, matvec=mv, dtype=np.float64)
    t = time.perf_counter()
    vals, vecs = sla.eigsh(op, k=a.k, which="SA", tol=a.tol, ncv=a.ncv, v0=np.ones(A.shape[0]))
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
order = np.argsort(vals)
vals, vecs = vals[order], vecs[:, order]
res = np.linalg.norm(A @ vecs - vecs * vals, axis=0)
norm_inf = abs(A).sum(axis=1).max()
print(f"eigsh k={a.k} which=SA tol={a.tol:g} ncv={a.ncv}: {best:.3f} s (best of {a.reps}), "
      f"{nmv[0]} matvecs (last run)")
print("eigenvalues (eV):", " ".join(f"{v:.12f}" for v in vals))
print(f"max residual/||H||_inf: {(res / norm_inf).max():.3e}   max residual/|lambda|: {(res / abs(vals)).max():.3e}")
