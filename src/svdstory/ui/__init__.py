"""`svdstory ui`: a Gradio page for making consistent stories on the same API as the CLI.

One module per part: `form` (the editor's values -> Story, sampling, method overrides, and which field a bad
value belongs to), `scenes` (the scenes table's edits), `controls` (an option's control from its description),
`runs` (generate, compare and more scenes on one loaded model; each open page's runs), `gallery` (captions and
mask overlays), `runfiles` (a run's zip, run.json back into the form), `examples`, `handlers` (what the buttons do),
`app` (the Blocks and their wiring) and `cli` (the subcommand). Gradio is imported by `controls`, `handlers`,
`app` and `cli` only.
"""
