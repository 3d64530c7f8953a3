"""`svdstory ui`: a Gradio page for making consistent stories on the same API as the CLI.

The page's parts, one module each: `form` (the story editor's values -> Story, sampling, method options, and
which field a bad value belongs to), `controls` (an option's control from its description), `runs`
(generate, more scenes, compare on one loaded model), `gallery` (images and mask overlays), `runfiles`
(zip of a run, run.json back into the form), `examples`, `app` (the Blocks), `cli` (the subcommand).
Gradio is imported by `controls`, `app` and `cli` only, so the rest is testable without a browser.
"""
