"""Where the time of one whole `svdstory generate` command goes: imports, model load, the checks before
it, the first sampler step, the other steps, decoding, saving. The default is `make demo`'s command
(the bundled model, 4 scenes, method svd); run it as a fresh process so that imports are cold in Python.

    python benchmarks/command_time.py                 # prints a Markdown table
    python benchmarks/command_time.py --method consistory --repeat 3

Decoding is timed by wrapping svdstory.sampling.RunContext.decode, the one call that turns latents into
images; everything else through svdstory's own entry points.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
SCENES = ["in a forest", "on a beach", "in the snow", "in a city"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="svd")
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()
    marks = [("start", T0)]
    mark = lambda name: marks.append((name, time.perf_counter()))

    import svdstory.cli

    svdstory.cli._quiet_libraries()  # as the command line does
    mark("import svdstory.cli")
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    mark("import torch")
    import diffusers  # noqa: F401
    import transformers  # noqa: F401
    mark("import diffusers, transformers")
    from svdstory import Story
    from svdstory.generate import run_story
    from svdstory.models import default_model_source, load_model
    from svdstory.output import save_result
    from svdstory.preflight import preflight
    from svdstory.resolve import method_config
    from svdstory.sampling import RunContext
    from svdstory.settings import SamplingConfig
    mark("import svdstory's generation modules")

    story, sampling = Story("a giraffe", tuple(SCENES)), SamplingConfig()
    method, _ = method_config(args.method)
    preflight(args.model or default_model_source(), None, story, method, sampling)
    mark("checks before loading (tokenizer, VAE config)")
    model = load_model(args.model, "cpu")
    mark("load the model")

    decode = RunContext.decode

    def timed_decode(self, latents):
        mark(f"the other {len(steps) - 2} sampler steps")
        out = decode(self, latents)
        mark("decode the latents")
        return out

    RunContext.decode = timed_decode
    steps = []

    def progress(done, total):
        steps.append(done)
        if done <= 1:
            mark("method config, step count" if done == 0 else "prompts, initial noise, the first sampler step")

    result = run_story(model, story, args.method, None, sampling, progress=progress)
    mark("masks, result")
    with tempfile.TemporaryDirectory() as tmp:
        save_result(result, Path(tmp) / "run", {"command": sys.argv})
    mark("save PNGs and run.json")
    total = marks[-1][1] - T0
    print(f"| phase | seconds | share |\n| --- | ---: | ---: |")
    for (name, t), (_, before) in zip(marks[1:], marks[:-1]):
        print(f"| {name} | {t - before:.2f} | {100 * (t - before) / total:.0f}% |")
    print(f"| whole command ({len(steps) - 1} sampler steps, {torch.get_num_threads()} threads) | {total:.2f} | |")


if __name__ == "__main__":
    main()
