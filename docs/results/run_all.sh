#!/usr/bin/env bash
# The example report in docs/results/: every command that made it, in order.
# Run from the repository root; each step is resumable (rerun the same line).
#   bash docs/results/run_all.sh inst     # (a) default model, paper prompting templates
#   bash docs/results/run_all.sh train    # LoRA adapter on the ITAP training split (CPU)
#   bash docs/results/run_all.sh student  # (b) default model + that adapter
#   bash docs/results/run_all.sh report   # tables, figures, HTML + Markdown
set -euo pipefail
DATA=${DATA:-../shared/data/itap}
SPLIT_OPTS="--data $DATA --test-fraction 0.1 --split-seed 0"
GEN_OPTS="--max-new-tokens 128 --batch-size 8 --threads 1 --embedder minilm --quiet"
EXP1_STREAMS=8
EXP2_STREAMS=16
ADAPTER=adapters/itap-exp2-k3-ctx
TRAIN_STEPS=${TRAIN_STEPS:-120}

runs_for() {  # label, extra model options
  local label=$1; shift
  for split in test_NS_OP test_NS_NP; do
    for ctx in --context --no-context; do
      simstudent eval exp1 $SPLIT_OPTS --split $split $ctx --max-streams $EXP1_STREAMS $GEN_OPTS \
        --label "$label" "$@" --out "runs/exp1-$split-$label-${ctx#--}"
    done
    simstudent eval exp2 $SPLIT_OPTS --split $split --context --k 3 --max-streams $EXP2_STREAMS $GEN_OPTS \
      --label "$label" "$@" --out "runs/exp2-$split-$label-k3-context"
  done
  simstudent eval rollout $SPLIT_OPTS --split test_NS_OP --context --prefix 2 --max-new-attempts 4 \
    --max-streams $EXP2_STREAMS --limit 6 $GEN_OPTS --label "$label" "$@" --out "runs/rollout-test_NS_OP-$label"
}

case "${1:-}" in
  inst) runs_for smol-inst ;;
  train)
    simstudent train $SPLIT_OPTS --exp exp2 --k 3 --context --max-steps "$TRAIN_STEPS" --out "$ADAPTER" ;;
  student) runs_for smol-student --adapter "$ADAPTER" ;;
  report)
    simstudent report runs/exp1-* runs/exp2-* runs/rollout-* --out docs/results \
      --notes docs/results/NOTES.md --title "simstudent on ITAP: SmolLM2-135M, prompted vs LoRA, with the real-student floor"
    ;;
  *) echo "usage: $0 inst|train|student|report" >&2; exit 2 ;;
esac
