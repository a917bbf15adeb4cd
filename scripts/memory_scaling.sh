#!/bin/bash
# The issue-16 figures of docs/performance.md ("Host memory and MPI ranks on one H200
# machine"): peak host memory by phase of the spherical dot at 256³ and 512³ on one GPU,
# ranks sharing one GPU, and CPU strong and weak scaling of whole solves. Needs a binary
# built with `--features mpi` (QDSIM, default target/release/qdsim-gpu; run serially with
# QDSIM_NO_MPI=1), mpirun (MPIRUN), python3, and a Vulkan GPU for the GPU part. Each run's
# results.json is summarised on one line (peaks, phases, per-rank memory).
set -u
B=${QDSIM:-$PWD/target/release/qdsim-gpu}
CORES=${CORES:-$(nproc)}
W=${WORK:-/tmp/qdsim-memscale}
mkdir -p "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_plm=${OMPI_MCA_plm:-isolated}
M="timeout 300 ${MPIRUN:-mpirun} --bind-to none"
scene() { # scene NAME N SIZE_Z_FACTOR: the dot at 40/N nm spacing, box 40 × 40 × 40·F nm
  python3 - "$W/$1.json" "$2" "$3" <<'PY'
import json, sys
s = json.load(open('scenes/spherical_dot_3d.json'))
s['domain']['spacing'] = 40.0 / int(sys.argv[2])
s['domain']['size'] = [40.0, 40.0, 40.0 * int(sys.argv[3])]
json.dump(s, open(sys.argv[1], 'w'))
PY
}
summary() {
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1] + '/results.json'))
pr = r['backend'].get('details', {}).get('per_rank') or []
print(sys.argv[1], 'cells', r['grid']['unknowns'], 'converged', r['converged'], 'E0', r['states'][0]['energy_ev'],
      'peak', r.get('peak_memory_bytes'), 'after', r.get('peak_memory_after_bytes'),
      'times', {k: round(v, 3) for k, v in r['timings_s'].items()},
      'per rank (host, device)', [(p.get('peak_memory_bytes'), p.get('peak_device_bytes')) for p in pr])
PY
}
scene dot128 128 1; scene dot256 256 1; scene dot512 512 1
echo "== one GPU, serial: 256³ and 512³ (the 512³ run needs ~38 GB of host and ~108 GB of device memory)"
for n in 256 512; do QDSIM_NO_MPI=1 $B solve "$W/dot$n.json" --backend gpu -q --out "$W/g$n" && summary "$W/g$n"; rm -rf "$W/g$n"; done
echo "== 128³, 1/2/4 ranks sharing GPU 0"
for n in 1 2 4; do
  $M -np $n $B solve "$W/dot128.json" --backend gpu --adapter "$(python3 -c "print(','.join(['0']*$n))")" -q --out "$W/s$n" && summary "$W/s$n"
done
echo "== 128³ CPU, strong scaling: ranks × threads = $CORES"
QDSIM_NO_MPI=1 RAYON_NUM_THREADS=$CORES $B solve "$W/dot128.json" --backend cpu -q --out "$W/c0" && summary "$W/c0"
for n in 1 2 4 8 16; do
  [ $n -le "$CORES" ] || break
  RAYON_NUM_THREADS=$((CORES / n)) $M -x RAYON_NUM_THREADS -np $n $B solve "$W/dot128.json" --backend cpu -q --out "$W/c$n" && summary "$W/c$n"
done
echo "== weak scaling, whole solves: 64 × 64 × 64N cells on N CPU ranks, one thread each"
for n in 1 2 4 8 16; do
  [ $n -le "$CORES" ] || break
  scene weak$n 64 $n
  RAYON_NUM_THREADS=1 $M -x RAYON_NUM_THREADS -np $n $B solve "$W/weak$n.json" --backend cpu -q --out "$W/w$n" && summary "$W/w$n"
done
