#!/usr/bin/env bash
# Recipes compared on one GPU, on validation: CIFAR-10 from DATA_ROOT (all of it that is there), width 64, a
# 100-epoch baseline, batch 512 at lr 0.4 with 5 warm-up epochs, 2,000 training images held out, and each
# budget's recipes in one bench/ablations.py call (tables: outputs/ablations/val_cifar10_w64_e100_b<B>_gpu_reg,
# with _zi added for a steady start). SECONDS bounds the whole script; finished runs are reused, so running it
# again continues what was cut short.
# START: steady (default) gives every arm --zero_init_residual: in this regime the plain start's loss spikes
# in the first epochs (most runs; README, Results) and the spikes decide more of a run's accuracy than the
# recipe does; plain keeps the library's default start.
#
# usage: bash bench/gpu_recipes.sh DATA_ROOT [SECONDS] [BUDGETS] [RECIPES] [SEEDS] [START]
#   e.g. bash bench/gpu_recipes.sh data 480 0.6,0.45,0.3 short,res3_reg0,res3_full60_reg0 0,1,2 steady
# The default recipes are those the library's default was chosen among on a GPU (docs/results.md, "The default:
# width growth with a capped start"): short; res3_reg0, the resolution-only recipe that was the default before;
# both3_fresh_reg0 (width growth too); the budget-aware variants res3_pat2_reg0 (an early stage ends once its
# loss at the next resolution stalls for 2 epochs), res3_cap30_reg0 (the early stages keep the time they get
# at 0.3) and res3_full60_reg0 (60 % of the epochs at full size); and both3_fresh_cap30_reg0, the default.
# Committed run folders are reused, so only what is missing trains, and a cap that does not bind (budget 0.3)
# shares the uncapped recipe's runs.
set -uo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash bench/gpu_recipes.sh DATA_ROOT [SECONDS] [BUDGETS] [RECIPES] [SEEDS] [START: steady or plain]"
root=${1:?$usage}
seconds=${2:-480}
budgets=${3:-0.6,0.45,0.3}
recipes=${4:-short,res3_reg0,both3_fresh_reg0,res3_pat2_reg0,res3_cap30_reg0,res3_full60_reg0,both3_fresh_cap30_reg0}
seeds=${5:-0,1,2,3,4}
start=${6:-steady}
[ -d "$root/cifar-10-batches-py" ] || { echo "error: no CIFAR-10 in $root (want $root/cifar-10-batches-py); $usage" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "error: SECONDS must be a whole number, got '$seconds'; $usage" >&2; exit 2; }
case "$start" in
  steady) init=(--zero_init_residual); suffix=_zi ;;
  plain) init=(); suffix= ;;
  *) echo "error: START must be steady or plain, got '$start'; $usage" >&2; exit 2 ;;
esac

deadline=$((SECONDS + seconds))
status=0
for b in ${budgets//,/ }; do
  left=$((deadline - SECONDS))
  if [ "$left" -lt 20 ]; then
    echo "stopped before budget $b: the $seconds s are spent (run again to continue)"
    status=3
    break
  fi
  echo "== budget $b, $left s left"
  timeout "$left" python bench/ablations.py --data_root "$root" --device cuda --width 64 --num_epochs 100 \
    --train_subset 0 --batch_size 512 --lr 0.4 --warmup_epochs 5 --val_split 2000 --eval_every 10 \
    --budget "$b" --seeds "$seeds" --no_baseline --calibrated --recipes "$recipes" "${init[@]}" \
    --out_dir outputs/ablations --tag "val_cifar10_w64_e100_b${b}_gpu_reg${suffix}"
  rc=$?
  if [ "$rc" -eq 124 ]; then
    echo "budget $b cut short at the $seconds s limit (run again to continue)"
    status=3
    break
  elif [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
done
exit "$status"
