#!/usr/bin/env bash
# One device call: the SynthWorld research bench (several bench processes share the GPU through
# torchrun, with a gloo group for the barrier) and/or the SDXL-scale cost benchmark.
# Usage: scripts/gpu_experiments.sh bench|perf|both ; results go to $OUT (or out/gpu).
set -uo pipefail
WHAT=${1:-both}
OUT=${OUT:-out/gpu}
PROCS=${PROCS:-4}
STORIES=${STORIES:-24}
BENCH_MIN=${BENCH_MIN:-6}
mkdir -p "$OUT"
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"

METHODS=(vanilla consistory shared storydiffusion 1p1s
  'svd=svd?target=kv&zero=energy:0.9'
  'svd_e50=svd?target=kv&zero=energy:0.5' 'svd_e70=svd?target=kv&zero=energy:0.7'
  'svd_e97=svd?target=kv&zero=energy:0.97' 'svd_gd=svd?target=kv&zero=gd'
  'svd_exp02=svd?target=kv&zero=energy:0.9&reweight=exp:0.02+norm'
  'svd_exp10=svd?target=kv&zero=energy:0.9&reweight=exp:0.1+norm'
  'svd_hidden=svd?target=hidden&zero=energy:0.9'
  'svd_attn=svd?target=attn&zero=rank:8&decomposition=randomized&rank=8')

if [ "$WHAT" = bench ] || [ "$WHAT" = both ]; then
  # 4 scenes a story: the mini text encoder's 24-token context must hold 1p1s's one prompt
  python3 -c "import json,sys; from svdstory.eval.synthworld import synthworld_suite; \
json.dump(synthworld_suite($STORIES, seed=0, scenes_per_story=4), open('/tmp/suite.json','w'))"
  ARGS=(--suite /tmp/suite.json --device cuda:0 --dtype float32 --out /tmp/bench ${BENCH_ARGS:-})
  for m in "${METHODS[@]}"; do ARGS+=(--method "$m"); done
  ACCELERATE_USE_CPU=1 timeout $((BENCH_MIN * 60)) torchrun --nproc_per_node "$PROCS" -m svdstory bench "${ARGS[@]}" \
    > "$OUT/bench_log.txt" 2>&1
  echo "bench exit $?" | tee -a "$OUT/bench_log.txt"
  tail -5 "$OUT/bench_log.txt"
  ls /tmp/bench/records/*/ | wc -l
  tar czf "$OUT/bench_records.tgz" -C /tmp/bench bench.json records
  python3 -m svdstory report /tmp/bench --vs consistory svd --method svd --out /tmp/report > "$OUT/report_log.txt" 2>&1
  cp /tmp/report/report.md /tmp/report/*.png "$OUT/" 2>/dev/null
  tar czf "$OUT/report_html.tgz" -C /tmp/report . 2>/dev/null
fi
if [ "$WHAT" = perf ] || [ "$WHAT" = both ]; then
  timeout ${PERF_SEC:-230} python3 benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16 --images 4 --steps 50 \
    --json "$OUT/perf_sdxl.json" > "$OUT/perf_log.txt" 2>&1  # unbuffered, so a timeout keeps every line
  grep -v -i "warn\|torchvision\|float32" "$OUT/perf_log.txt" | tail -20
fi
