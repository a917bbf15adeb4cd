"""qd.sweep against `qdsim-gpu sweep`: sweep.csv's energies."""

import csv
import io
import json

import numpy as np
import pytest

import qdsim_gpu as qd

from conftest import run_cli


def csv_energies(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    cols = sorted((k for k in rows[0] if k.startswith("E") and k.endswith("_eV")), key=lambda k: int(k[1:-3]))
    return np.array([[float(r[c]) if r[c] else np.nan for c in cols] for r in rows]), rows


def test_scene_sweep_matches_the_cli(cli, scenes, tmp_path):
    out = tmp_path / "cli.sweep"
    p = run_cli(cli, "sweep", scenes / "sweep_well_depth.json", "--out", out, "--quiet", "--backend", "cpu")
    assert p.returncode == 0, p.stderr
    ref, rows = csv_energies((out / "sweep.csv").read_text())
    s = qd.sweep(scenes / "sweep_well_depth.json", backend="cpu")
    assert s.energies.shape == ref.shape
    assert np.nanmax(np.abs(s.energies - ref)) <= 1e-12
    assert s.all_converged and s.converged.all()
    col = next(k for k in rows[0] if k.startswith("background.x"))
    np.testing.assert_allclose(s.parameter_values(), [float(r[col]) for r in rows])
    got, _ = csv_energies(s.csv)
    np.testing.assert_array_equal(got, ref)
    assert s.out_dir is None


def test_set_sweep_matches_the_cli(cli, scenes, tmp_path):
    out = tmp_path / "cli.sweep"
    p = run_cli(cli, "sweep", scenes / "quantum_well_1d.json", "--set", "regions[0].shape.to=3,4,5", "--out", out, "--quiet", "--backend", "cpu")
    assert p.returncode == 0, p.stderr
    ref, _ = csv_energies((out / "sweep.csv").read_text())
    kept = tmp_path / "py.sweep"
    s = qd.sweep(scenes / "quantum_well_1d.json", {"regions[0].shape.to": [3, 4, 5]}, backend="cpu", out=kept)
    assert np.nanmax(np.abs(s.energies - ref)) <= 1e-12
    assert (kept / "sweep.csv").is_file() and s.out_dir
    assert s.to_dict()["parameters"][0]["path"] == "regions[0].shape.to"


def test_sweep_of_a_dict_with_two_parameters(scenes):
    d = json.loads((scenes / "quantum_well_1d.json").read_text())
    s = qd.sweep(d, {"regions[0].shape.from": np.array([-3.0, -4.0]), "regions[0].shape.to": [3, 4]}, backend="cpu", states=2)
    assert s.energies.shape == (2, 2)
    assert s.energies[1, 0] < s.energies[0, 0]  # the wider well is lower


def test_sweep_bad_path_raises_with_the_path(scenes):
    with pytest.raises(qd.SceneError, match=r"regions\[3\]"):
        qd.sweep(scenes / "quantum_well_1d.json", {"regions[3].shape.to": [1, 2]})
    with pytest.raises(qd.SceneError, match="same number"):
        qd.sweep(scenes / "quantum_well_1d.json", {"regions[0].shape.to": [3, 4], "regions[0].shape.from": [-3]})
