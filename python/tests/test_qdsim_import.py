"""qd.Scene.from_qdsim: QDSim's configurations, as `qdsim-gpu import-qdsim` converts them."""

import json

import pytest

import qdsim_gpu as qd

from conftest import SCENES, run_cli

DIODE = """\
lx: 200.0
ly: 100.0
nx: 200
ny: 100
element_order: 1
qd_material: InAs
matrix_material: GaAs
diode_p_material: GaAs
diode_n_material: GaAs
r: 10.0
v_0: 0.3
potential_type: gaussian
n_a: 1.0e+24
n_d: 1.0e+24
v_r: 0.2
tolerance: 1.0e-6
max_iter: 30
use_mpi: false
temperature: 300
eta: 0.1
"""


def test_from_qdsim_is_the_cli_conversion_and_the_shipped_scene(tmp_path, cli, capsys):
    cfg = tmp_path / "simple_qd.yaml"
    cfg.write_text(DIODE)
    s = qd.Scene.from_qdsim(cfg)
    printed = capsys.readouterr().out
    assert "element_order" in printed and "use_mpi" in printed and "eta" in printed
    assert "element_order" in s.description
    p = run_cli(cli, "import-qdsim", cfg)
    assert p.returncode == 0, p.stderr
    assert s.to_dict() == json.loads(p.stdout)
    shipped = qd.Scene.load(SCENES / "dot_in_pn_diode_2d.json")
    assert s.background == shipped.background and s.regions == shipped.regions
    assert s.contacts == shipped.contacts and s.solve == shipped.solve
    s.validate()
    scene, note = qd.import_qdsim(cfg, print_note=False)
    assert scene == s and "eta" in note


def test_from_qdsim_errors_name_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("lx: 100\nly: 100\nqd_material: Unobtainium\n")
    with pytest.raises(qd.SceneError, match="qd_material"):
        qd.Scene.from_qdsim(cfg)
