#!/usr/bin/env bash
# The example report in docs/results/: every command that made it, in order.
# Run from the repository root; each step is resumable (rerun the same line).
#   bash docs/results/run_all.sh inst     # (a) default model, paper prompting templates
#   bash docs/results/run_all.sh train    # LoRA adapter on the ITAP training split (CPU)
#   bash docs/results/run_all.sh student  # (b) default model + that adapter
#   bash docs/results/run_all.sh baseline # exp2 copy-previous baseline (no model)
#   bash docs/results/run_all.sh train-1ep    # the paper's recipe: one epoch (CPU, ~1 h idle)
#   bash docs/results/run_all.sh student-1ep  # (b') default model + the one-epoch adapter
#   bash docs/results/run_all.sh loop     # closed-loop rollouts from scratch, every test stream with >= 3
#                                         # attempts: solution-aware and plain loop adapters, untuned model
#   bash docs/results/run_all.sh loop-ablation  # the solution-aware adapter without the default agent settings
#   bash docs/results/run_all.sh full-baseline  # full size, teacher-forced: exp2 copy-previous, both splits
#   bash docs/results/run_all.sh full-student [exp1|exp2]  # full size: exp2 and exp1 with their one-epoch adapters
#   bash docs/results/run_all.sh full-inst [exp1|exp2]     # full size: the untuned model, paper prompting
#   bash docs/results/run_all.sh report   # tables, figures, HTML + Markdown
set -euo pipefail
DATA=${DATA:-../shared/data/itap}
SPLIT_OPTS="--data $DATA --split-seed 0"  # default fractions (0.2 students, 0.2 problems), as `simstudent train`
GEN_OPTS="--max-new-tokens 128 --batch-size 8 --threads 2 --embedder minilm --quiet"
EXP1_STREAMS=8                      # 8 streams x 3 stages = 24 examples per exp1 run
declare -A EXP2_STREAMS=([test_NS_OP]=6 [test_NS_NP]=12)   # 27 / 18 next-attempt examples
ROLLOUT_STREAMS=10                  # rollouts: the first 3 of those with > 2 attempts
ADAPTER=runs/adapters/itap-exp2-k3-ctx-30steps  # the earlier rows' short run: 30 steps (a quick CPU budget)
ADAPTER_1EP=runs/adapters/itap-exp2-k3-ctx-1ep  # the paper's recipe: 1 epoch, effective batch 16, lr 1e-4
# CPU budget: 30 optimizer steps of 4 examples (120 of the 1,564 training examples);
# the paper trains 1 epoch at effective batch 16 and lr 1e-4 on a GPU.
TRAIN_OPTS="--max-steps 30 --batch-size 2 --grad-accum 2 --lr 3e-4 --save-steps 5 --threads 2"
TRAIN_1EP_OPTS="--epochs 1 --batch-size 4 --grad-accum 4 --lr 1e-4 --save-steps 10 --threads 2"

exp1() {  # split, context flag, label, model options...
  local split=$1 ctx=$2 label=$3; shift 3
  simstudent eval exp1 $SPLIT_OPTS --split $split $ctx --max-streams $EXP1_STREAMS $GEN_OPTS \
    --label "$label" "$@" --out "runs/exp1-$split-$label-${ctx#--}"
}

exp2() {  # split, label, model options...
  local split=$1 label=$2; shift 2
  simstudent eval exp2 $SPLIT_OPTS --split $split --context --k 3 --max-streams ${EXP2_STREAMS[$split]} \
    $GEN_OPTS --label "$label" "$@" --out "runs/exp2-$split-$label-k3-context"
}

runs_for() {  # label, model options... (most important first: the CPU budget may run out)
  local label=$1; shift
  exp2 test_NS_OP "$label" "$@"
  exp1 test_NS_OP --context "$label" "$@"
  exp2 test_NS_NP "$label" "$@"
  exp1 test_NS_NP --context "$label" "$@"
  simstudent eval rollout $SPLIT_OPTS --split test_NS_OP --context --prefix 2 --max-new-attempts 3 \
    --max-streams $ROLLOUT_STREAMS --limit 3 $GEN_OPTS --label "$label" "$@" --out "runs/rollout-test_NS_OP-$label"
  exp1 test_NS_OP --no-context "$label" "$@"
}

# Full size: every test stream with at least 3 real attempts (54 on test_NS_OP, 14 on
# test_NS_NP), the simulated student starting from nothing as in `simstudent run`, up to
# 12 attempts (6 of the 68 real streams are longer).
LOOP_OPTS="--context --prefix 0 --min-attempts 3 --max-new-attempts 12"
loop_rollouts() {  # label, model options...
  local label=$1; shift
  for split in test_NS_OP test_NS_NP; do
    simstudent eval rollout $SPLIT_OPTS --split $split $LOOP_OPTS $GEN_OPTS --batch-size 16 --threads 1 \
      --label "$label" "$@" --out "runs/loop-$split-$label"
  done
}

# Full size, teacher-forced: every example of both test splits (exp2 k = 3: 479 + 164,
# exp1: 432 + 174), 3 samples each (the untuned model: 1, see full-inst), with context. The
# floor is in every run (same cells).
FULL_OPTS="$SPLIT_OPTS --context --max-new-tokens 128 --batch-size 16 --threads 1 --embedder minilm --quiet"
full() {  # exp (exp1|exp2), label, model options...
  local exp=$1 label=$2; shift 2
  local k=""; [ "$exp" = exp2 ] && k="--k 3"
  for split in test_NS_OP test_NS_NP; do
    simstudent eval $exp $FULL_OPTS $k --split $split --label "$label" "$@" --out "runs/full-$exp-$split-$label"
  done
}

case "${1:-}" in
  inst) runs_for smol-inst ;;
  train)
    resume=""; [ -d "$ADAPTER/checkpoints" ] && resume=--resume
    simstudent train $SPLIT_OPTS --exp exp2 --k 3 --context $TRAIN_OPTS --out "$ADAPTER" $resume ;;
  student) runs_for smol-student --adapter "$ADAPTER" ;;
  baseline)  # exp2 without a model: the previous real attempt, unchanged
    for split in test_NS_OP test_NS_NP; do exp2 $split copy-previous --backend copy-previous; done ;;
  train-1ep)
    resume=""; [ -d "$ADAPTER_1EP/checkpoints" ] && resume=--resume
    simstudent train $SPLIT_OPTS --exp exp2 --k 3 --context $TRAIN_1EP_OPTS --out "$ADAPTER_1EP" $resume ;;
  student-1ep) runs_for smol-student-1ep --adapter "$ADAPTER_1EP" ;;
  loop)  # the default agent settings: failing <SUBMIT>s ignored, unchanged repeats redrawn (up to 3)
    loop_rollouts smol-loop-solution-default --adapter itap-loop-solution
    loop_rollouts smol-loop-default --adapter itap-loop
    simstudent eval rollout $SPLIT_OPTS --split test_NS_OP $LOOP_OPTS $GEN_OPTS --batch-size 16 --threads 1 \
      --label smol-inst-default --template chat-loop --out runs/loop-test_NS_OP-smol-inst-default ;;
  loop-ablation)  # the solution-aware adapter with the bare agent, then with failing <SUBMIT>s ignored
    loop_rollouts smol-loop-solution --adapter itap-loop-solution --stop-at-submit --redraw-repeats 0
    loop_rollouts smol-loop-solution-ifs --adapter itap-loop-solution --ignore-failing-submit --redraw-repeats 0 ;;
  full-baseline) full exp2 copy-previous --backend copy-previous --samples 3 ;;
  full-student)  # optional second argument: exp1 or exp2 only
    if [ "${2:-exp2}" = exp2 ]; then full exp2 smol-student --adapter itap-exp2-k3-ctx --samples 3; fi
    if [ "${2:-exp1}" = exp1 ]; then full exp1 smol-student --adapter itap-exp1-ctx --samples 3; fi ;;
  full-inst)  # 1 sample: every untuned generation runs to the 128-token limit, ~3x the adapters' cost
    if [ "${2:-exp2}" = exp2 ]; then full exp2 smol-inst --samples 1; fi
    if [ "${2:-exp1}" = exp1 ]; then full exp1 smol-inst --samples 1; fi ;;
  report)  # every finished run: its metrics.json, gzipped into docs/results/metrics/, then the page from those
    mkdir -p docs/results/metrics
    for d in runs/full-*/ runs/loop-*/; do
      [ -f "$d/metrics.json" ] && gzip -9 -n -c "$d/metrics.json" > "docs/results/metrics/$(basename "$d").json.gz"
    done
    simstudent report docs/results/metrics/*.json.gz --out docs/results \
      --notes docs/results/NOTES.md --title "simstudent on ITAP: SmolLM2-135M, prompted vs LoRA, with the real-student floor"
    ;;
  *) echo "usage: $0 inst|train|student|baseline|train-1ep|student-1ep|loop|loop-ablation|full-baseline|full-student|full-inst|report" >&2; exit 2 ;;
esac
