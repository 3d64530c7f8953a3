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


# How a subject word becomes token positions. "word": every sub-token of its first occurrence, in any of its
# forms (their maps are summed: the whole word is localised); "release": the ConsiStory release's rule
# (`release_positions`).
TOKEN_RULES = ("word", "release")


def _occurrences(haystack: list[int], needle: list[int]) -> list[list[int]]:
    n = len(needle)
    return [list(range(start, start + n)) for start in range(len(haystack) - n + 1) if haystack[start:start + n] == needle]


def token_positions(tokenizer, prompt: str, word: str, rule: str = "word") -> list[int]:
    """Positions (in the padded, special-token-prefixed sequence) of `word`'s sub-tokens under `rule`; under
    "release" an empty list where the release finds nothing (see `release_positions`)."""
    if rule not in TOKEN_RULES:
        raise SvdStoryError(f"token rule {rule!r} is not one of {', '.join(TOKEN_RULES)}")
    if rule == "release":
        return release_positions(tokenizer, prompt, word)
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    for form in word_variants(word):
        needle = tokenizer(form, add_special_tokens=False).input_ids
        found = _occurrences(list(ids), list(needle)) if needle else []
        if found:
            return found[0]
    raise SvdStoryError(f"subject token {word!r} not found in prompt {prompt!r} (pass --token with a word of the prompt)")


def release_positions(tokenizer, prompt: str, word: str) -> list[int]:
    """The release's rule: the last position, anywhere in the prompt, of the id of the word's first
    sub-token (the word as written, no other forms). It need not be the word itself: with a vocabulary that
    splits "cat" into "c" + "at", "a cat next to a cow" gives the "c" of "cow". [] where the id is absent
    (the release's index -1: this subject then gives the image no map)."""
    needle = tokenizer(word, add_special_tokens=False).input_ids
    if not needle:
        raise SvdStoryError(f"subject token {word!r} has no tokens")
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length).input_ids
    return [p for p, token in enumerate(ids) if token == needle[0]][-1:]


def story_token_positions(tokenizer, prompts: list[str], words: tuple[str, ...],
                          rule: str = "word") -> list[list[list[int]]]:
    """positions[s][i]: the token positions of subject word s in prompt i. Every prompt needs at least one
    subject (under "release" some subjects may be missing from a prompt, as the release allows)."""
    positions = [[token_positions(tokenizer, prompt, word, rule) for prompt in prompts] for word in words]
    for i, prompt in enumerate(prompts):
        if not any(per_image[i] for per_image in positions):
            raise SvdStoryError(f"no subject token of {', '.join(map(repr, words))} found in prompt {prompt!r} by "
                                f"the {rule!r} rule (the release would fail here; pass --token with a word of "
                                "the prompt)")
    return positions
