#!/usr/bin/env bash
# Multi-node Diffusion-DRF fine-tuning under SLURM: one `accelerate launch` per node (srun, one task
# per node), each starting one process per GPU. The paper's run: 4 nodes x 8 A100-80GB, batch 1/GPU.
#
#   sbatch --nodes=4 scripts/slurm_train.sh run.yaml [extra drf_nb.training args, e.g. --resume]
#   ACCEL_CONFIG=configs/accelerate/fsdp_dit.yaml sbatch --nodes=4 scripts/slurm_train.sh run.yaml
#     (FSDP of the DiT; with training.shard_critic, the default, the paper's step fits 40 GB cards: nbs/13_memory)
#
#SBATCH --job-name=drf-train
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --output=%x-%j.out
set -euo pipefail

CONFIG=${1:?usage: slurm_train.sh CONFIG.yaml [args for drf_nb.training]}
shift
ACCEL_CONFIG=${ACCEL_CONFIG:-configs/accelerate/multi_gpu_ddp.yaml}
PYTHON=${PYTHON:-python}
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-8}}
NNODES=${SLURM_NNODES:-1}
MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "${SLURM_JOB_NODELIST:-$(hostname)}" | head -n 1)}
MASTER_PORT=${MASTER_PORT:-29500}

echo "nodes=$NNODES gpus/node=$GPUS_PER_NODE master=$MASTER_ADDR:$MASTER_PORT accelerate=$ACCEL_CONFIG"

# SLURM_NODEID is only known inside the srun task, hence the single quotes: each node computes its
# own machine rank. Every process count is total across nodes, as accelerate expects.
srun --kill-on-bad-exit=1 bash -c '
  '"$PYTHON"' -m accelerate.commands.launch \
    --config_file '"$ACCEL_CONFIG"' \
    --num_machines '"$NNODES"' \
    --num_processes '"$((NNODES * GPUS_PER_NODE))"' \
    --machine_rank "$SLURM_NODEID" \
    --main_process_ip '"$MASTER_ADDR"' \
    --main_process_port '"$MASTER_PORT"' \
    --rdzv_backend static \
    -m drf_nb.training --config '"$CONFIG"' "$@"
' bash "$@"
