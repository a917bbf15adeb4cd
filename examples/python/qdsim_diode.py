"""QDSim's canonical case from Python: an InAs quantum dot in a GaAs p-n diode under
reverse bias, its electron levels against the bias.

The scene is built from a QDSim configuration (the keys of QDSim's simple_qd.yaml,
converted by ``qd.Scene.from_qdsim``, with the note of what has no counterpart), then
solved self-consistently (Schrödinger–Poisson) at each reverse bias with ``qd.solve``.
The figure shows the levels against the bias (they follow the dot's potential, which
the reverse bias lowers), the levels measured from the lowest conduction-band edge in the
dot (the confinement in the dot's tilted band: the part of the shift that is not the
potential), and the band edge along y = 0 with |ψ|² at the largest bias.

    pip install './python[plot]'
    python examples/python/qdsim_diode.py [--out qdsim_diode.png] [--biases 0,0.1,0.2,0.3,0.4,0.5]

Units: nm, eV, V, and the doping of QDSim's file in m^-3 (1e24 m^-3 = 1e18 cm^-3).
"""

import argparse
import os
import tempfile
import time

import numpy as np

import qdsim_gpu as qd

# QDSim's simple_qd.yaml for its canonical case (QDSim's keys and units: lengths nm,
# v_0 eV, doping m^-3, v_r V)
QDSIM_CONFIG = """\
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "qdsim_diode.png"))
    ap.add_argument("--biases", default="0,0.1,0.2,0.3,0.4,0.5", help="reverse biases, V (comma-separated)")
    ap.add_argument("--backend", default=None, help="auto, cpu or gpu (default: the scene's)")
    args = ap.parse_args()
    biases = [float(v) for v in args.biases.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "simple_qd.yaml")
        with open(cfg, "w") as f:
            f.write(QDSIM_CONFIG)
        scene = qd.Scene.from_qdsim(cfg)  # prints the note
    scene.validate()
    print(f"scene: {scene.name}; {scene.domain.size} nm at {scene.domain.spacing} nm")

    levels, stark, results = [], [], []
    for v in biases:
        s = scene.copy()
        s.contacts[1].voltage = v  # the n contact: reverse bias
        t0 = time.time()
        r = qd.solve(s, backend=args.backend, check=True)
        # the dot's band bottom: the lowest Ec on its cells (material i + 1 = regions[i];
        # the band is tilted across the dot by the junction's field)
        dot = r.material == 1 + [g.name for g in s.regions].index("dot")
        ec_dot = float(r.band_edge[dot].min())
        levels.append(r.energies)
        stark.append(r.energies - ec_dot)
        results.append(r)
        it = len(r.results["self_consistency"]["history"])
        print(f"V_r = {v:.2f} V: E = {', '.join(f'{e:.4f}' for e in r.energies[:4])} eV; lowest Ec in the dot {ec_dot:.4f} eV; "
              f"{it} self-consistent iterations, {time.time() - t0:.1f} s on {r.backend}")
    levels = np.array(levels)
    stark = np.array(stark)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
    for n in range(levels.shape[1]):
        ax[0].plot(biases, levels[:, n], "o-", ms=4, label=f"E{n}")
        ax[1].plot(biases, 1e3 * stark[:, n], "o-", ms=4, label=f"E{n} − min Ec(dot)")
    ax[0].set_xlabel("reverse bias V_r (V)")
    ax[0].set_ylabel("level (eV)")
    ax[0].set_title("electron levels of the dot")
    ax[0].legend(fontsize=8)
    ax[1].set_xlabel("reverse bias V_r (V)")
    ax[1].set_ylabel("level − lowest Ec in the dot (meV)")
    ax[1].set_title("levels above the dot's band bottom")
    ax[1].set_ylim(top=ax[1].get_ylim()[1] + 0.35 * (ax[1].get_ylim()[1] - ax[1].get_ylim()[0]))
    ax[1].legend(fontsize=7, ncol=2, loc="upper left")
    r = results[-1]
    iy = int(np.argmin(np.abs(r.y)))  # the row through the dot's centre
    ax[2].plot(r.x, r.band_edge[:, iy], "k", lw=1.5, label="Ec along y = 0 (eV)")
    shown = range(min(3, len(r.energies)))
    peak = max(max(float(r.psi2[n][:, iy].max()) for n in shown), 1e-30)
    scale = 0.12 / peak
    for n in shown:
        ax[2].plot(r.x, r.energies[n] + scale * r.psi2[n][:, iy], label=f"E{n} + |ψ{n}|² (× {scale:.2g} eV nm²)")
        ax[2].axhline(r.energies[n], color=f"C{n}", lw=0.6, ls=":")
    ax[2].set_xlim(-40, 40)
    view = np.abs(r.x) <= 40
    ax[2].set_ylim(float(r.band_edge[view, iy].min()) - 0.1, float(r.energies[2 if len(r.energies) > 2 else -1]) + 0.5)
    ax[2].set_xlabel("x (nm)")
    ax[2].set_ylabel("energy (eV)")
    ax[2].set_title(f"V_r = {biases[-1]:.2f} V: band edge and states")
    ax[2].legend(fontsize=7)
    fig.suptitle("InAs dot (r = 10 nm) in a GaAs p-n diode, 1e18 cm⁻³, 300 K: self-consistent Schrödinger–Poisson")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
