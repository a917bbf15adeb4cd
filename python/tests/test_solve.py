"""qd.solve against the command line: the same pipeline, so the same numbers."""

import json
import threading
import time

import numpy as np
import pytest

import qdsim_gpu as qd


def cli_energies(results):
    if results.get("mode", "schrodinger") == "schrodinger":
        return np.array([s["energy_ev"] for s in results["states"]])
    return np.array([s["energy_ev"] for s in (results.get("quantum") or {}).get("states", [])])


@pytest.mark.parametrize("name", ["quantum_well_1d.json", "harmonic_2d.json", "heterojunction_2deg_1d.json", "dot_in_pn_diode_2d.json"])
def test_energies_equal_the_cli(name, scenes, solve_cli):
    ref, _ = solve_cli(scenes / name, "--backend", "cpu")
    r = qd.solve(scenes / name, backend="cpu")
    e_cli = cli_energies(ref)
    assert len(e_cli) > 0
    assert r.energies.shape == e_cli.shape
    assert np.max(np.abs(r.energies - e_cli)) <= 1e-12, (r.energies, e_cli)
    assert r.converged and r.status == "converged"
    # the same backend; a CLI built with the `mpi` feature (as .ci/run's distributed step
    # leaves it) names it with an "-mpi" suffix, the extension without
    assert r.backend == ref["backend"]["name"].removesuffix("-mpi")


def test_arrays_shaped_normalised_and_equal_to_the_npy(scenes, solve_cli):
    ref, out = solve_cli(scenes / "quantum_well_1d.json", "--backend", "cpu")
    r = qd.solve(scenes / "quantum_well_1d.json", backend="cpu", wavefunctions=True)
    nx = ref["grid"]["cells"][0]
    h = ref["grid"]["spacing_nm"][0]
    assert r.dims == (nx,)
    assert r.band_edge.shape == (nx,) and r.potential.shape == (nx,)
    assert r.psi2.shape == (3, nx) and r.psi.shape == (3, nx)
    for i in range(3):
        assert abs(r.psi2[i].sum() * h - 1.0) < 1e-12
        assert np.allclose(r.psi[i] ** 2, r.psi2[i], rtol=0, atol=1e-14)
        np.testing.assert_allclose(r.psi2[i], np.load(out / f"psi2_{i:03}.npy"), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r.band_edge, np.load(out / "band_edge.npy"))
    np.testing.assert_array_equal(r.potential, np.load(out / "potential.npy"))
    np.testing.assert_allclose(r.x, (np.arange(nx) + 0.5) * h - 30.0, atol=1e-12)
    # the residuals and timings are the typed results
    assert r.residuals.shape == (3,) and np.all(r.residuals < 1e-6)
    assert set(r.timings) >= {"setup", "assemble", "solve", "total"}
    d = r.to_dict()
    assert d["states"][0]["energy_ev"] == r.energies[0]
    json.dumps(d)


def test_2d_arrays_are_x_fastest_views(scenes, solve_cli):
    ref, out = solve_cli(scenes / "harmonic_2d.json", "--backend", "cpu")
    r = qd.solve(scenes / "harmonic_2d.json", backend="cpu")
    nx, ny = ref["grid"]["cells"]
    hx, hy = ref["grid"]["spacing_nm"]
    assert r.psi2.shape == (10, nx, ny)
    assert r.potential.shape == (nx, ny)
    # no copies: Fortran-ordered views of the library's buffers
    assert r.potential.flags.f_contiguous and not r.potential.flags.owndata
    assert r.psi2[3].flags.f_contiguous
    for i in range(10):
        assert abs(r.psi2[i].sum() * hx * hy - 1.0) < 1e-10
        np.testing.assert_allclose(r.psi2[i], np.load(out / f"psi2_{i:03}.npy"), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r.potential, np.load(out / "potential.npy"))


def test_device_fields(scenes, solve_cli):
    ref, out = solve_cli(scenes / "pn_junction_1d.json", "--backend", "cpu")
    r = qd.solve(scenes / "pn_junction_1d.json", backend="cpu")
    assert r.mode == "poisson" and r.converged
    for name in ["potential_v", "ec_ev", "ev_ev", "n_cm3", "p_cm3", "rho_cm3"]:
        np.testing.assert_allclose(r.fields[name], np.load(out / f"{name}.npy"), rtol=1e-12, atol=0)
    assert r.potential is r.fields["potential_v"]
    assert r.band_edge is r.fields["ec_ev"]
    assert len(r.energies) == 0


def test_dict_and_builder_scenes_solve_like_the_file(scenes):
    path = scenes / "quantum_well_1d.json"
    d = json.loads(path.read_text())
    a = qd.solve(path, backend="cpu")
    b = qd.solve(d, backend="cpu")
    c = qd.solve(qd.Scene.from_dict(d), backend="cpu", states=2)
    np.testing.assert_array_equal(a.energies, b.energies)
    assert len(c.energies) == 2
    assert abs(c.energies[1] - a.energies[1]) < 1e-9


def test_bad_input_raises_with_the_json_path(scenes):
    d = json.loads((scenes / "quantum_well_1d.json").read_text())
    d["solve"]["states"] = "many"
    with pytest.raises(qd.SceneError) as e:
        qd.solve(d)
    assert isinstance(e.value, ValueError)
    assert e.value.path == "solve.states"
    assert "solve.states" in str(e.value) and e.value.reason
    d = json.loads((scenes / "quantum_well_1d.json").read_text())
    d["regions"][0]["shape"]["to"] = -10
    with pytest.raises(qd.SceneError) as e:
        qd.solve(d)
    assert e.value.path.startswith("regions[0].shape"), e.value.path
    d = json.loads((scenes / "quantum_well_1d.json").read_text())
    d["domain"]["spacing"] = -1
    with pytest.raises(ValueError, match=r"domain\.spacing"):
        qd.solve(d)
    with pytest.raises(qd.SceneError) as e:
        qd.solve(scenes / "quantum_well_1d.json", backend="fast")
    assert e.value.path == "backend"
    with pytest.raises(qd.SceneError) as e:
        qd.solve(scenes / "quantum_well_1d.json", states=0)
    assert e.value.path == "--states"
    with pytest.raises(qd.SceneError):
        qd.Scene.from_dict({**d, "domain": {"size": [60], "spacing": 0.1}, "background": {"material": "Unobtainium"}}).run()


def test_not_converged_is_flagged_and_can_raise(scenes):
    d = json.loads((scenes / "harmonic_2d.json").read_text())
    d["solve"]["max_iterations"] = 5
    with pytest.warns(qd.NotConvergedWarning):
        r = qd.solve(d, backend="cpu")
    assert not r.converged and r.status == "not_converged" and r.reason
    with pytest.raises(qd.NotConvergedError) as e:
        qd.solve(d, backend="cpu", check=True)
    assert e.value.result.status == "not_converged"


def test_progress_callback_and_exception_stops_the_solve(scenes):
    events = []
    r = qd.solve(scenes / "harmonic_2d.json", backend="cpu", progress=events.append)
    kinds = {e["kind"] for e in events}
    assert "eigen" in kinds, kinds
    assert r.converged

    class Stop(Exception):
        pass

    def stop(ev):
        if ev["kind"] == "eigen":
            raise Stop()

    with pytest.raises(Stop):
        qd.solve(scenes / "harmonic_2d.json", backend="cpu", progress=stop)
    # the library is usable afterwards
    again = qd.solve(scenes / "harmonic_2d.json", backend="cpu")
    np.testing.assert_array_equal(again.energies, r.energies)


def test_ctrl_c_interrupts_a_solve(scenes):
    """SIGINT during a solve (the main thread in the library, the GIL released) raises
    KeyboardInterrupt at the next progress hook."""
    import os
    import signal

    d = json.loads((scenes / "harmonic_3d.json").read_text())
    d["solve"]["tolerance"] = 1e-12
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.time()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            qd.solve(d, backend="cpu")
    finally:
        timer.cancel()
    assert time.time() - t0 < 30


def test_gil_is_released_during_a_solve(scenes):
    """A Python thread keeps running while the library solves."""
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.time())
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    try:
        t0 = time.time()
        qd.solve(scenes / "harmonic_2d.json", backend="cpu")
        t1 = time.time()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 < 0.05 or len(during) >= 0.3 * (t1 - t0) / 0.01


def test_out_writes_the_cli_folder(scenes, tmp_path):
    r = qd.solve(scenes / "quantum_well_1d.json", backend="cpu", out=tmp_path / "w.out")
    assert (tmp_path / "w.out" / "results.json").is_file()
    assert r.out_dir and r.out_dir.endswith("w.out")


def test_materials_and_info():
    m = qd.materials()
    assert "GaAs" in m and "AlGaAs" in m
    assert m["GaAs"]["properties"]["me"] == pytest.approx(0.067, rel=0.05)
    assert m["AlGaAs"]["alloy"] and "properties" not in m["AlGaAs"]
    a = qd.materials("AlGaAs", x=0.3, temperature=300)
    assert a["x"] == 0.3 and a["band_gap_ev"] > 1.5 and a["sources"]
    with pytest.raises(qd.SceneError):
        qd.materials("Unobtainium")
    i = qd.info()
    assert i["cpu_threads"] >= 1 and isinstance(i["adapters"], list) and i["version"]
