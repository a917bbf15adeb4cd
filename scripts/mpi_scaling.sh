#!/bin/bash
# The MPI figures of docs/performance.md: GPU ranks against serial (correctness), then GPU
# and CPU strong/weak scaling with `qdsim-gpu scaling`. Needs a binary built with
# `--features mpi` (QDSIM, default target/release/qdsim-gpu), mpirun (MPIRUN), python3 with
# numpy, and for the GPU part one or two Vulkan GPUs. JSON figures go to OUT (default .).
# On the lent GPU machine Open MPI's .debs were unpacked with dpkg -x, and its PMIx needed
# PMIX_MCA_preg=native PMIX_MCA_gds=hash.
set -u
B=${QDSIM:-$PWD/target/release/qdsim-gpu}
OUT=${OUT:-.}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
M="timeout 200 ${MPIRUN:-mpirun} --bind-to none"
echo "== correctness: spherical_dot_3d on GPU, serial vs 2 ranks (2 GPUs) vs 2 ranks on one GPU"
QDSIM_NO_MPI=1 $B solve scenes/spherical_dot_3d.json --backend gpu -q --out /tmp/ser
$M -np 2 $B solve scenes/spherical_dot_3d.json --backend gpu -q --out /tmp/m2
$M -np 2 $B solve scenes/spherical_dot_3d.json --backend gpu --adapter 0,0 -q --out /tmp/m2s
$M -np 3 $B solve scenes/dot_in_pn_diode_2d.json --backend gpu -q --out /tmp/d3
QDSIM_NO_MPI=1 $B solve scenes/dot_in_pn_diode_2d.json --backend gpu -q --out /tmp/dser
python3 - <<'PY'
import json, numpy as np
s=json.load(open('/tmp/ser/results.json'))
for d in ['/tmp/m2','/tmp/m2s']:
    r=json.load(open(d+'/results.json'))
    de=max(abs(a['energy_ev']-b['energy_ev']) for a,b in zip(s['states'],r['states']))
    print(d, 'max dE', de, 'solve', r['timings_s']['solve'], 'serial', s['timings_s']['solve'])
    print('  ranks:', [(p['rank'], p['host'], p['details']['adapter']['name'], p['details']['adapter'].get('index'), p['rows']) for p in r['backend']['details']['per_rank']])
a=np.load('/tmp/dser/potential_v.npy'); b=np.load('/tmp/d3/potential_v.npy')
r=json.load(open('/tmp/d3/results.json')); q=json.load(open('/tmp/dser/results.json'))
print('diode 3 ranks: max dphi', abs(a-b).max(), 'solve', r['timings_s']['solve'], 'serial', q['timings_s']['solve'])
PY
echo "== GPU scaling"
QDSIM_NO_MPI=1 $B scaling --mode weak --size 128 --gpu --json $OUT/g_serial.json
$M -np 1 $B scaling --mode weak --size 128 --gpu --json $OUT/gw1.json
$M -np 2 $B scaling --mode weak --size 128 --gpu --json $OUT/gw2.json
$M -np 2 $B scaling --mode weak --size 128 --gpu --adapter 0,0 --json $OUT/gw2_one_gpu.json
$M -np 2 $B scaling --mode strong --size 128 --gpu --json $OUT/gs2.json
$M -np 2 $B scaling --mode strong --size 128 --gpu --adapter 0,0 --json $OUT/gs2_one_gpu.json
$M -np 4 $B scaling --mode strong --size 128 --gpu --adapter 0,0,1,1 --json $OUT/gs4_two_gpus.json
$M -np 1 $B scaling --mode strong --size 192 --gpu --states 0 --json $OUT/gs192_1.json
$M -np 2 $B scaling --mode strong --size 192 --gpu --states 0 --json $OUT/gs192_2.json
echo "== CPU scaling (16 cores)"
for np in 1 2 4 8; do RAYON_NUM_THREADS=$((16/np)) $M -np $np $B scaling --mode strong --size 128 --states 0 --json $OUT/cs$np.json; done
for np in 1 2 4 8; do RAYON_NUM_THREADS=2 $M -np $np $B scaling --mode weak --size 64 --json $OUT/cw$np.json; done
