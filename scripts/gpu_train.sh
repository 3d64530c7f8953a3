#!/usr/bin/env bash
# One bounded GPU session: mini SD and evaluator train side by side from the checkpoints in .ckpt/,
# then the mini SD is scored with the evaluator. Results (compact checkpoints, log, grid, scores)
# go to $OUT. Run it again with the returned checkpoints copied back into .ckpt/ to continue.
#
# Environment knobs (minutes are wall-clock for each process; 0 skips it):
#   SD_MIN=7.8 VAE_MIN=2.5 EV_MIN=7.8 SD_ARGS="..." EV_ARGS="..." EVAL_N=256 EVAL_G="3 5 7.5"
#   EXPORT_PREV=1 also scores the incoming checkpoint (gen_eval_prev.json, grid_prev.png)
set -uo pipefail
SD_MIN=${SD_MIN:-7.8}
VAE_MIN=${VAE_MIN:-2.5}
EV_MIN=${EV_MIN:-7.8}
SD_ARGS=${SD_ARGS:-}
EV_ARGS=${EV_ARGS:-}
EVAL_N=${EVAL_N:-256}
EVAL_G=${EVAL_G:-3 5 7.5}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
mkdir -p "$OUT" .ckpt/minisd .ckpt/evaluator

if ! "$PY" -c "import diffusers" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/log.txt"

if [ -n "${EXPORT_PREV:-}" ]; then  # keep the incoming model, to score it beside the new one
  "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --max-minutes 0 --export /tmp/minisd_prev --log "$OUT/log.txt"
fi
if [ "$EV_MIN" != "0" ]; then
  "$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes "$EV_MIN" --workers 5 \
      --export /tmp/evaluator --log "$OUT/log.txt" $EV_ARGS &
  EV_PID=$!
fi
if [ "$SD_MIN" != "0" ]; then
  "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --max-minutes "$SD_MIN" --vae-minutes "$VAE_MIN" \
      --workers 9 --export /tmp/minisd --log "$OUT/log.txt" $SD_ARGS
fi
[ -n "${EV_PID:-}" ] && wait "$EV_PID"

# compact checkpoints back to the caller first (each shard < 16 MiB): scoring must not risk them
mkdir -p "$OUT/minisd" "$OUT/evaluator"
cp .ckpt/minisd/shard-* "$OUT/minisd/" 2>/dev/null
[ "$EV_MIN" != "0" ] && cp .ckpt/evaluator/shard-* "$OUT/evaluator/" 2>/dev/null

score() {  # score() MODEL_DIR SUFFIX
  EVALUATOR=/tmp/evaluator; [ -d "$EVALUATOR" ] || EVALUATOR=src/svdstory/assets/evaluator
  "$PY" scripts/eval_minisd.py --model "$1" --evaluator "$EVALUATOR" --n "$EVAL_N" --guidance $EVAL_G \
      --json "$OUT/gen_eval$2.json" --grid "$OUT/grid$2.png" 2>&1 | grep -v -i warn | tee -a "$OUT/log.txt"
}
if [ "$EVAL_N" != "0" ]; then
  [ -d /tmp/minisd ] && score /tmp/minisd ""
  [ -d /tmp/minisd_prev ] && score /tmp/minisd_prev "_prev"
fi
ls -la "$OUT" "$OUT/minisd" "$OUT/evaluator"
