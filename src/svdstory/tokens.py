"""Find where a subject word sits in a tokenized prompt, sub-tokens and plural forms included."""
from __future__ import annotations

import re

from .errors import SvdStoryError


def word_variants(word: str) -> list[str]:
    """The word as given, lower-cased, and its likely singular/plural forms, most specific first."""
    base = " ".join(re.sub(r"[^\w\s\-']", "", word).lower().split())  # punctuation goes, inner spaces stay: "teddy bear"
    forms = [base]
    if base.endswith("ies"):
        forms.append(base[:-3] + "y")
    elif base.endswith("es"):
        forms += [base[:-2], base[:-1]]
    elif base.endswith("s"):
        forms.append(base[:-1])
    if base.endswith("y"):
        forms.append(base[:-1] + "ies")
    if base.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(base + "es")
    forms.append(base + "s")
    return list(dict.fromkeys(f for f in forms if f))


# How a subject word becomes token positions. "word": every sub-token of its first occurrence (their maps
# are summed: the whole word is localised); "release": the first sub-token of its last occurrence, as the
# ConsiStory release picks it.
TOKEN_RULES = ("word", "release")


def _occurrences(haystack: list[int], needle: list[int]) -> list[list[int]]:
    n = len(needle)
    return [list(range(start, start + n)) for start in range(len(haystack) - n + 1) if haystack[start:start + n] == needle]


def token_positions(tokenizer, prompt: str, word: str, rule: str = "word") -> list[int]:
    """Positions (in the padded, special-token-prefixed sequence) of `word`'s sub-tokens under `rule`."""
    if rule not in TOKEN_RULES:
        raise SvdStoryError(f"token rule {rule!r} is not one of {', '.join(TOKEN_RULES)}")
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    for form in word_variants(word):
        needle = tokenizer(form, add_special_tokens=False).input_ids
        found = _occurrences(list(ids), list(needle)) if needle else []
        if found:
            return found[0] if rule == "word" else found[-1][:1]
    raise SvdStoryError(f"subject token {word!r} not found in prompt {prompt!r} (pass --token with a word of the prompt)")


def story_token_positions(tokenizer, prompts: list[str], words: tuple[str, ...],
                          rule: str = "word") -> list[list[list[int]]]:
    """positions[s][i]: the token positions of subject word s in prompt i."""
    return [[token_positions(tokenizer, prompt, word, rule) for prompt in prompts] for word in words]
