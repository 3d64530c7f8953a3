#!/usr/bin/env bash
# One device call: the SynthWorld research bench (several bench processes share the GPU through
# torchrun, with a gloo group for the barrier) and/or the SDXL-scale cost benchmark.
# Usage: scripts/gpu_experiments.sh bench|profile|perf|flux|sd35|memory|sharing|host|ab|both (several: one call each);
# results go to $OUT (or out/gpu).
set -uo pipefail
WHAT=${1:-both}
OUT=${OUT:-out/gpu}
PROCS=${PROCS:-16}
STORIES=${STORIES:-112}
BENCH_SEC=${BENCH_SEC:-360}
mkdir -p "$OUT"
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP:-1}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"

METHODS=(vanilla consistory shared storydiffusion 1p1s
  'svd=svd?target=kv&zero=energy:0.9&refresh=1'
  'svd_e50=svd?target=kv&zero=energy:0.5&refresh=1' 'svd_e70=svd?target=kv&zero=energy:0.7&refresh=1'
  'svd_e97=svd?target=kv&zero=energy:0.97&refresh=1'
  'svd_exp01=svd?target=kv&zero=energy:0.9&reweight=exp:0.01+norm&refresh=1'
  'svd_exp02=svd?target=kv&zero=energy:0.9&reweight=exp:0.02+norm&refresh=1'
  'svd_exp05=svd?target=kv&zero=energy:0.9&reweight=exp:0.05+norm&refresh=1'
  'svd_hidden=svd?target=hidden&zero=energy:0.9&refresh=1'
  'svd_cond=svd?target=kv&zero=energy:0.9&share_uncond=false&refresh=1'
  'svd_refresh5=svd?target=kv&zero=energy:0.9&refresh=5'
  'shared_all=shared?parts=down,mid,up&n_anchors=0'
  'svd_all=svd?parts=down,mid,up&n_anchors=0&target=kv&zero=energy:0.9&refresh=1'
  'consistory_fast=consistory?prepass_steps=10')

if [ "$WHAT" = bench ] || [ "$WHAT" = both ]; then
  # 4 scenes a story: the mini text encoder's 24-token context must hold 1p1s's one prompt
  python3 -c "import json,sys; from svdstory.eval.synthworld import synthworld_suite; \
json.dump(synthworld_suite($STORIES, seed=0, scenes_per_story=4), open('/tmp/suite.json','w'))"
  [ -d .bench ] && cp -r .bench /tmp/bench  # records of an earlier call (carried): the bench resumes
  ARGS=(--suite /tmp/suite.json --device cuda:0 --dtype float32 --out /tmp/bench ${BENCH_ARGS:-})
  for m in "${METHODS[@]}"; do ARGS+=(--method "$m"); done
  ACCELERATE_USE_CPU=1 timeout "$BENCH_SEC" torchrun --nproc_per_node "$PROCS" -m svdstory bench "${ARGS[@]}" \
    > "$OUT/bench_log.txt" 2>&1
  echo "bench exit $?" | tee -a "$OUT/bench_log.txt"
  tail -5 "$OUT/bench_log.txt"
  ls /tmp/bench/records/*/ | wc -l
  tar czf "$OUT/bench_records.tgz" -C /tmp/bench bench.json records
  python3 -m svdstory report /tmp/bench --vs consistory svd --method svd --out /tmp/report > "$OUT/report_log.txt" 2>&1
  cp /tmp/report/report.md /tmp/report/*.png "$OUT/" 2>/dev/null
  tar czf "$OUT/report_html.tgz" -C /tmp/report . 2>/dev/null
fi
if [ "$WHAT" = profile ]; then
  # kernel-level profile of 10 steps per method: GPU busy time, host-bound gaps, svdstory's regions
  timeout ${PROF_SEC:-170} python3 benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
    ${PROF_ARGS:-} > "$OUT/profile.txt" 2>&1
  grep -E "^## |^wall|^host syncs" "$OUT/profile.txt"
fi
if [ "$WHAT" = perf ] || [ "$WHAT" = both ]; then
  # the decompositions alone: the 20 x 3072x64, then the shapes of SDXL's keys with 2 anchors
  timeout 120 python3 benchmarks/svd_decompositions.py --device cuda > "$OUT/decomp_cuda.txt" 2>&1
  timeout 120 python3 benchmarks/svd_decompositions.py --device cuda --decay 0.9 --batch 40 --rank 24 \
    --shapes 8192x64,2048x64 >> "$OUT/decomp_cuda.txt" 2>&1
  cat "$OUT/decomp_cuda.txt"
  timeout ${PERF_SEC:-330} python3 benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16 --images 4 --steps 50 \
    ${PERF_ARGS:-} --json "$OUT/perf_sdxl.json" > "$OUT/perf_log.txt" 2>&1  # unbuffered, so a timeout keeps every line
  grep -v -i "warn\|torchvision\|float32" "$OUT/perf_log.txt" | tail -20
fi
if [ "$WHAT" = flux ] || [ "$WHAT" = sd35 ]; then
  # issue 24's DiT cost table: the FLUX.1-dev or SD3.5-medium transformer (random weights, bf16), 4 images at
  # 1024 px, 28 steps, every method against vanilla in one run
  timeout ${PERF_SEC:-570} python3 benchmarks/method_cost.py --scale "$WHAT" --device cuda --dtype bfloat16 --images 4 \
    --steps 28 --no-breakdown --method vanilla --method shared --method svd --method consistory \
    --method storydiffusion --method 1p1s ${PERF_ARGS:-} --json "$OUT/perf_$WHAT.json" > "$OUT/perf_${WHAT}_log.txt" 2>&1
  grep -v -i "warn\|torchvision\|float32" "$OUT/perf_${WHAT}_log.txt" | tail -14
fi
if [ "$WHAT" = memory ] || [ "$WHAT" = both ]; then
  timeout ${MEM_SEC:-150} python3 benchmarks/memory.py --scale sdxl --device cuda --dtype float16 \
    --json "$OUT/memory_sdxl.json" > "$OUT/memory_log.txt" 2>&1
  grep -v -i "warn\|torchvision" "$OUT/memory_log.txt" | tail -14
fi
if [ "$WHAT" = sharing ]; then
  # masked sharing: its attention calls alone, ConsiStory's cost with and without the packed
  # variable-length call, and a kernel profile of ConsiStory
  timeout 150 python3 benchmarks/attention_kernels.py --device cuda > "$OUT/attention_kernels.txt" 2>&1
  cat "$OUT/attention_kernels.txt"
  timeout ${PERF_SEC:-300} python3 benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16 --images 4 \
    --steps 50 --no-breakdown --repeats 2 --method vanilla --method consistory --method storydiffusion \
    --one-call consistory ${PERF_ARGS:-} --json "$OUT/perf_sdxl.json" > "$OUT/perf_log.txt" 2>&1
  grep "^|" "$OUT/perf_log.txt"
  timeout ${PROF_SEC:-150} python3 benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
    --top 30 --method consistory > "$OUT/profile.txt" 2>&1
  grep -E "^## |^wall|^host syncs" "$OUT/profile.txt"
fi
if [ "$WHAT" = host ]; then
  # where the GPU waits for the host: a traced profile of 10 steps (idle gaps charged to the host op that
  # launched the next kernel), ConsiStory with its sharing patterns read early or late in the same run,
  # and the same at 512 px, where the GPU's work is a quarter and the host's pace shows
  timeout ${PROF_SEC:-200} python3 benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
    --top 25 --trace "$OUT" --method vanilla --method consistory > "$OUT/profile.txt" 2>&1
  grep -E "^## |^wall|^host syncs|^GPU idle" "$OUT/profile.txt"
  timeout ${PERF_SEC:-240} python3 benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16 --images 4 \
    --steps 50 --no-breakdown --repeats 2 --method vanilla --method consistory --eager-patterns consistory \
    ${PERF_ARGS:-} --json "$OUT/perf_sdxl.json" > "$OUT/perf_log.txt" 2>&1
  grep "^|" "$OUT/perf_log.txt"
  timeout ${SMALL_SEC:-100} python3 benchmarks/method_cost.py --scale sdxl --device cuda --dtype float16 --images 4 \
    --steps 50 --size 512 --no-breakdown --method vanilla --method consistory --eager-patterns consistory \
    > "$OUT/perf_512.txt" 2>&1
  grep "^|" "$OUT/perf_512.txt"
fi
if [ "$WHAT" = ab ]; then
  # vanilla and ConsiStory timed by earlier versions of the package (BASES: folders holding their
  # svdstory, e.g. from `git archive`) and by this one, one after the other on the same machine, at each
  # of SIZES px (512: a quarter of the GPU's work, the host's pace shows); SDSA's attention calls alone
  # by the last base and this one; with PROFILE=1, a traced profile of this one
  for src in ${BASES:+${BASES##* }} src; do
    echo "== kernels, $src" | tee -a "$OUT/kernels.txt"
    PYTHONPATH=$src:${PYTHONPATH#src:} timeout 100 python3 benchmarks/attention_kernels.py --device cuda \
      > /tmp/kernels.txt 2>&1
    cat /tmp/kernels.txt >> "$OUT/kernels.txt"; grep -E "packed|reference" /tmp/kernels.txt
  done
  for size in ${SIZES:-1024 512}; do
    for src in ${BASES:-} src; do
      log="$OUT/ab_${size}_${src//\//_}.txt"
      PYTHONPATH=$src:${PYTHONPATH#src:} timeout ${AB_SEC:-150} python3 benchmarks/method_cost.py --scale sdxl \
        --device cuda --dtype float16 --images 4 --steps 50 --size $size --no-breakdown --repeats 2 \
        --method vanilla --method consistory ${AB_ARGS:-} > "$log" 2>&1
      echo "== $src at $size px"; grep "^| [a-z]" "$log"
    done
  done
  if [ -n "${PROFILE:-}" ]; then
    timeout ${PROF_SEC:-150} python3 benchmarks/profile_method.py --scale sdxl --device cuda --dtype float16 --steps 10 \
      --top 25 --trace "$OUT" --method consistory > "$OUT/profile.txt" 2>&1
    grep -E "^## |^wall|^host syncs|^GPU idle" "$OUT/profile.txt"
  fi
fi
