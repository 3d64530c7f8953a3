"""SynthWorld: a seeded procedural world of one subject in one scene, with labels and captions.

Subjects come in two families, articulated animals (pose varies) and rigid objects, each carrying
hidden identity attributes (color, pattern, accessory, eyes); scenes differ in palette and composition.
"""

from svdstory.world.captions import caption, parse_caption, vocabulary
from svdstory.world.catalog import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS, info
from svdstory.world.labels import Labels, Prop, Sample
from svdstory.world.render import render, render_layers, render_scene, render_subject
from svdstory.world.sampling import sample

__all__ = ["SUBJECTS", "ATTRIBUTES", "SCENES", "BACKGROUND_ATTRIBUTES", "LAYOUT_ATTRIBUTES", "Labels", "Prop",
           "Sample", "sample", "render", "render_layers", "render_scene",
           "render_subject", "caption", "parse_caption", "vocabulary", "info"]
