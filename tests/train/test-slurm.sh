#!/usr/bin/env bash
# test-slurm.sh - docs/cluster/*.sbatch on a real Slurm (issue 17): a
# slurmctld and a slurmd of our own on this host (a private config: no
# munge, our own ports and spool under a temporary folder), then
#   - train.sbatch: `srun --mpi=pmix` starts 2 ranks that train one model
#     ("ranks": 2, "allreduce": "mpi" in its output);
#   - shards.sbatch as a 3-task job array running `eval --shard slurm`,
#     then merge.sbatch with --dependency=afterok on the array: the merged
#     JSON is byte for byte what one unsharded eval prints.
# The daemons are stopped at the end (their pids, nothing else).
# Exit 77 when Slurm's daemons, mpirun or the data are missing, or when not
# root (slurmd runs jobs as their users).
set -uo pipefail

src=${TS_SOURCE_ROOT:-.}
build=${TS_BUILD_ROOT:-build}
data=${TS_SHARED_DATA:-}
cli="$build/src/cli/traitscope-cli"

for p in slurmctld slurmd sbatch srun sinfo mpirun; do
  if ! command -v "$p" >/dev/null 2>&1; then
    echo "SKIP: $p is not installed (apt-get install slurm-wlm openmpi-bin)"
    exit 77
  fi
done
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: a private slurmd needs root"; exit 77; fi
if [ ! -r "$data/celebahq/attributes.txt" ]; then echo "SKIP: no CelebA-HQ data under TS_SHARED_DATA"; exit 77; fi

D=$(mktemp -d /tmp/ts-test-slurm-XXXXXX)
host=$(hostname)
port=$((20000 + $$ % 20000))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$D"/*.log "$D"/out/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  echo "(files kept in $D)" >&2
  exit 1
}

mkdir -p "$D/state" "$D/spool" "$D/out"
cat > "$D/slurm.conf" <<EOF
ClusterName=tstest
SlurmctldHost=$host
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=2 RealMemory=100 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=30 State=UP
EOF
export SLURM_CONF="$D/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$D/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$D/slurmd.out" 2>&1 &
pids+=($!)
up=""
for _ in $(seq 60); do
  sleep 0.5
  if sinfo -h -o %t 2>/dev/null | grep -q idle; then up=1; break; fi
done
[ -n "$up" ] || fail "the private slurmctld/slurmd did not come up"

export TRAITSCOPE_CLI="$cli"
# Open MPI in containers: no cross-memory attach.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
cd "$D/out" || fail "no $D/out"

# 1. data-parallel training: 2 ranks started by srun.
DATA="celeba:$data/celebahq" OUT="$D/out/two.safetensors" CACHE="$D/cache" \
TRAIN_ARGS="--trait gender --variant baseline --arch $src/tests/train/tiny-dropout.arch --size 32 --epochs 1 --batch 20 --limit 120 --no-augment --device cpu" \
  timeout 600 sbatch --wait --ntasks=2 --cpus-per-task=1 --output="$D/out/train.log" "$src/docs/cluster/train.sbatch" \
  >/dev/null || fail "train.sbatch failed"
grep -q '"ranks":2,"allreduce":"mpi"' "$D/out/train.log" || fail "train.sbatch: no 2-rank model in its output"
[ -s "$D/out/two.safetensors" ] || fail "train.sbatch wrote no model"

# 2. eval in a 3-task job array, then the merge after it.
model="$src/resources/models/baseline.safetensors"
args="eval --model $model --data celeba:$data/celebahq --split all --limit 90 --batch 16 --cache $D/cache --device cpu"
jid=$(SHARD_ARGS="$args" OUTDIR="$D/out/shards" sbatch --parsable --array=0-2 --cpus-per-task=1 \
      --output="$D/out/shard-%a.log" "$src/docs/cluster/shards.sbatch") || fail "shards.sbatch was not taken"
OUTDIR="$D/out/shards" timeout 600 sbatch --wait --dependency=afterok:"$jid" --output="$D/out/merge.log" \
  "$src/docs/cluster/merge.sbatch" >/dev/null || fail "merge.sbatch failed"
# shellcheck disable=SC2086
"$cli" $args --json > "$D/out/whole.json" 2>/dev/null || fail "the unsharded eval failed"
cmp "$D/out/whole.json" "$D/out/shards/merged.json" || fail "the merged shards differ from the unsharded eval"

echo "slurm: ok (2-rank training by srun; 3 array shards merged = unsharded)"
cd / && rm -rf "$D"
exit 0
