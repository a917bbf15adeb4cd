"""``qd.solve``, ``qd.sweep``, ``qd.materials``, ``qd.info`` and their result objects.

The work is done by the Rust library (the same pipeline as ``qdsim-gpu solve`` and
``qdsim-gpu sweep``) with the GIL released; results come back as NumPy arrays that own
the library's vectors (no copy), reshaped here into views indexed ``[ix, iy, iz]`` (the
program's x-fastest order, as ``numpy.load`` gives the .npy files of an output folder).

Units: energies eV, lengths nm, potentials V, densities cm^-3; |ψ|² in nm^-d
(∫|ψ|² dV = 1), ψ in nm^(-d/2).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _native
from .scene import Scene

SceneError = _native.SceneError

SceneLike = Union[Scene, Mapping[str, Any], str, "os.PathLike[str]"]


class NotConvergedError(RuntimeError):
    """Raised by ``solve(..., check=True)`` (or ``sweep``) when the solve did not converge;
    ``.result`` holds the flagged result."""

    def __init__(self, message: str, result: Any):
        super().__init__(message)
        self.result = result


class NotConvergedWarning(RuntimeWarning):
    """Warned when a solve returns a result flagged ``not_converged``."""


def _scene_args(scene: SceneLike) -> Dict[str, Any]:
    """The native arguments of a scene: a file (read as the CLI reads it), or JSON text with
    the folder its relative paths are taken from."""
    if isinstance(scene, Scene):
        return {"json": scene.to_json(None), "base_dir": scene.base_dir or os.getcwd()}
    if isinstance(scene, Mapping):
        return {"json": json.dumps(_jsonable(scene)), "base_dir": os.getcwd()}
    if isinstance(scene, (str, os.PathLike)):
        return {"path": os.fspath(scene)}
    raise TypeError(f"a scene is a qd.Scene, a dict or the path of a scene file, not {type(scene).__name__}")


def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "to_dict"):
        return v.to_dict()
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def _progress_hook(progress: Union[None, bool, str, Callable[[dict], Any]], what: str):
    """The callback given to the library, and a function that closes what it opened.
    `progress`: a callable (receives each event dict), True or "tqdm" (a tqdm bar when
    tqdm is installed, else nothing), or None/False (no reports; Ctrl-C still works)."""
    if callable(progress):
        return progress, lambda: None
    if progress is True or progress == "tqdm":
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None, lambda: None
        bar = tqdm(total=None, desc=what, unit="")

        def hook(ev: dict) -> None:
            k = ev.get("kind")
            if k == "eigen":
                bar.total = ev["wanted"]
                bar.n = ev["converged"]
                bar.set_postfix_str(f"{ev['matvecs']} H·x, residual {ev['worst_residual']:.1e}", refresh=False)
                bar.refresh()
            elif k == "scf":
                bar.set_postfix_str(f"iteration {ev['iteration']}: |Δφ| {ev['potential_change_v']:.2e} V, E0 {ev['ground_state_ev']:.4f} eV")
            elif k == "point":
                bar.total = ev["total"]
                bar.n = ev["index"]
                bar.set_description_str(ev["label"][:60])
                bar.refresh()
            elif k == "setup":
                bar.set_postfix_str(f"{ev['phase']} {ev['done']}/{ev['total']}")

        return hook, bar.close
    if progress in (None, False):
        return None, lambda: None
    raise TypeError("progress is a callable, True/'tqdm' or None")


class Result:
    """The result of one solve.

    Attributes (typed results, as in results.json; see docs/results-format.md):
    ``energies`` (NumPy, eV, lowest first), ``converged``, ``status`` ("converged" or
    "not_converged"), ``reason`` (why not, or None), ``residuals`` (‖Hψ − Eψ‖ per state,
    eV), ``bound`` (per state), ``timings`` (seconds per phase), ``backend`` (name) and
    ``backend_details``, ``mode``, ``grid`` (cells, spacing, origin), ``states`` (the
    per-state records), ``results`` (the whole document; ``to_dict()`` gives it).

    Fields (NumPy views shaped like the grid, ``[nx]``, ``[nx, ny]`` or ``[nx, ny, nz]``,
    x-fastest): ``band_edge`` and ``potential`` (eV) for a Schrödinger scene; for a device
    scene ``potential`` (φ, V), ``band_edge`` (Ec, eV) and every array of ``fields``
    (``ec_ev``, ``ev_ev``, ``n_cm3``, ``p_cm3``, ``rho_cm3``, ``field_v_per_nm``); ``material``
    (0 background, i + 1 regions[i]); ``psi2`` (states first: ``psi2[i]`` is |ψᵢ|², nm^-d)
    and ``psi`` (ψ, when asked for with ``wavefunctions=True``); ``x``, ``y``, ``z`` the cell
    centres (nm).
    """

    def __init__(self, results: dict, energies: np.ndarray, converged: bool, fields: dict, out_dir: str, wavefunctions: bool):
        self.results = results
        self.energies = energies
        self.converged = bool(converged)
        self.out_dir = out_dir or None
        self.mode = results.get("mode", "schrodinger")
        dims = [int(n) for n in fields.get("dims", results.get("grid", {}).get("cells", []))]
        self.dims = tuple(dims)
        self.spacing_nm = tuple(fields.get("spacing_nm", ()))
        self.origin_nm = tuple(fields.get("origin_nm", ()))
        # graded grids: the cell boundaries of each axis, nm (None: uniform spacing_nm)
        nodes = fields.get("nodes_nm")
        self.nodes_nm = tuple(np.asarray(x, dtype=float) for x in nodes) if nodes else None
        self.fields: Dict[str, np.ndarray] = {k: _grid_view(v, dims) for k, v in fields.get("arrays", {}).items()}
        k = int(fields.get("states", 0))
        self.psi2 = _states_view(fields.get("psi2", np.zeros(0)), dims, k)
        self.psi = _states_view(fields["psi"], dims, k) if wavefunctions and "psi" in fields else None

    # -- typed results

    @property
    def status(self) -> str:
        return self.results.get("status", "converged" if self.converged else "not_converged")

    @property
    def reason(self) -> Optional[str]:
        return self.results.get("reason")

    @property
    def states(self) -> List[dict]:
        if self.mode == "schrodinger":
            return list(self.results.get("states", []))
        q = self.results.get("quantum") or {}
        return list(q.get("states", []))

    @property
    def residuals(self) -> np.ndarray:
        """‖Hψ − Eψ‖ per state, eV (Schrödinger mode; NaN where not reported)."""
        if self.mode == "schrodinger":
            return np.array([s.get("residual_ev", np.nan) for s in self.states], dtype=float)
        return np.full(len(self.energies), np.nan)

    @property
    def bound(self) -> np.ndarray:
        return np.array([bool(s.get("bound", True)) for s in self.states], dtype=bool)

    @property
    def timings(self) -> dict:
        return dict(self.results.get("timings_s", {}))

    @property
    def backend(self) -> str:
        return (self.results.get("backend") or {}).get("name", "")

    @property
    def backend_details(self) -> Any:
        return (self.results.get("backend") or {}).get("details")

    @property
    def grid(self) -> dict:
        return dict(self.results.get("grid", {}))

    @property
    def solver(self) -> dict:
        """The eigensolver's statistics (method, products with H, ...)."""
        if self.mode == "schrodinger":
            return dict(self.results.get("solver", {}))
        return dict(self.results.get("eigensolver") or {})

    # -- fields

    @property
    def band_edge(self) -> np.ndarray:
        return self.fields["band_edge"] if "band_edge" in self.fields else self.fields["ec_ev"]

    @property
    def potential(self) -> np.ndarray:
        return self.fields["potential"] if "potential" in self.fields else self.fields["potential_v"]

    @property
    def material(self) -> np.ndarray:
        return self.fields["material"]

    def axis(self, a: int) -> np.ndarray:
        """Cell centres along axis a, nm."""
        if self.nodes_nm is not None:
            x = self.nodes_nm[a]
            return 0.5 * (x[:-1] + x[1:])
        return np.asarray(self.origin_nm[a]) + (np.arange(self.dims[a]) + 0.5) * self.spacing_nm[a]

    @property
    def x(self) -> np.ndarray:
        return self.axis(0)

    @property
    def y(self) -> np.ndarray:
        return self.axis(1)

    @property
    def z(self) -> np.ndarray:
        return self.axis(2)

    def __getattr__(self, name: str):
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    # -- conversions

    def to_dict(self) -> dict:
        """The typed results as a dict (results.json's document), JSON-serialisable."""
        return json.loads(json.dumps(self.results))

    def plot(self, **kw):
        """A matplotlib figure: in 1D the band edge with each level and its |ψ|²; in 2D
        and 3D slices of the potential and of each |ψ|² (see ``qdsim_gpu.plot``)."""
        from .plot import plot_result

        return plot_result(self, **kw)

    def plot_slices(self, **kw):
        from .plot import plot_slices

        return plot_slices(self, **kw)

    def __repr__(self) -> str:
        e = ", ".join(f"{x:.6f}" for x in self.energies[:6])
        more = ", ..." if len(self.energies) > 6 else ""
        return f"<qd.Result {self.mode} {self.status} on {self.backend}: grid {list(self.dims)}, energies [{e}{more}] eV>"


def _grid_view(flat: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """`flat` (x-fastest) as an array indexed [ix, iy, iz]: a Fortran-order view, no copy."""
    return flat.reshape(tuple(dims), order="F")


def _states_view(flat: np.ndarray, dims: Sequence[int], k: int) -> np.ndarray:
    """k grid arrays laid one after another as one array indexed [state, ix, iy, iz]: a
    view (each ``[i]`` is Fortran-contiguous)."""
    if k == 0:
        return np.zeros((0, *dims))
    rev = tuple(reversed(dims))
    return flat.reshape((k, *rev)).transpose((0, *range(len(dims), 0, -1)))


def solve(
    scene: SceneLike,
    backend: Optional[str] = None,
    states: Optional[int] = None,
    *,
    progress: Union[None, bool, str, Callable[[dict], Any]] = None,
    check: bool = False,
    wavefunctions: bool = False,
    out: Union[None, str, "os.PathLike[str]"] = None,
    adapter: Optional[str] = None,
) -> Result:
    """Solve a scene: a ``qd.Scene``, a dict in the scene format, or the path of a scene
    file (read exactly as ``qdsim-gpu solve`` reads it).

    ``backend``: "auto", "cpu" or "gpu" (None: the scene's ``solve.backend``, "auto" by
    default); ``states``: the number of states (None: the scene's). ``progress``: a callable
    given each event as a dict (``kind`` "setup", "eigen" or "scf"), or True for a tqdm bar.
    ``check=True`` raises :class:`NotConvergedError` instead of returning a flagged result
    (``raise`` is a Python keyword). ``wavefunctions=True`` keeps ψ (``result.psi``).
    ``out``: also write the output folder, as the CLI's ``--out`` (same rules).

    Bad input raises ``qd.SceneError`` (a ValueError) whose ``path`` is the JSON path of the
    field. The solve runs with the GIL released; Ctrl-C interrupts it (KeyboardInterrupt).
    """
    hook, close = _progress_hook(progress, "solve")
    try:
        text, energies, converged, fields, out_dir = _native.solve(
            **_scene_args(scene), backend=backend, states=states, adapter=adapter, progress=hook,
            out=os.fspath(out) if out is not None else None,
        )
    finally:
        close()
    r = Result(json.loads(text), energies, converged, fields, out_dir, wavefunctions)
    if not r.converged:
        msg = f"the solve did not converge: {r.reason or 'the iteration limit was reached'}; the result is flagged \"not_converged\""
        if check:
            raise NotConvergedError(msg, r)
        warnings.warn(msg, NotConvergedWarning, stacklevel=2)
    return r


class SweepResult:
    """The result of a sweep: ``parameters`` (JSON paths), ``values`` (per point, one value
    per parameter), ``energies`` (points × states, eV, NaN where a point has fewer),
    ``converged`` (per point), ``points`` (each point's results document), ``summary``
    (sweep.json), ``csv`` (sweep.csv's text), ``out_dir`` (the folder, when kept)."""

    def __init__(self, parameters: List[str], summary: dict, points: list, all_converged: bool, csv: str, out_dir: Optional[str]):
        self.parameters = parameters
        self.summary = summary
        self.all_converged = bool(all_converged)
        self.csv = csv
        self.out_dir = out_dir
        self.values = [json.loads(v) for (_, v, _, _, _) in points]
        self.converged = np.array([c for (_, _, c, _, _) in points], dtype=bool)
        self.points = [json.loads(r) for (_, _, _, _, r) in points]
        k = max((len(e) for (_, _, _, e, _) in points), default=0)
        self.energies = np.full((len(points), k), np.nan)
        for i, (_, _, _, e, _) in enumerate(points):
            self.energies[i, : len(e)] = e

    def parameter_values(self, i: int = 0) -> np.ndarray:
        """The values of parameter i over the points (numbers as floats)."""
        vals = [v[i] for v in self.values]
        try:
            return np.array(vals, dtype=float)
        except (TypeError, ValueError):
            return np.array(vals, dtype=object)

    def to_dict(self) -> dict:
        """sweep.json's document."""
        return json.loads(json.dumps(self.summary))

    def plot(self, **kw):
        """Levels against the (first) parameter: a matplotlib figure."""
        from .plot import plot_sweep

        return plot_sweep(self, **kw)

    def __repr__(self) -> str:
        return f"<qd.SweepResult {len(self.values)} points of {', '.join(self.parameters)}, {'all converged' if self.all_converged else 'NOT all converged'}>"


def sweep(
    scene: SceneLike,
    parameters: Optional[Mapping[str, Sequence[Any]]] = None,
    *,
    backend: Optional[str] = None,
    states: Optional[int] = None,
    progress: Union[None, bool, str, Callable[[dict], Any]] = None,
    check: bool = False,
    out: Union[None, str, "os.PathLike[str]"] = None,
    keep_points: bool = False,
    cold: bool = False,
    adapter: Optional[str] = None,
) -> SweepResult:
    """Sweep scene values by their JSON paths, varied together:
    ``qd.sweep(scene, {"regions[0].shape.radius": [5, 7.5, 10]})``; without
    ``parameters`` the scene's own ``sweep`` block. Each point starts from the previous
    point's states (``cold=True``: from scratch), exactly as ``qdsim-gpu sweep``.

    ``out``: the sweep's folder (sweep.csv, sweep.json, levels.png; ``keep_points`` adds
    every point's output); None writes it to a temporary folder that is removed (its
    sweep.csv stays in ``result.csv``). ``check=True`` raises :class:`NotConvergedError`
    when a point did not converge.
    """
    sets = []
    for path, values in (parameters or {}).items():
        if hasattr(values, "tolist"):
            values = values.tolist()
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"sweep: the values of `{path}` are a list, not {type(values).__name__}")
        sets.append((str(path), json.dumps(_jsonable(list(values)))))
    hook, close = _progress_hook(progress, "sweep")
    tmp = None
    try:
        if out is None:
            tmp = tempfile.mkdtemp(prefix="qdsim-sweep-")
            target = os.path.join(tmp, "sweep")
        else:
            target = os.fspath(out)
        summary, points, all_converged, out_dir = _native.sweep(
            target, sets, **_scene_args(scene), backend=backend, states=states, adapter=adapter,
            progress=hook, keep_points=keep_points, cold=cold,
        )
        with open(os.path.join(out_dir, "sweep.csv"), encoding="utf-8") as f:
            csv = f.read()
    finally:
        close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = json.loads(summary)
    names = [p.get("path", "") for p in summary.get("parameters", [])] or [p for p, _ in sets]
    r = SweepResult(names, summary, points, all_converged, csv, None if tmp else out_dir)
    if not r.all_converged:
        bad = ", ".join(str(i) for i, c in enumerate(r.converged) if not c)
        msg = f"sweep point(s) {bad} did not converge (flagged in result.converged)"
        if check:
            raise NotConvergedError(msg, r)
        warnings.warn(msg, NotConvergedWarning, stacklevel=2)
    return r


def materials(name: Optional[str] = None, x: Optional[float] = None, temperature: float = 300.0, file: Optional[str] = None) -> dict:
    """The materials database. Without a name: every material (binaries with their nine
    parameters, units and sources; alloys with their endpoints, and their parameters at
    ``x`` when given). With a name: that material (an alloy at ``x``), with Eg, Ec and Ev at
    ``temperature`` K. ``file``: a materials file merged first (docs/materials.md)."""
    return json.loads(_native.materials(name=name, x=x, temperature=temperature, file=file))


def info() -> dict:
    """Version, CPU threads, the GPU adapters wgpu sees and what ``backend="auto"`` picks."""
    return json.loads(_native.info())
