"""A scene builder that reads like the physics.

Every object here serialises to the scene format of qdsim-gpu (docs/scene-format.md) with
``to_dict()`` and is rebuilt from it with ``from_dict()``: a scene made with the builder
is a scene file, and every scene file loads into the builder and writes back unchanged.
Fields left at ``None`` are left out of the dict, so the program's defaults apply.

Units, as in the scene format: lengths and coordinates nm (the domain is centred on the
origin), energies eV, temperatures K, doping cm^-3, voltages V.

>>> import qdsim_gpu as qd
>>> well = qd.Scene(
...     domain=qd.Domain(size=[60], spacing=0.1),
...     background=qd.Alloy("AlGaAs", x=0.3),
...     regions=[qd.Region(qd.Layer("x", -5, 5), qd.Material("GaAs"), name="well")],
...     solve=qd.Solve(states=3),
... )
>>> well.to_dict()["regions"][0]["shape"]
{'type': 'layer', 'axis': 'x', 'from': -5, 'to': 5}
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Union

Number = Union[int, float]
Point = Sequence[Number]

__all__ = [
    "Scene", "Domain", "Refine", "Material", "Alloy", "Fill", "Doping", "Region",
    "Shape", "Layer", "Box", "Sphere", "Cylinder", "Cone", "Pyramid", "Lens", "Ellipsoid",
    "Potential", "Harmonic", "Gaussian", "SquareWell", "PotentialFile",
    "Contact", "Ohmic", "Schottky", "Patch", "Gate",
    "Solve", "Poisson", "Mixing", "QuantumRegion", "Output", "Sweep", "Range",
]


def _plain(v: Any) -> Any:
    """A JSON value of `v`: builder objects by their dicts, tuples and NumPy values as lists
    and numbers."""
    if isinstance(v, _Node):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if hasattr(v, "tolist"):  # NumPy scalars and arrays
        return v.tolist()
    return v


class _Node:
    """A dataclass that maps to one JSON object: fields in declaration order, a field's
    JSON key its name unless `_keys` renames it (``from_`` → ``from``), ``None`` left out.
    `_nested` gives the builder class of a field read back from a dict (a list of them
    when the field is a list)."""

    _keys: ClassVar[Dict[str, str]] = {}
    _nested: ClassVar[Dict[str, Any]] = {}
    _tag: ClassVar[Optional[str]] = None  # the "type" of a shape, potential or contact

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self._tag is not None:
            d["type"] = self._tag
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None or (f.name in _EMPTY_LISTS_LEFT_OUT and v == []):
                continue
            d[self._keys.get(f.name, f.name)] = _plain(v)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]):
        if not isinstance(d, dict):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
        inverse = {v: k for k, v in cls._keys.items()}
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            if k == "type" and cls._tag is not None:
                continue
            name = inverse.get(k, k)
            if name not in names:
                raise ValueError(f"{cls.__name__}: unknown field `{k}` (fields: {', '.join(cls._keys.get(n, n) for n in names)})")
            sub = cls._nested.get(name)
            if sub is not None and v is not None:
                v = [_read(sub, x) for x in v] if isinstance(v, list) and name in _LIST_FIELDS else _read(sub, v)
            kw[name] = copy.deepcopy(v)
        return cls(**kw)

    def copy(self):
        """A deep copy (to vary one field without changing the original)."""
        return copy.deepcopy(self)


# list fields of the scene holding builder objects, and lists left out when empty
_LIST_FIELDS = {"regions", "potentials", "contacts", "gates", "refine"}
_EMPTY_LISTS_LEFT_OUT = _LIST_FIELDS


def _read(sub, v):
    if isinstance(sub, type) and issubclass(sub, _Node):
        return sub.from_dict(v)
    return sub(v)


# ---------------------------------------------------------------------------------------
# domain, materials, doping


@dataclass
class Refine(_Node):
    """A refinement zone of a graded grid: cells of at most `spacing` nm from `from_` to
    `to` (nm, domain coordinates) along `axis` ("x", "y", "z"; None: every axis), graded
    into the domain's coarse spacing outside (neighbours within a factor 1.3):
    ``qd.Refine(-6, 6, 0.5)``."""

    from_: Number
    to: Number
    spacing: Number
    axis: Optional[str] = None
    _keys: ClassVar[Dict[str, str]] = {"from_": "from"}


@dataclass
class Domain(_Node):
    """The simulation box, centred on the origin: `size` per axis (1 to 3 entries: the
    dimension), target `spacing` (one number or one per axis), nm; `periodic` per axis.
    Graded grids: `refine`, a list of :class:`Refine` zones inside the coarse spacing, or
    `nodes`, explicit cell boundaries per axis (``{"x": [...]}``, nm, from −size/2 to
    +size/2)."""

    size: Sequence[Number]
    spacing: Union[Number, Sequence[Number]]
    periodic: Optional[Sequence[bool]] = None
    refine: Optional[Sequence[Refine]] = None
    nodes: Optional[Dict[str, Sequence[Number]]] = None
    _nested: ClassVar[Dict[str, Any]] = {"refine": Refine}


@dataclass
class Doping(_Node):
    """Donors and acceptors, cm^-3 (0, or in [1e10, 1e22]); ionisation energies in eV
    (given: incomplete ionisation)."""

    donors: Optional[Number] = None
    acceptors: Optional[Number] = None
    donor_energy: Optional[Number] = None
    acceptor_energy: Optional[Number] = None


@dataclass
class Fill(_Node):
    """What fills a part of the domain: a material of the database (by name, matched
    case-insensitively), its alloy fraction `x` (required for an alloy), its doping."""

    material: str
    x: Optional[Number] = None
    doping: Optional[Doping] = None
    _nested: ClassVar[Dict[str, Any]] = {"doping": Doping}

    def doped(self, donors: Optional[Number] = None, acceptors: Optional[Number] = None, **kw) -> "Fill":
        """This fill with doping (cm^-3): ``qd.Material("GaAs").doped(donors=1e18)``."""
        return Fill(self.material, self.x, Doping(donors=donors, acceptors=acceptors, **kw))


def Material(name: str, doping: Optional[Doping] = None) -> Fill:
    """A binary material of the database: ``Material("GaAs")``."""
    return Fill(name, None, doping)


def Alloy(name: str, x: Number, doping: Optional[Doping] = None) -> Fill:
    """An alloy at fraction x: ``Alloy("AlGaAs", x=0.3)`` is Al0.3Ga0.7As
    (``qd.materials()`` says what x means for each alloy)."""
    return Fill(name, x, doping)


# ---------------------------------------------------------------------------------------
# shapes


class Shape(_Node):
    """A 3D shape (evaluated on the line or plane of a 1D or 2D domain)."""

    _types: ClassVar[Dict[str, type]] = {}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "Shape":  # type: ignore[override]
        t = d.get("type") if isinstance(d, dict) else None
        cls = Shape._types.get(t)
        if cls is None:
            raise ValueError(f"shape: unknown type {t!r} (known: {', '.join(Shape._types)})")
        return _Node.from_dict.__func__(cls, d)


def _shape(tag: str):
    def wrap(cls):
        cls._tag = tag
        Shape._types[tag] = cls
        return cls
    return wrap


@_shape("layer")
@dataclass
class Layer(Shape):
    """The slab `from_` < axis coordinate < `to` (nm)."""

    axis: str
    from_: Number
    to: Number
    _keys: ClassVar[Dict[str, str]] = {"from_": "from"}


@_shape("box")
@dataclass
class Box(Shape):
    min: Point
    max: Point


@_shape("sphere")
@dataclass
class Sphere(Shape):
    center: Point
    radius: Number


@_shape("cylinder")
@dataclass
class Cylinder(Shape):
    """`height` is the full length along `axis` (default z), centred on `center`."""

    center: Point
    radius: Number
    height: Number
    axis: Optional[str] = None


@_shape("cone")
@dataclass
class Cone(Shape):
    base: Point
    base_radius: Number
    height: Number
    top_radius: Optional[Number] = None
    axis: Optional[str] = None


@_shape("pyramid")
@dataclass
class Pyramid(Shape):
    """A square pyramid (truncated when `top_width` > 0), widths full side lengths."""

    base: Point
    base_width: Number
    height: Number
    top_width: Optional[Number] = None
    axis: Optional[str] = None


@_shape("lens")
@dataclass
class Lens(Shape):
    """A spherical cap of base `radius` and `height` ≤ radius."""

    base: Point
    radius: Number
    height: Number
    axis: Optional[str] = None


@_shape("ellipsoid")
@dataclass
class Ellipsoid(Shape):
    center: Point
    semi_axes: Sequence[Number]


@dataclass
class Region(_Node):
    """A shape filled with a material; regions are painted in order (a later one wins).
    ``Region(shape, qd.Alloy("InGaAs", 0.5), name="dot")``; `material` may also be a name
    with `x` and `doping` given here."""

    shape: Shape
    material: Union[str, Fill]
    x: Optional[Number] = None
    doping: Optional[Doping] = None
    name: Optional[str] = None
    _nested: ClassVar[Dict[str, Any]] = {"shape": Shape, "doping": Doping}

    def __post_init__(self):
        # a Fill given as the material is held as its parts (as a region is written)
        if isinstance(self.material, Fill):
            f = self.material
            self.material = f.material
            if self.x is None:
                self.x = f.x
            if self.doping is None:
                self.doping = f.doping

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.name is not None:
            d["name"] = self.name
        d["shape"] = self.shape.to_dict()
        d["material"] = self.material
        if self.x is not None:
            d["x"] = self.x
        if self.doping is not None:
            d["doping"] = self.doping.to_dict()
        return d


# ---------------------------------------------------------------------------------------
# potentials


class Potential(_Node):
    """A potential added to the band edge (eV)."""

    _types: ClassVar[Dict[str, type]] = {}

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "Potential":  # type: ignore[override]
        t = d.get("type") if isinstance(d, dict) else None
        cls = Potential._types.get(t)
        if cls is None:
            raise ValueError(f"potential: unknown type {t!r} (known: {', '.join(Potential._types)})")
        return _Node.from_dict.__func__(cls, d)


def _potential(tag: str):
    def wrap(cls):
        cls._tag = tag
        Potential._types[tag] = cls
        return cls
    return wrap


@_potential("harmonic")
@dataclass
class Harmonic(Potential):
    """½ k r² about `center`: give `hbar_omega` (eV, with the carrier's `mass` in m0 by
    default the background's) or `spring_constant` (eV/nm²); `axes` default all."""

    hbar_omega: Optional[Number] = None
    spring_constant: Optional[Number] = None
    center: Optional[Point] = None
    mass: Optional[Number] = None
    axes: Optional[Sequence[str]] = None


@_potential("gaussian")
@dataclass
class Gaussian(Potential):
    """−depth·exp(−r²/2σ²)-shaped well of `depth` eV and width `sigma` nm (one or per axis)
    about `center` (docs/scene-format.md#gaussian gives the sign convention)."""

    depth: Number
    sigma: Union[Number, Sequence[Number]]
    center: Optional[Point] = None


@_potential("square_well")
@dataclass
class SquareWell(Potential):
    """A constant `depth` eV inside `shape` (negative for a barrier)."""

    depth: Number
    shape: Shape
    _nested: ClassVar[Dict[str, Any]] = {"shape": Shape}


@_potential("file")
@dataclass
class PotentialFile(Potential):
    """A tabulated potential: a .npy of the grid's shape (eV), relative to the scene."""

    path: str
    scale: Optional[Number] = None


# ---------------------------------------------------------------------------------------
# contacts and gates


@dataclass
class Patch(_Node):
    """The part of a face a contact covers, in the face's tangential coordinates (nm)."""

    min: Point
    max: Point


@dataclass
class Contact(_Node):
    """A contact on an outer face (`x_min`, ..., `z_max`): `type` "ohmic" or "schottky"
    (with its `barrier` Φ_B in eV), at `voltage` V (its Fermi level at −V eV)."""

    face: str
    type: str = "ohmic"
    voltage: Optional[Number] = None
    barrier: Optional[Number] = None
    name: Optional[str] = None
    patch: Optional[Patch] = None
    _nested: ClassVar[Dict[str, Any]] = {"patch": Patch}

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.name is not None:
            d["name"] = self.name
        d["face"] = self.face
        d["type"] = self.type
        for k in ("voltage", "barrier"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.patch is not None:
            d["patch"] = self.patch.to_dict()
        return d


def Ohmic(face: str, voltage: Optional[Number] = None, name: Optional[str] = None, patch: Optional[Patch] = None) -> Contact:
    """An Ohmic contact at `voltage` V."""
    return Contact(face, "ohmic", voltage, None, name, patch)


def Schottky(face: str, barrier: Number, voltage: Optional[Number] = None, name: Optional[str] = None, patch: Optional[Patch] = None) -> Contact:
    """A Schottky contact of barrier height `barrier` eV at `voltage` V."""
    return Contact(face, "schottky", voltage, barrier, name, patch)


@dataclass
class Gate(_Node):
    """A metal gate: `shape` held at `voltage` V (Schottky with `barrier` eV when given)."""

    shape: Shape
    voltage: Optional[Number] = None
    barrier: Optional[Number] = None
    name: Optional[str] = None
    _nested: ClassVar[Dict[str, Any]] = {"shape": Shape}

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        if self.name is not None:
            d["name"] = self.name
        d["shape"] = self.shape.to_dict()
        for k in ("voltage", "barrier"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


# ---------------------------------------------------------------------------------------
# solve, output, sweep


@dataclass
class Mixing(_Node):
    """Potential mixing of the self-consistent loop: "anderson" or "linear"."""

    method: Optional[str] = None
    beta: Optional[Number] = None
    history: Optional[int] = None


@dataclass
class QuantumRegion(_Node):
    """The box (nm, one entry per axis) whose electrons come from the Schrödinger states."""

    min: Point
    max: Point


@dataclass
class Poisson(_Node):
    """Settings of the `poisson` and `self_consistent` modes (tolerance in V)."""

    statistics: Optional[str] = None
    tolerance: Optional[Number] = None
    max_iterations: Optional[int] = None
    mixing: Optional[Mixing] = None
    quantum_region: Optional[QuantumRegion] = None
    holes: Optional[bool] = None
    _nested: ClassVar[Dict[str, Any]] = {"mixing": Mixing, "quantum_region": QuantumRegion}


@dataclass
class Solve(_Node):
    """What to solve: `mode` "schrodinger" (default), "poisson" or "self_consistent";
    `states`, `carrier` ("electron", "heavy_hole", "light_hole"), the eigensolver's
    `tolerance` (relative to ‖H‖) and `max_iterations` (products with H), `backend`..."""

    mode: Optional[str] = None
    states: Optional[int] = None
    carrier: Optional[str] = None
    tolerance: Optional[Number] = None
    max_iterations: Optional[int] = None
    block_size: Optional[int] = None
    backend: Optional[str] = None
    eigensolver: Optional[str] = None
    poisson: Optional[Poisson] = None
    _nested: ClassVar[Dict[str, Any]] = {"poisson": Poisson}


@dataclass
class Output(_Node):
    """Which files a run writes to its output folder."""

    npy: Optional[bool] = None
    vtk: Optional[bool] = None
    plots: Optional[bool] = None
    wavefunctions: Optional[bool] = None


@dataclass
class Range(_Node):
    """`steps` evenly spaced numbers from `from_` to `to`, both included."""

    from_: Number
    to: Number
    steps: int
    _keys: ClassVar[Dict[str, str]] = {"from_": "from"}


def _values(v):
    return Range.from_dict(v) if isinstance(v, dict) else v


@dataclass
class Sweep(_Node):
    """One scene value varied by its JSON path (``regions[0].shape.radius``) over a list
    of values or a :class:`Range`."""

    parameter: str
    values: Union[List[Any], Range]
    _nested: ClassVar[Dict[str, Any]] = {"values": _values}


@dataclass
class Strain(_Node):
    """Continuum strain from the lattice mismatch (docs/scene-format.md#strain):
    `reference` "background", "substrate" or a material name (with `reference_x`),
    `boundary` per axis {"x": "free" | "clamped" | "periodic" | [lower, upper], ...},
    `growth_axis`, the PCG `tolerance` and `max_iterations`, `piezoelectric` (bool) and
    `piezo_boundary` ("dirichlet" | "neumann")."""

    enabled: Optional[bool] = None
    reference: Optional[str] = None
    reference_x: Optional[Number] = None
    boundary: Optional[Dict[str, Any]] = None
    growth_axis: Optional[str] = None
    tolerance: Optional[Number] = None
    max_iterations: Optional[int] = None
    piezoelectric: Optional[bool] = None
    piezo_boundary: Optional[str] = None


# ---------------------------------------------------------------------------------------
# the scene


@dataclass
class Scene(_Node):
    """A whole scene. ``Scene.load(path)`` / ``Scene.from_dict(d)`` read one, ``save`` and
    ``to_dict`` write it, ``validate()`` checks it as the program does (raising
    ``qd.SceneError`` with the JSON path), ``run()`` solves it (``qd.solve(scene)``).

    `base_dir` (not part of the format) is the folder relative paths in the scene
    (`materials_file`, tabulated potentials) are taken from: the file's folder for a
    loaded scene, else the working folder."""

    domain: Domain
    background: Fill
    regions: List[Region] = field(default_factory=list)
    potentials: List[Potential] = field(default_factory=list)
    contacts: List[Contact] = field(default_factory=list)
    gates: List[Gate] = field(default_factory=list)
    solve: Optional[Solve] = None
    output: Optional[Output] = None
    sweep: Optional[Sweep] = None
    strain: Optional[Strain] = None
    name: Optional[str] = None
    description: Optional[str] = None
    temperature: Optional[Number] = None
    materials_file: Optional[str] = None
    base_dir: Optional[str] = field(default=None, compare=False, repr=False)

    _nested: ClassVar[Dict[str, Any]] = {
        "domain": Domain, "background": Fill, "regions": Region, "potentials": Potential,
        "contacts": Contact, "gates": Gate, "solve": Solve, "output": Output, "sweep": Sweep,
        "strain": Strain,
    }
    # the order of the scene format's documentation (top level)
    _order: ClassVar[Sequence[str]] = (
        "name", "description", "domain", "temperature", "materials_file", "background",
        "regions", "potentials", "contacts", "gates", "strain", "solve", "output", "sweep",
    )

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {}
        for k in self._order:
            v = getattr(self, k)
            if v is None or (k in _LIST_FIELDS and len(v) == 0):
                continue
            d[k] = _plain(v)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any], base_dir: Optional[str] = None) -> "Scene":
        if not isinstance(d, dict):
            raise ValueError(f"Scene: expected an object, got {type(d).__name__}")
        s = _Node.from_dict.__func__(cls, d)
        s.base_dir = base_dir
        return s

    # -- reading and writing

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str, base_dir: Optional[str] = None) -> "Scene":
        return cls.from_dict(json.loads(text), base_dir=base_dir)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Scene":
        """Read a scene file (JSON); its relative paths stay relative to its folder."""
        path = os.fspath(path)
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), base_dir=os.path.dirname(os.path.abspath(path)))

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the scene file (JSON), loadable by ``qdsim-gpu solve``."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")

    @classmethod
    def from_qdsim(cls, config: Union[str, os.PathLike], print_note: bool = True) -> "Scene":
        """A scene from a QDSim configuration file (simple_qd.json / .yaml), converted as
        ``qdsim-gpu import-qdsim`` does: units converted, what has no counterpart listed
        in the note (printed, and kept in the scene's description). A batch file
        (batch_qd.yaml) gives its base scene with the first sweep as its `sweep` block."""
        from . import _native

        text, note = _native.import_qdsim(os.fspath(config))
        if print_note and note:
            print(note)
        return cls.from_json(text, base_dir=os.path.dirname(os.path.abspath(os.fspath(config))))

    # -- building

    def add(self, *items) -> "Scene":
        """Add regions, potentials, contacts or gates (each to its list); returns self."""
        for it in items:
            if isinstance(it, Region):
                self.regions.append(it)
            elif isinstance(it, Potential):
                self.potentials.append(it)
            elif isinstance(it, Contact):
                self.contacts.append(it)
            elif isinstance(it, Gate):
                self.gates.append(it)
            else:
                raise TypeError(f"Scene.add: cannot add a {type(it).__name__} (regions, potentials, contacts, gates)")
        return self

    @property
    def dim(self) -> int:
        return len(self.domain.size)

    # -- running

    def validate(self) -> "Scene":
        """Check the scene as ``qdsim-gpu solve`` does; raises ``qd.SceneError`` (a
        ValueError) naming the JSON path of the bad field. Returns self."""
        from . import _native

        _native.check_scene(json=self.to_json(None), base_dir=self.base_dir or os.getcwd())
        return self

    def run(self, **kw):
        """``qd.solve(self, **kw)`` (``solve`` is the scene's solve block)."""
        from .api import solve

        return solve(self, **kw)
