"""SynthWorld scores: stories of the procedural world with exact truth, read by the evaluator.

One package rather than one module because the three parts pass 300 lines together and change for
different reasons: `suite` (which stories, their truth), `metrics` (pure functions over the
evaluator's predictions), `scorer` (the bench's scorer protocol, which runs the evaluator).
"""

from svdstory.eval.synthworld.scorer import SynthWorldScorer, story_scores
from svdstory.eval.synthworld.suite import story_truth, synthworld_suite, synthworld_suite_v2

__all__ = ["SynthWorldScorer", "story_scores", "synthworld_suite", "synthworld_suite_v2", "story_truth"]
