"""The mini models' tokenizer: a CLIP BPE tokenizer in which every word of the world's captions is
one token, learned from the vocabulary rather than downloaded (the mini SD and mini CLIP share it)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from svdstory.errors import SvdStoryError

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
WORD_END = "</w>"


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table: every byte gets a printable character."""
    printable = [("!", "~"), ("¡", "¬"), ("®", "ÿ")]
    keep = {b for lo, hi in printable for b in range(ord(lo), ord(hi) + 1)}
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def _learn_merges(words: Iterable[str]) -> list[tuple[str, str]]:
    """Greedy BPE (Sennrich et al. 2016) until every word is one symbol.

    The most frequent adjacent pair is merged first and ties go to the smaller pair, so the same
    words always give the same merges (the `tokenizers` trainer breaks ties differently per run).
    """
    words = sorted(set(words))
    seqs = [list(w[:-1]) + [w[-1] + WORD_END] for w in words]
    merges: list[tuple[str, str]] = []
    while True:
        counts = Counter(pair for s in seqs for pair in zip(s, s[1:]))
        if not counts:
            return merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        seqs = [_merge_pair(s, best) for s in seqs]


def tokenizer_files(words: Iterable[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP-format vocab and merges: bytes (bare and word-final) for fallback, then caption words."""
    words = [w.lower() for w in words]
    for w in words:
        if not w.isalpha() or not w.isascii():
            raise SvdStoryError(f"vocabulary word {w!r}: must be one lowercase ascii word")
    merges = _learn_merges(words)
    alphabet = _byte_alphabet()
    tokens = alphabet + [c + WORD_END for c in alphabet] + ["".join(m) for m in merges] + [BOS, EOS]
    vocab: dict[str, int] = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def make_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]], max_length: int):
    """A `CLIPTokenizer` from in-memory vocab and merges (as stored in training checkpoints)."""
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m) for m in merges], model_max_length=max_length)


def build_tokenizer(words: Iterable[str], max_length: int):
    """A `CLIPTokenizer` whose vocabulary holds every word in `words` as a single token."""
    return make_tokenizer(*tokenizer_files(words), max_length)


def write_tokenizer_files(folder: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """vocab.json + merges.txt beside tokenizer.json, for loaders that want the original CLIP files."""
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
