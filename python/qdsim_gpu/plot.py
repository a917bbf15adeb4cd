"""Plots for notebooks: matplotlib figures of results (matplotlib is optional: it is
imported only here, when a plot is asked for).

- 1D: the band edge (or Ec of a device) with each level drawn at its energy and its |ψ|²
  on top of it, scaled so the largest peak spans a fixed fraction of the energy window
  (the scale is stated in the legend); levels that are not bound are dashed.
- 2D: heat maps of the potential and of each |ψ|².
- 3D: the xy plane (and the xz plane) through the maximum of each |ψ|², and the potential
  on the plane through the ground state's maximum.
Axes in nm, energies in eV.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def _plt():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install matplotlib (or pip install './python[plot]')") from e
    return plt


def plot_result(result, states: Optional[Sequence[int]] = None, ax=None, **kw):
    """The figure of a result: 1D band edge + levels + |ψ|², else slices."""
    if len(result.dims) == 1:
        return plot_1d(result, states=states, ax=ax, **kw)
    return plot_slices(result, states=states, **kw)


def plot_1d(result, states: Optional[Sequence[int]] = None, ax=None, psi_scale: Optional[float] = None, title: Optional[str] = None):
    plt = _plt()
    x = result.x
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 5))
    else:
        fig = ax.figure
    # the potential energy in H (band edge + the scene's potentials), or a device's Ec
    schr = result.mode == "schrodinger"
    edge = result.potential if schr else result.band_edge
    ax.plot(x, edge, color="k", lw=1.5, label="potential energy (eV)" if schr else "Ec (eV)")
    idx = list(range(len(result.energies))) if states is None else list(states)
    bound = result.bound if len(result.bound) == len(result.energies) else np.ones(len(result.energies), bool)
    if len(idx):
        e = result.energies[idx]
        window = max(float(np.nanmax(edge) - np.nanmin(np.minimum(edge.min(), e.min()))), 1e-3)
        peak = max(float(np.nanmax(result.psi2[i])) for i in idx) if len(result.psi2) else 1.0
        scale = psi_scale if psi_scale is not None else 0.15 * window / max(peak, 1e-300)
        for n, i in enumerate(idx):
            ls = "-" if bound[i] else "--"
            c = f"C{n % 10}"
            ax.axhline(result.energies[i], color=c, lw=0.8, ls=ls)
            if i < len(result.psi2):
                ax.plot(x, result.energies[i] + scale * result.psi2[i], color=c, ls=ls, label=f"E{i} = {result.energies[i]:.4f} eV" + ("" if bound[i] else " (not bound)"))
        ax.plot([], [], " ", label=f"|ψ|² × {scale:.3g} eV·nm")
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("energy (eV)")
    ax.set_title(title or result.results.get("scene", {}).get("name") or "qdsim-gpu")
    ax.legend(fontsize=8, loc="best")
    return fig


def _extent(result, a: int, b: int):
    xa, xb = result.axis(a), result.axis(b)
    ha, hb = result.spacing_nm[a], result.spacing_nm[b]
    return [xa[0] - ha / 2, xa[-1] + ha / 2, xb[0] - hb / 2, xb[-1] + hb / 2]


def plot_slices(result, states: Optional[Sequence[int]] = None, max_states: int = 6, title: Optional[str] = None, zoom_states: bool = True):
    """Heat maps: the potential, then each |ψ|² (2D: the plane; 3D: the xy plane through
    each density's maximum, and its xz plane in a second row), the states zoomed to where
    they are (``zoom_states=False``: the whole domain)."""
    plt = _plt()
    d = len(result.dims)
    if d == 1:
        return plot_1d(result, states=states, title=title)
    idx = list(range(min(len(result.psi2), max_states))) if states is None else list(states)
    rows = 1 if d == 2 else 2
    cols = 1 + len(idx)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    pot = result.potential
    unit = "V" if result.mode != "schrodinger" else "eV"

    # the states' panels are zoomed to where the shown densities are above 1e-3 of their
    # peaks (with a margin), as the CLI's slices.png; the potential shows the whole domain
    zoom = None
    if zoom_states and idx:
        mask = np.zeros(result.dims, bool)
        for i in idx:
            mask |= result.psi2[i] > 1e-3 * float(result.psi2[i].max())
        zoom = []
        for a in range(d):
            other = tuple(b for b in range(d) if b != a)
            hit = np.flatnonzero(mask.any(axis=other))
            xa = result.axis(a)
            lo, hi = xa[hit[0]], xa[hit[-1]]
            pad = 0.25 * (hi - lo) + 2 * result.spacing_nm[a]
            full = _extent(result, a, a)[:2]
            zoom.append((max(lo - pad, full[0]), min(hi + pad, full[1])))

    def show(ax, img, a, b, label, cmap, zoomed=True):
        im = ax.imshow(img.T, origin="lower", extent=_extent(result, a, b), cmap=cmap, aspect="equal")
        if zoomed and zoom is not None:
            ax.set_xlim(*zoom[a])
            ax.set_ylim(*zoom[b])
        ax.set_xlabel(f"{'xyz'[a]} (nm)")
        ax.set_ylabel(f"{'xyz'[b]} (nm)")
        ax.set_title(label, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)

    if d == 2:
        show(axes[0, 0], pot, 0, 1, f"potential ({unit})", "viridis", zoomed=False)
        for n, i in enumerate(idx):
            show(axes[0, n + 1], result.psi2[i], 0, 1, f"|ψ{i}|² (nm⁻²), E = {result.energies[i]:.4f} eV", "magma")
    else:
        k0 = np.unravel_index(int(np.argmax(result.psi2[idx[0]])), result.dims) if idx else tuple(n // 2 for n in result.dims)
        show(axes[0, 0], pot[:, :, k0[2]], 0, 1, f"potential ({unit}), z = {result.z[k0[2]]:.1f} nm", "viridis", zoomed=False)
        show(axes[1, 0], pot[:, k0[1], :], 0, 2, f"potential ({unit}), y = {result.y[k0[1]]:.1f} nm", "viridis", zoomed=False)
        for n, i in enumerate(idx):
            p = result.psi2[i]
            m = np.unravel_index(int(np.argmax(p)), result.dims)
            show(axes[0, n + 1], p[:, :, m[2]], 0, 1, f"|ψ{i}|², E = {result.energies[i]:.4f} eV\nz = {result.z[m[2]]:.1f} nm", "magma")
            show(axes[1, n + 1], p[:, m[1], :], 0, 2, f"|ψ{i}|² (nm⁻³)\ny = {result.y[m[1]]:.1f} nm", "magma")
    fig.suptitle(title or result.results.get("scene", {}).get("name") or "qdsim-gpu", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sweep(sweep, parameter: int = 0, ax=None, states: Optional[Sequence[int]] = None, title: Optional[str] = None):
    """Levels against a swept parameter (converged points solid, others hollow)."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5))
    else:
        fig = ax.figure
    xs = sweep.parameter_values(parameter)
    if xs.dtype == object:
        xs = np.arange(len(xs))
    idx = range(sweep.energies.shape[1]) if states is None else states
    for i in idx:
        ax.plot(xs, sweep.energies[:, i], "o-", ms=4, label=f"E{i}")
    bad = ~sweep.converged
    if bad.any():
        for i in idx:
            ax.plot(xs[bad], sweep.energies[bad, i], "o", mfc="none", mec="r")
    ax.set_xlabel(sweep.parameters[parameter] if parameter < len(sweep.parameters) else "point")
    ax.set_ylabel("energy (eV)")
    ax.set_title(title or "levels against the swept parameter")
    ax.legend(fontsize=8)
    return fig
