"""The page's words for the library's one-line messages, which name the command line's inputs: a flag becomes
the field it is on the page (`--steps 0` -> `steps 0`) and advice that names a flag says what to do on the page.
One table, so every check keeps its single message and the page never shows a flag."""
from __future__ import annotations

import re

ADVICE = (  # (the command line's advice, the page's), each a whole phrase of a library message
    ("give at least one --scene", "add at least one scene"),
    ("pass --token with a word of the prompt", "write a word of the prompt in Subject words"),
    ("pass --token", "name the subject word in Subject words"),
    ("use fewer scenes, --anchors-first, offload the anchor cache with --set cache_device=cpu, or --dtype float16",
     "use fewer scenes and add the others with More scenes, or set the method option cache_device to cpu"),
)
FIELDS = re.compile(r"--(steps|guidance|height|width|seed|negative-prompt)\b")  # flags that are page fields


def in_page_words(message: str) -> str:
    for cli, page in ADVICE:
        message = message.replace(cli, page)
    return FIELDS.sub(lambda m: m.group(1).replace("-", " "), message)
