"""svdstory: training-free consistent subject generation with Stable Diffusion models."""
from .config import SamplingConfig
from .errors import SvdStoryError
from .generate import StoryResult, Subject, generate, generate_anchors, generate_more
from .models import Model, load_model
from .story import Story, load_story

__all__ = ["SamplingConfig", "SvdStoryError", "StoryResult", "Subject", "generate", "generate_anchors",
           "generate_more", "Model", "load_model", "Story", "load_story"]
__version__ = "0.1.0"
