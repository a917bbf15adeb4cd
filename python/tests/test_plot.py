"""Plots return matplotlib figures (1D levels, 2D slices, sweeps)."""

import pytest

import qdsim_gpu as qd

from conftest import SCENES

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_1d_plot(tmp_path):
    r = qd.solve(SCENES / "quantum_well_1d.json", backend="cpu")
    fig = r.plot()
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x (nm)" and ax.get_ylabel() == "energy (eV)"
    assert len(ax.lines) >= 1 + 2 * len(r.energies)
    fig.savefig(tmp_path / "w.png")


def test_2d_slices_and_device(tmp_path):
    r = qd.solve(SCENES / "harmonic_2d.json", backend="cpu", states=3)
    fig = r.plot()
    assert len(fig.axes) >= 4
    fig.savefig(tmp_path / "h.png")
    d = qd.solve(SCENES / "pn_junction_1d.json", backend="cpu")
    d.plot().savefig(tmp_path / "pn.png")


def test_sweep_plot(tmp_path):
    s = qd.sweep(SCENES / "quantum_well_1d.json", {"regions[0].shape.to": [3, 4, 5]}, backend="cpu", states=2)
    fig = s.plot()
    assert len(fig.axes[0].lines) >= 2
    fig.savefig(tmp_path / "s.png")
