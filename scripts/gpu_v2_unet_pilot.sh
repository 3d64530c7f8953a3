#!/usr/bin/env bash
# World v2 on ONE GPU, after gpu_v2_together.sh: the VAE fine-tuned on v2 renders (VAE_MIN minutes,
# from the shipped v1 VAE), then two UNet pilots side by side on the frozen CLIP text tower for
# UNET_MIN minutes each: from scratch, and from the shipped v1 UNet (--init-unet). Both are
# exported and scored with the v2 evaluator (EVAL_N plain + EVAL_N attribute-naming prompts,
# guidance 5); the better one's checkpoint comes back in $OUT/minisd/ (3 shards), with the
# fine-tuned VAE, the scores, grids and logs in $OUT/pilot.tgz.
# Needs .ckpt/clip_export and .ckpt/evaluator_export (from gpu_v2_together.sh, carried).
#   VAE_MIN=2.5 UNET_MIN=5 EVAL_N=128 bash scripts/gpu_v2_unet_pilot.sh
set -uo pipefail
VAE_MIN=${VAE_MIN:-2.5}
UNET_MIN=${UNET_MIN:-5}
EVAL_N=${EVAL_N:-128}
OUT=${OUT:-out/gpu}
PY=${PY:-python3}
SD_ARGS=${SD_ARGS:---batch 256 --reuse 3 --lr 4e-4 --offset-noise 0.1}
V1=src/svdstory/assets/minisd
mkdir -p "$OUT" .ckpt/pilot
if ! "$PY" -c "import diffusers" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee .ckpt/pilot/gpu.txt
CORES=$(nproc)
W=$(( (CORES - 2) / 2 )); [ "$W" -lt 1 ] && W=1

"$PY" scripts/train_minisd.py --ckpt .ckpt/minisd_scratch --clip .ckpt/clip_export --init-vae "$V1" --finetune-vae \
    --vae-minutes "$VAE_MIN" --max-minutes "$("$PY" -c "print($VAE_MIN + 0.1)")" --vae-lr "${VAE_LR:-1.5e-4}" \
    --workers $(( CORES - 1 )) --log .ckpt/pilot/vae.log $SD_ARGS
cp -r .ckpt/minisd_scratch .ckpt/minisd_init
"$PY" scripts/train_minisd.py --ckpt .ckpt/minisd_scratch --clip .ckpt/clip_export --max-minutes "$UNET_MIN" \
    --workers "$W" --anneal --log .ckpt/pilot/scratch.log $SD_ARGS &
"$PY" scripts/train_minisd.py --ckpt .ckpt/minisd_init --clip .ckpt/clip_export --init-unet "$V1" \
    --max-minutes "$UNET_MIN" --workers "$W" --anneal --log .ckpt/pilot/init.log $SD_ARGS &
wait
for v in scratch init; do
  "$PY" scripts/train_minisd.py --ckpt .ckpt/minisd_$v --clip .ckpt/clip_export --max-minutes 0 \
      --export .ckpt/export_$v --log .ckpt/pilot/$v.log
  "$PY" scripts/eval_minisd.py --model .ckpt/export_$v --evaluator .ckpt/evaluator_export --n "$EVAL_N" \
      --guidance 5 --json .ckpt/pilot/gen_$v.json --grid .ckpt/pilot/grid_$v.png 2>&1 | grep -v -i warn &
done
wait
BEST=$("$PY" - <<'EOF'
import json
score = {}
for v in ("scratch", "init"):
    try:
        r = json.load(open(f".ckpt/pilot/gen_{v}.json"))["results"]["cfg5.0"]["plain"]
        score[v] = r["subject"] + r["scene"]
    except (OSError, KeyError, ValueError):
        score[v] = -1
print(max(score, key=score.get))
EOF
)
echo "better pilot: $BEST" | tee .ckpt/pilot/best.txt
cp -r .ckpt/export_$BEST/vae .ckpt/pilot/vae
mkdir -p "$OUT/minisd" && cp .ckpt/minisd_$BEST/shard-* "$OUT/minisd/"
tar czf "$OUT/pilot.tgz" .ckpt/pilot
ls -la "$OUT" "$OUT/minisd"
