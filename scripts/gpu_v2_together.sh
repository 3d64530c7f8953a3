#!/usr/bin/env bash
# World v2 on ONE GPU, the pieces that need no CLIP side by side in one call (< 10 minutes):
# the mini CLIP twice (token read-out weight 0.1 and 0, the ablation that picks the recipe), the
# v2 evaluator (30% of its inputs through the shipped VAE) and the shipped VAE fine-tuned on v2
# renders, each for MIN minutes of wall-clock on the shared GPU, then their exports (held-out
# retrieval, word carrying, evaluator heads, the VAE) packed into $OUT as .tgz files (the device
# returns at most 8 files of 16 MiB: the CLIP checkpoint comes in 15 MiB parts).
#   MIN=7.2 bash scripts/gpu_v2_together.sh
# Unpack what comes back with `tar xzf` in the checkout: it lands in .ckpt/.
set -uo pipefail
MIN=${MIN:-7.2}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
CLIP_EXTRA=${CLIP_EXTRA:-}
EV_EXTRA=${EV_EXTRA:-}
VAE_EXTRA=${VAE_EXTRA:-}
HELD=${HELD:-1024}
mkdir -p "$OUT" .ckpt
if ! "$PY" -c "import diffusers" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
CORES=$(nproc)
W=$(( (CORES - 4) / 4 )); [ "$W" -lt 1 ] && W=1

"$PY" scripts/train_clip.py --ckpt .ckpt/clip_t01 --max-minutes "$MIN" --workers "$W" --token-loss 0.1 \
    --anneal --held-out 0 --log .ckpt/clip_t01.log $CLIP_EXTRA &
"$PY" scripts/train_clip.py --ckpt .ckpt/clip_t0 --max-minutes "$MIN" --workers "$W" --token-loss 0 \
    --anneal --held-out 0 --log .ckpt/clip_t0.log $CLIP_EXTRA &
"$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes "$MIN" --workers "$W" --anneal \
    --held-out 0 --vae src/svdstory/assets/minisd/vae --log .ckpt/evaluator.log $EV_EXTRA &
# the VAE stage of train_minisd alone (no CLIP needed): its export's vae/ is the mini SD's --init-vae
"$PY" scripts/train_minisd.py --ckpt .ckpt/vae --init-vae src/svdstory/assets/minisd --finetune-vae \
    --vae-minutes "$MIN" --max-minutes "$("$PY" -c "print($MIN + 0.1)")" --vae-lr "${VAE_LR:-1.5e-4}" \
    --workers "$W" --log .ckpt/vae.log $VAE_EXTRA &
wait

for v in t01 t0; do
  "$PY" scripts/train_clip.py --ckpt .ckpt/clip_$v --max-minutes 0 --held-out "$HELD" \
      --export .ckpt/clip_${v}_export --log .ckpt/clip_$v.log $CLIP_EXTRA &
done
"$PY" scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes 0 --held-out "$HELD" \
    --export .ckpt/evaluator_export --log .ckpt/evaluator.log $EV_EXTRA &
"$PY" scripts/train_minisd.py --ckpt .ckpt/vae --max-minutes 0 --export .ckpt/vae_export --log .ckpt/vae.log &
wait
"$PY" scripts/word_carrying.py .ckpt/clip_t01_export | tee -a .ckpt/clip_t01.log
"$PY" scripts/word_carrying.py .ckpt/clip_t0_export | tee -a .ckpt/clip_t0.log

tar czf "$OUT/clip_t01.tgz" .ckpt/clip_t01_export .ckpt/clip_t01.log
tar czf "$OUT/clip_t0.tgz" .ckpt/clip_t0_export .ckpt/clip_t0.log
tar czf "$OUT/evaluator.tgz" .ckpt/evaluator .ckpt/evaluator_export .ckpt/evaluator.log
tar czf "$OUT/vae.tgz" .ckpt/vae_export/vae .ckpt/vae.log
tar czf - .ckpt/clip_t01 | split -b 15m - "$OUT/clip_t01_ckpt.tgz."
ls -la "$OUT"
