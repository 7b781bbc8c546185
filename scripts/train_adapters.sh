#!/usr/bin/env bash
# Train the shipped adapters for one full epoch with the paper's recipe, one after the
# other, in the background-friendly way: 2 threads, nice, a checkpoint after every step
# under ~/.cache/simstudent/train-runs/<name> (survives the work tree), resumed when rerun.
#
#   nohup scripts/train_adapters.sh > ~/.cache/simstudent/train-runs/chain.log 2>&1 &
#   scripts/train_adapters.sh --finalise     # copy finished runs into simstudent/adapters/
#
# Order: the solution-aware loop adapter, the plain loop adapter, exp2 (k = 3) with
# context, exp1 with context. DATA defaults to ../shared/data/itap (relative to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${DATA:-../shared/data/itap}"
RUNS="${RUNS:-$HOME/.cache/simstudent/train-runs}"
THREADS="${THREADS:-2}"
mkdir -p "$RUNS"

declare -A ARGS=(
  [itap-loop-solution]="--exp loop --template ft-loop-solution"
  [itap-loop]="--exp loop --template ft-loop"
  [itap-exp2-k3-ctx]="--exp exp2 --k 3 --context"
  [itap-exp1-ctx]="--exp exp1 --context"
)
ORDER=(itap-loop-solution itap-loop itap-exp2-k3-ctx itap-exp1-ctx)

finalise() {  # a finished run (simstudent.json written) -> simstudent/adapters/<name>/
  local name="$1" run="$RUNS/$1" dest="simstudent/adapters/$1"
  [[ -f "$run/simstudent.json" ]] || { echo "$name: not finished (no $run/simstudent.json)"; return 0; }
  mkdir -p "$dest"
  cp "$run/adapter_config.json" "$run/adapter_model.safetensors" "$run/simstudent.json" "$run/train_log.jsonl" "$dest/"
  chmod 644 "$dest"/*
  echo "$name: copied to $dest ($(du -h "$dest/adapter_model.safetensors" | cut -f1))"
}

if [[ "${1:-}" == "--finalise" ]]; then
  for name in "${ORDER[@]}"; do finalise "$name"; done
  exit 0
fi

for name in "${ORDER[@]}"; do
  run="$RUNS/$name"
  resume=()
  [[ -d "$run" ]] && resume=(--resume)
  echo "== $name ($(date -u +%FT%TZ))"
  # shellcheck disable=SC2086
  PYTHONPATH="$PWD" nice -n 10 python3 -c 'from simstudent.cli import main; main()' train \
    --data "$DATA" ${ARGS[$name]} --threads "$THREADS" --save-steps 1 --out "$run" "${resume[@]}"
done
