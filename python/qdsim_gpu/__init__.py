"""qdsim-gpu from Python: bound states of electrons and holes in semiconductor quantum
dots, wells and wires (effective-mass Schrödinger, Poisson, Schrödinger–Poisson).

>>> import qdsim_gpu as qd
>>> r = qd.solve("scenes/quantum_well_1d.json")      # a scene file, a dict or a qd.Scene
>>> r.energies                                       # eV, NumPy
>>> r.psi2[0].shape, r.band_edge.shape               # [nx, ny, nz], x-fastest
>>> s = qd.sweep("scenes/spherical_dot_3d.json", {"regions[0].shape.radius": [5, 7.5, 10]})
>>> qd.materials("AlGaAs", x=0.3), qd.info()

See docs/python.md. Units: nm, eV, K, cm^-3, V.
"""

from . import _native
from .api import (
    NotConvergedError,
    NotConvergedWarning,
    Result,
    SceneError,
    SweepResult,
    info,
    materials,
    solve,
    sweep,
)
from .scene import (
    Alloy,
    Box,
    Cone,
    Contact,
    Cylinder,
    Domain,
    Doping,
    Ellipsoid,
    Fill,
    Gate,
    Gaussian,
    Harmonic,
    Layer,
    Lens,
    Material,
    Mixing,
    Ohmic,
    Output,
    Patch,
    Poisson,
    Potential,
    PotentialFile,
    Pyramid,
    QuantumRegion,
    Range,
    Refine,
    Region,
    Scene,
    Schottky,
    Shape,
    Solve,
    Sphere,
    SquareWell,
    Strain,
    Sweep,
)

__version__ = "0.1.0"


def import_qdsim(config, print_note: bool = True):
    """A QDSim configuration file converted: ``(scene, note)`` for simple_qd.json/.yaml
    (``qd.Scene``), or ``(scene, note)`` with the scene's ``sweep`` set for batch_qd.yaml
    (its first parameter sweep; the others are in the note). See ``Scene.from_qdsim``."""
    import os

    text, note = _native.import_qdsim(os.fspath(config))
    if print_note and note:
        print(note)
    return Scene.from_json(text, base_dir=os.path.dirname(os.path.abspath(os.fspath(config)))), note
