#!/usr/bin/env bash
# One bounded GPU session.
#
# `bash scripts/gpu_train.sh v2`: one piece (< 10 minutes) of the world v2 recipe, whichever comes
# next (scripts/v2_plan.py): the mini CLIP, then the v2 evaluator, then the mini SD on the frozen CLIP
# text tower, each until its checkpoint holds its GPU-minutes. With several GPUs visible it trains
# data-parallel (accelerate launch). Returns the checkpoint it trained in $OUT/<stage>/ (and the CLIP
# export in $OUT/clip_export once the CLIP is done): copy them back into .ckpt/ and call it again.
#   PIECE=8.3 CLIP_TOTAL=30 EV_TOTAL=12 VAE_MIN=2.5 SD_TOTAL=60 CLIP_ARGS= EV_ARGS= SD_ARGS= EVAL_N=0 \
#     bash scripts/gpu_train.sh v2
# (EVAL_N > 0: the mini SD stage also scores its export with .ckpt/evaluator_export, eval_minisd.py)
# What each call must carry: .ckpt/clip (CLIP stage), .ckpt/clip_export + .ckpt/evaluator (evaluator
# stage), .ckpt/clip_export + .ckpt/minisd (mini SD stage); every one is under 64 MiB.
#
# Without an argument (world v1's recipe): mini SD and evaluator train side by side from the
# checkpoints in .ckpt/, then the mini SD is scored with the evaluator. Results (compact checkpoints,
# log, grid, scores) go to $OUT. Run it again with the returned checkpoints copied back into .ckpt/.
# The training scripts default to world 2: pass SD_ARGS="--world 1 ..." EV_ARGS="--world 1 ..." for v1.
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

if [ "${1:-}" = "v2" ]; then
  PIECE=${PIECE:-8.3}  # minutes of training; start-up, checkpoint and export fit in the rest of 10
  NGPU=$( (nvidia-smi -L 2>/dev/null || true) | grep -c "^GPU")
  CORES=$(nproc)
  if [ "$NGPU" -gt 1 ]; then
    LAUNCH=("$PY" -m accelerate.commands.launch --multi_gpu --num_processes "$NGPU" --mixed_precision no --dynamo_backend no)
    WORKERS=$(( CORES / NGPU - 1 ))
  else
    LAUNCH=("$PY"); WORKERS=$(( CORES - 1 ))
  fi
  VAE_MIN=${VAE_MIN:-2.5}  # fine-tune the shipped v1 VAE on v2 renders first (0: take it as it is)
  INIT_VAE=${INIT_VAE-src/svdstory/assets/minisd}  # INIT_VAE= trains a VAE from scratch in the vae stage
  STAGE=$("$PY" scripts/v2_plan.py --clip-total "${CLIP_TOTAL:-30}" --evaluator-total "${EV_TOTAL:-12}" \
          --minisd-total "${SD_TOTAL:-60}" $( [ "$VAE_MIN" != "0" ] && echo --vae-stage))
  echo "v2 stage: $STAGE on $NGPU GPU(s), $WORKERS render workers per process" | tee -a "$OUT/log.txt"
  case "$STAGE" in
    clip)
      "${LAUNCH[@]}" scripts/train_clip.py --ckpt .ckpt/clip --max-minutes "$PIECE" --workers "$WORKERS" \
          --log "$OUT/log.txt" ${CLIP_ARGS:-}
      mkdir -p "$OUT/clip" && cp .ckpt/clip/shard-* "$OUT/clip/"
      if [ "$("$PY" scripts/v2_plan.py --clip-total "${CLIP_TOTAL:-30}" --evaluator-total 1e9)" != clip ]; then
        "$PY" scripts/train_clip.py --ckpt .ckpt/clip --max-minutes 0 --export "$OUT/clip_export" --log "$OUT/log.txt"
      fi ;;
    evaluator)
      "${LAUNCH[@]}" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes "$PIECE" --workers "$WORKERS" \
          --held-out 0 --log "$OUT/log.txt" ${EV_ARGS:-}
      mkdir -p "$OUT/evaluator" && cp .ckpt/evaluator/shard-* "$OUT/evaluator/"
      "$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes 0 --held-out 1024 \
          --export "$OUT/evaluator_export" --log "$OUT/log.txt" ;;
    vae)  # one process: stage 1 of train_minisd.py, from the v1 VAE, then the checkpoint (no UNet steps)
      "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export ${INIT_VAE:+--init-vae "$INIT_VAE" --finetune-vae} \
          --vae-minutes "$VAE_MIN" --max-minutes "$("$PY" -c "print($VAE_MIN + 0.1)")" --vae-lr "${VAE_LR:-1.5e-4}" \
          --workers $(( CORES - 1 )) --log "$OUT/log.txt" ${SD_ARGS:-}
      mkdir -p "$OUT/minisd" && cp .ckpt/minisd/shard-* "$OUT/minisd/" ;;
    minisd)
      "${LAUNCH[@]}" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export \
          ${INIT_VAE:+--init-vae "$INIT_VAE"} --max-minutes "$PIECE" --workers "$WORKERS" --log "$OUT/log.txt" ${SD_ARGS:-}
      mkdir -p "$OUT/minisd" && cp .ckpt/minisd/shard-* "$OUT/minisd/"
      "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export --max-minutes 0 \
          --export "$OUT/minisd_export" --log "$OUT/log.txt"
      if [ "${EVAL_N:-0}" != "0" ] && [ -d .ckpt/evaluator_export ]; then  # the v2 evaluator, exported by its stage
        "$PY" scripts/eval_minisd.py --model "$OUT/minisd_export" --evaluator .ckpt/evaluator_export --n "$EVAL_N" \
            --guidance 5 --json "$OUT/gen_eval.json" --grid "$OUT/grid.png" 2>&1 | grep -v -i warn | tee -a "$OUT/log.txt"
      fi ;;
    done) echo "every v2 stage holds its GPU-minutes; export and ship (docs/training.md, v2 plan)" ;;
  esac
  ls -la "$OUT"
  exit 0
fi

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
