"""The builder: every shipped scene round-trips through it, and what it builds is valid."""

import json

import numpy as np
import pytest

import qdsim_gpu as qd

from conftest import SCENES


@pytest.mark.parametrize("path", sorted(SCENES.glob("*.json")), ids=lambda p: p.name)
def test_every_scene_round_trips(path):
    d = json.loads(path.read_text())
    s = qd.Scene.from_dict(d)
    assert s.to_dict() == d
    # and through JSON text, and a loaded file
    assert qd.Scene.from_json(s.to_json()).to_dict() == d
    loaded = qd.Scene.load(path)
    assert loaded.to_dict() == d and loaded.base_dir == str(path.parent)
    loaded.validate()


def test_objects_are_typed():
    s = qd.Scene.load(SCENES / "dot_in_pn_diode_2d.json")
    assert isinstance(s.domain, qd.Domain)
    assert isinstance(s.regions[1].shape, qd.Sphere) and s.regions[1].shape.radius == 10.0
    assert isinstance(s.regions[0].doping, qd.Doping) and s.regions[0].doping.donors == 1e18
    assert isinstance(s.contacts[1], qd.Contact) and s.contacts[1].voltage == 0.2
    assert isinstance(s.solve.poisson.quantum_region, qd.QuantumRegion)
    w = qd.Scene.load(SCENES / "sweep_well_depth.json")
    assert isinstance(w.sweep.values, qd.Range) and w.sweep.values.steps == 7


def test_a_built_scene_is_a_valid_scene_file(tmp_path):
    s = qd.Scene(
        name="well",
        domain=qd.Domain(size=[60], spacing=0.1),
        background=qd.Alloy("AlGaAs", x=0.3),
        solve=qd.Solve(states=3, tolerance=1e-10),
    ).add(qd.Region(qd.Layer("x", -5, 5), qd.Material("GaAs"), name="well"))
    assert s.to_dict() == {
        "name": "well",
        "domain": {"size": [60], "spacing": 0.1},
        "background": {"material": "AlGaAs", "x": 0.3},
        "regions": [{"name": "well", "shape": {"type": "layer", "axis": "x", "from": -5, "to": 5}, "material": "GaAs"}],
        "solve": {"states": 3, "tolerance": 1e-10},
    }
    s.validate()
    s.save(tmp_path / "w.json")
    ref = qd.solve(SCENES / "quantum_well_1d.json", backend="cpu")
    got = qd.solve(tmp_path / "w.json", backend="cpu")
    # the shipped scene differs only in its name and description
    assert np.max(np.abs(got.energies - ref.energies)) <= 1e-12


def test_device_builder():
    d = qd.Scene(
        domain=qd.Domain([200.0, 100.0], 1.0),
        temperature=300,
        background=qd.Material("GaAs").doped(acceptors=1e18),
        regions=[
            qd.Region(qd.Box([0.0, -50.0], [100.0, 50.0]), qd.Material("GaAs").doped(donors=1e18), name="n side"),
            qd.Region(qd.Sphere([0.0, 0.0], 10.0), "InAs", name="dot"),
        ],
        contacts=[qd.Ohmic("x_min", 0.0, name="p contact"), qd.Ohmic("x_max", 0.2, name="n contact")],
        solve=qd.Solve(mode="self_consistent", states=6, poisson=qd.Poisson(
            statistics="fermi_dirac", holes=True, tolerance=1e-6, max_iterations=30,
            mixing=qd.Mixing("anderson", 0.5, 6), quantum_region=qd.QuantumRegion([-32.0, -30.0], [20.0, 30.0]))),
    )
    ref = json.loads((SCENES / "dot_in_pn_diode_2d.json").read_text())
    got = d.to_dict()
    for k in ["domain", "temperature", "background", "contacts", "solve"]:
        assert got[k] == ref[k], k
    assert [r["shape"] for r in got["regions"]] == [r["shape"] for r in ref["regions"]]
    d.validate()


def test_every_kind_of_object_serialises_and_reads_back():
    s = qd.Scene(
        domain=qd.Domain([40, 40, 20], [1, 1, 0.5], periodic=[False, False, False]),
        background=qd.Material("GaAs"),
        regions=[
            qd.Region(qd.Cylinder([0, 0, 0], 5, 4, axis="z"), qd.Alloy("InGaAs", 0.5)),
            qd.Region(qd.Cone([0, 0, -2], 6, 3, top_radius=1), "InAs"),
            qd.Region(qd.Pyramid([0, 0, -2], 10, 3, top_width=2), "InAs"),
            qd.Region(qd.Lens([0, 0, -2], 8, 3), "InAs"),
            qd.Region(qd.Ellipsoid([0, 0, 0], [5, 4, 2]), "InAs", doping=qd.Doping(donors=1e17, donor_energy=0.006)),
        ],
        potentials=[qd.Harmonic(hbar_omega=0.01, axes=["x", "y"]), qd.Gaussian(0.1, [6, 6, 2], center=[0, 0, 0]),
                    qd.SquareWell(0.2, qd.Box([-5, -5, -5], [5, 5, 5])), qd.PotentialFile("v.npy", scale=2)],
        contacts=[qd.Schottky("z_min", 0.7, voltage=0.1, patch=qd.Patch([-5, -5], [5, 5]))],
        gates=[qd.Gate(qd.Layer("z", 9, 10), voltage=-0.5, barrier=0.8)],
        output=qd.Output(npy=False, wavefunctions=True),
        sweep=qd.Sweep("gates[0].voltage", qd.Range(-1, 0, 5)),
    )
    d = s.to_dict()
    assert d["potentials"][1] == {"type": "gaussian", "depth": 0.1, "sigma": [6, 6, 2], "center": [0, 0, 0]}
    assert d["contacts"][0] == {"face": "z_min", "type": "schottky", "voltage": 0.1, "barrier": 0.7, "patch": {"min": [-5, -5], "max": [5, 5]}}
    assert d["sweep"] == {"parameter": "gates[0].voltage", "values": {"from": -1, "to": 0, "steps": 5}}
    assert qd.Scene.from_dict(d).to_dict() == d
    assert qd.Scene.from_dict(d) == s


def test_builder_errors():
    with pytest.raises(ValueError, match="unknown field `radius`"):
        qd.Scene.from_dict({"domain": {"size": [10], "spacing": 1}, "background": {"material": "GaAs"},
                            "regions": [{"shape": {"type": "box", "min": [0], "max": [1], "radius": 2}, "material": "GaAs"}]})
    with pytest.raises(ValueError, match="unknown type 'blob'"):
        qd.Shape.from_dict({"type": "blob"})
    with pytest.raises(qd.SceneError) as e:
        qd.Scene(qd.Domain([60], 0.1), qd.Material("GaAs"), regions=[qd.Region(qd.Layer("x", 5, -5), "GaAs")]).validate()
    assert e.value.path.startswith("regions[0].shape")
