#!/usr/bin/env bash
# World v2 on ONE GPU, one call (< 10 minutes): the mini SD's UNet and the evaluator go on training side by
# side from their checkpoints (.ckpt/minisd with .ckpt/clip_export, .ckpt/evaluator with the VAE in
# .ckpt/vae), then both are exported, the mini SD is scored with the new evaluator (eval_minisd.py) and its
# cross-attention is probed (attention_probe.py). Returns $OUT/minisd/shard-* and $OUT/evaluator/shard-*
# (copy them back into .ckpt/ to go on) and $OUT/results.tgz (logs, scores, probe, the evaluator export).
# With BARS=N it then measures the bars on N stories in what is left of the call (CALL_SEC).
#   UNET_MIN=5.6 EV_MIN=5.4 EVAL_N=64 BARS=48 SD_ARGS="--clean-pads 0.75 ..." EV_ARGS="--anneal" bash scripts/gpu_v2_continue.sh
# carry: .whl .ckpt/minisd .ckpt/clip_export .ckpt/evaluator .ckpt/evaluator_export .ckpt/vae
set -uo pipefail
UNET_MIN=${UNET_MIN:-7.5}
EV_MIN=${EV_MIN:-7.5}
EVAL_N=${EVAL_N:-256}
BARS=${BARS:-0}            # > 0: scripts/v2_bars.py on that many stories after the exports
CALL_SEC=${CALL_SEC:-575}  # the device call's limit, less a margin: the bars take what is left of it
SD_ARGS=${SD_ARGS:---batch 256 --reuse 3 --lr 3e-4 --offset-noise 0.1}
EV_ARGS=${EV_ARGS:---anneal}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
R=.ckpt/results
mkdir -p "$OUT" "$R"
if ! "$PY" -c "import diffusers" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # attention_probe.py imports svdstory (the image does not install it)
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$R/gpu.txt"
CORES=$(nproc)
W_EV=$(( CORES / 4 )); [ "$W_EV" -lt 1 ] && W_EV=1
W_SD=$(( CORES - W_EV - 1 )); [ "$W_SD" -lt 1 ] && W_SD=1

# the incoming model, diagnosed beside the training: its lighting under three samplings (a checkpoint that
# starts from the shipped folders, SD_ARGS="--init-unet ... --init-vae ...", has nothing to diagnose yet)
if ls .ckpt/minisd/shard-* >/dev/null 2>&1; then
  "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export --max-minutes 0 --export .ckpt/minisd_prev \
      --log "$R/minisd.log"
  "$PY" scripts/lighting_probe.py --model .ckpt/minisd_prev --evaluator .ckpt/evaluator_export --n 256 --device cuda \
      --json "$R/lighting_prev.json" 2>&1 | grep -v -i warn &
fi
[ "$UNET_MIN" != "0" ] && "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export \
    --max-minutes "$UNET_MIN" --workers "$W_SD" --log "$R/minisd.log" $SD_ARGS &
[ "$EV_MIN" != "0" ] && "$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes "$EV_MIN" \
    --workers "$W_EV" --held-out 0 --vae .ckpt/vae --log "$R/evaluator.log" $EV_ARGS &
wait
"$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes 0 --held-out 1024 \
    --export "$R/evaluator_export" --log "$R/evaluator.log"
"$PY" scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export --max-minutes 0 \
    --export .ckpt/minisd_export --log "$R/minisd.log"
mkdir -p "$OUT/minisd" "$OUT/evaluator"
cp .ckpt/minisd/shard-* "$OUT/minisd/"
cp .ckpt/evaluator/shard-* "$OUT/evaluator/"
"$PY" scripts/eval_minisd.py --model .ckpt/minisd_export --evaluator "$R/evaluator_export" --n "$EVAL_N" \
    --guidance 5 --json "$R/gen.json" --grid "$R/grid.png" 2>&1 | grep -v -i warn
"$PY" scripts/attention_probe.py --model .ckpt/minisd_export --evaluator "$R/evaluator_export" --out "$R/probe" \
    --per-word 4 --device cuda 2>&1 | grep -v -i warn | tail -40
if [ "$BARS" != "0" ]; then  # the bars on the exports, in what is left of a CALL_SEC-second call
  MIN=$("$PY" -c "print(round(max(0.5, ($CALL_SEC - $SECONDS) / 60), 2))")
  "$PY" scripts/v2_bars.py --model .ckpt/minisd_export --evaluator "$R/evaluator_export" --out "$R/bars" \
      --stories "$BARS" --images 512 --device cuda --per-device 4 --max-minutes "$MIN" > "$R/bars.log" 2>&1
  echo "bars exit $?"; cat "$R/bars/bars.md" 2>/dev/null
  find "$R/bars" -name '*.png' -delete  # the tables and records come back; the images would pass the size limit
fi
tar czf "$OUT/results.tgz" "$R"
ls -la "$OUT" "$OUT/minisd" "$OUT/evaluator"
