"""ConsiStory's attention policy: subject maps from cross-attention, SDSA, query mixing, feature injection."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from ..correspondence import Correspondence
from ..masks import MapAccumulator, binarize, dropout_keep, resize_maps, token_maps, token_selector
from ..steps import in_window, ramp
from .policy import AttnCall, PlainPolicy, sdpa
from .sdsa import (Compacted, HostCopy, Packed, allowed_anchor_tokens, anchor_keys, attend_shared, compact, pack,
                   packs, to_device, to_host_later)
from .spatial import check_parts_match


@dataclass
class Injection:
    """Feature injection at one grid: target patches take the output of their corresponding source patch."""

    grid: tuple[int, int]
    match: Correspondence
    alpha: float


# Cross-attention layers whose maps are computed together: a group is computed once its layers' scores
# reach this many (2^26: 11 of SDXL's 32x32 layers for 4 images). Until then each layer's query tensor
# stays alive (both guidance halves: 21 MB at 32x32 for 4 images); the product then holds the group's
# logits in half precision and their softmax in float32 (256 MiB).
MAP_BATCH_SCORES = 2**26


class SubjectPolicy(PlainPolicy):
    """One run (or stage) of ConsiStory. `cache` records anchors (mode "record") or replays them ("use")."""

    def __init__(self, config, positions, seeds, anchors, stage="main", injection=None, cache=None):
        self.config = config
        self.positions = positions  # [subject][image] token positions
        self.seeds = seeds  # per image, for mask dropout
        self.anchors = anchors  # image indices (in this batch) whose subject tokens are shared
        self.stage = stage  # "pre" (collects DIFT features) or "main"
        self.injection = injection
        self.cache = cache
        self.state = None  # set by RunContext.new_state
        self.maps: dict[tuple[int, int], MapAccumulator] = {}
        self.average: torch.Tensor | None = None  # (n, S, h, w) maps of the previous steps
        self.vanilla_queries: dict[str, torch.Tensor] = {}
        self._share: dict[tuple[int, int], torch.Tensor] = {}  # this step's shared tokens per grid (on the device)
        self._allowed: dict[tuple[int, int], HostCopy | Compacted | Packed] = {}  # ... as read by SDSA
        self._selectors: dict = {}
        self._pending: dict[tuple, list] = {}  # cross-attention (q, k, mask) held for a map product over layers
        self._sdsa_grids: set[tuple[int, int]] = set()  # grids where SDSA ran (their patterns are queued early)

    def check_layers(self, layers) -> None:
        if self.config.sdsa:
            check_parts_match(self.config.sdsa_parts, layers, "sdsa_parts")

    # ---- which layers and steps --------------------------------------------------------------
    def _sdsa_layer(self, call: AttnCall) -> bool:
        return self.config.sdsa and call.layer.within(self.config.sdsa_parts)

    def _sdsa_now(self) -> bool:
        return self.average is not None and in_window(self.state.step, self.state.num_steps, self.config.sdsa_steps)

    def _mix_now(self) -> bool:
        window = (0.0, self.config.query_mix_until)
        return self.config.query_mix and self._sdsa_now() and in_window(self.state.step, self.state.num_steps, window)

    def passes(self, state) -> tuple[str, ...]:
        return ("vanilla", "main") if self._mix_now() else ("main",)

    def encoder_alike(self, state) -> bool:
        """The vanilla-query pass and the main pass differ in the down and mid blocks only through SDSA or
        feature injection there (cross-attention maps are recorded by the vanilla pass instead)."""
        up = lambda parts: all(part.split(".")[0] == "up" for part in parts)
        injecting = self.injection is not None and in_window(state.step, state.num_steps, self.config.injection_steps)
        return (not self.config.sdsa or up(self.config.sdsa_parts)) and (not injecting or up(self.config.injection_parts))

    # ---- masks ---------------------------------------------------------------------------------
    def map_grid(self) -> tuple[int, int] | None:
        """The captured grid closest to latent / mask_factor (32x32 for SDXL at 1024 px)."""
        if not self.maps:
            return None
        h, w = self.state.latent_hw
        target = math.log2(max(h / self.config.mask_factor, 1))
        return min(self.maps, key=lambda g: (abs(math.log2(g[0]) - target), -g[0]))

    def subject_masks(self, grid) -> torch.Tensor:
        """(n, S, h*w) bool masks at a layer's grid, from the maps of the previous steps."""
        return binarize(resize_maps(self.average, grid)).flatten(2)

    def share_mask(self, grid) -> torch.Tensor:
        """(n, T) bool: the tokens each image shares (union of its subjects), after mask dropout."""
        if grid not in self._share:
            masks = self.subject_masks(grid).any(1)
            keep = [dropout_keep(masks.shape[1], self.config.mask_dropout,
                                 (self.seeds[i] * 1_000_003 + self.state.step * 7919 + grid[0] * 31 + grid[1]) % 2**63,
                                 masks.device) for i in range(masks.shape[0])]
            self._share[grid] = masks & torch.stack(keep)
        return self._share[grid]

    def allowed(self, grid, query: torch.Tensor) -> Compacted | Packed:
        """The anchors' tokens each image may see at `grid`, read on the host once per step: packed for one
        variable-length call where that kernel runs, else compacted into groups."""
        ready = self._allowed.get(grid)
        if not isinstance(ready, (Compacted, Packed)):
            share = (ready or self._pattern_to_host(grid)).get()  # waits only for the work queued before the copy
            self._allowed[grid] = (pack(share, self.anchors, self.state.layout, grid[0] * grid[1], query.device)
                                   if packs(query, self.state.attention_chunk) else compact(share, query.device))
        return self._allowed[grid]

    def _pattern_to_host(self, grid) -> HostCopy:
        share = allowed_anchor_tokens(self.share_mask(grid), self.anchors, self.state.layout.n_images)
        return to_host_later(share)

    def snapshot(self) -> dict:
        """What later steps read from earlier ones: the map history and its average. Vanilla queries are
        left out: a step that mixes records them in its own vanilla pass before they are read."""
        return {"maps": copy.deepcopy(self.maps), "average": self.average, "grids": set(self._sdsa_grids)}

    def restore(self, snapshot: dict) -> None:
        """Continue from `snapshot()` of another run (the main pass taking over from the pre-pass)."""
        self.maps, self.average = copy.deepcopy(snapshot["maps"]), snapshot["average"]
        self._sdsa_grids = set(snapshot["grids"])
        self._share, self._allowed, self._pending = {}, {}, {}

    def begin_step(self, state) -> None:
        """Queue this step's sharing patterns and their copy to the host before the UNet runs. The first
        SDSA layer (in the decoder, by default) reads the copy: by then the host has queued the layers
        before it, so the wait leaves the GPU busy. Read at once here, the wait would empty the GPU's queue
        between steps; computed at the first SDSA layer, the copy would wait for those layers too. (A
        grid's first SDSA step, before it is known, computes and reads its pattern there.)"""
        if self._sdsa_now() and not (self.cache is not None and self.cache.mode == "use"):
            for grid in self._sdsa_grids:
                self._allowed[grid] = self._pattern_to_host(grid)

    def end_step(self, state) -> None:
        self._flush_maps()
        for acc in self.maps.values():
            acc.end_step()
        grid = self.map_grid()
        if grid is not None:
            self.average = self.maps[grid].average()
        self._share, self._allowed = {}, {}

    # ---- attention ------------------------------------------------------------------------------
    def cross_attention(self, call: AttnCall) -> torch.Tensor:
        state = self.state
        if state.mode != "vanilla" or (call.layer.part != "up" and self.encoder_alike(state)):
            self._record_maps(call)  # the main pass reuses the vanilla pass's down and mid blocks
        # the output stays stock SDPA: with every mechanism off a run reproduces vanilla bit for bit
        return sdpa(call)

    def _record_maps(self, call: AttnCall) -> None:
        """Hold this layer's conditional queries and keys for a product batched over layers (`_flush_maps`)."""
        if self.maps and self.map_grid() != call.grid and call.grid in self.maps:
            return  # only the maps of `map_grid` are ever read; the others were needed only to find it
        self.maps.setdefault(call.grid, MapAccumulator(self.config.mask_window))
        layout = self.state.layout
        q, k = layout.cond(call.query), layout.cond(call.key)  # (n, H, T, d), (n, H, L, d)
        mask = None if call.attention_mask is None else layout.cond(call.attention_mask)
        key = (call.grid, call.attn.scale, tuple(q.shape), tuple(k.shape), None if mask is None else tuple(mask.shape))
        waiting = self._pending.setdefault(key, [])
        waiting.append((q, k, mask))
        if len(waiting) * q.shape[:-1].numel() * k.shape[-2] >= MAP_BATCH_SCORES:
            self._flush_maps(key)

    def _flush_maps(self, key=None) -> None:
        """The maps of the held layers (those of `key`, or all): one product, softmax and sum for each group.
        Logits in the model's precision (as the attention itself computes them), softmax in float32."""
        for group in [key] if key is not None else list(self._pending):
            waiting = self._pending.pop(group)
            grid, scale = group[:2]
            scores = torch.stack([q for q, _, _ in waiting]) @ torch.stack([k for _, k, _ in waiting]).transpose(-1, -2)
            scores.mul_(scale)  # (layers, n, H, T, L)
            if waiting[0][2] is not None:
                scores.add_(torch.stack([m for _, _, m in waiting]))
            probs = scores.softmax(-1, dtype=torch.float32).sum(0)  # (n, H, T, L), summed over the layers
            self.maps[grid].add(token_maps(probs, self._selector(probs), grid), layers=len(waiting))

    def _selector(self, scores: torch.Tensor) -> torch.Tensor:
        """The subjects' token selector for these (n, H, T, L) scores, built once per length and device."""
        key = (scores.shape[-1], scores.device)
        if key not in self._selectors:
            selector = token_selector(self.positions, scores.shape[0], scores.shape[-1])
            self._selectors[key] = to_device(selector, scores.device)
        return self._selectors[key]

    def self_attention(self, call: AttnCall) -> torch.Tensor:
        layer, state = call.layer, self.state
        if not self._sdsa_layer(call):
            return sdpa(call)
        if state.mode == "vanilla":
            self.vanilla_queries[layer.name] = call.query
            return sdpa(call)
        if not self._sdsa_now():
            return sdpa(call)
        query = call.query
        if self._mix_now() and layer.name in self.vanilla_queries:
            w = ramp(state.step, state.num_steps, (0.0, self.config.query_mix_until),
                     self.config.query_mix_start, self.config.query_mix_end)
            query = w * self.vanilla_queries[layer.name] + (1 - w) * query
        if self.cache is not None and self.cache.mode == "use":
            shared = self.cache.kv.get((self.stage, layer.name, state.step))
            if shared is None:
                return sdpa(AttnCall(layer, call.attn, query, call.key, call.value, call.grid, call.hidden_states))
            sk, sv = (x.to(query.device) for x in shared)
            return attend_shared(call, sk, sv, None, state, query)
        share = self.share_mask(call.grid)
        if self.cache is not None and self.cache.mode == "record":
            self.cache.store_kv(self.stage, layer.name, state.step, call.key, call.value, share, state.layout)
        self._sdsa_grids.add(call.grid)
        allowed = self.allowed(call.grid, query)
        if isinstance(allowed, Packed):  # gathers the anchors' tokens from the keys themselves
            return attend_shared(call, None, None, allowed, state, query)
        sk, sv = anchor_keys(call.key, state.layout, self.anchors), anchor_keys(call.value, state.layout, self.anchors)
        return attend_shared(call, sk, sv, allowed, state, query)

    def after_attention(self, call: AttnCall, output: torch.Tensor) -> torch.Tensor:
        inj, state = self.injection, self.state
        if inj is None or call.layer.is_cross or state.mode == "vanilla" or call.grid != inj.grid:
            return output
        if not call.layer.within(self.config.injection_parts):
            return output
        if not in_window(state.step, state.num_steps, self.config.injection_steps):
            return output
        layout = state.layout
        split = layout.split(output).clone()  # (chunks, n, T, C)
        cond = split[-1]
        if self.cache is not None and self.cache.mode == "use":
            sources = self.cache.out[(call.layer.name, state.step)].to(output.device)
        else:
            sources = cond.clone()  # sources are the outputs before any injection
            if self.cache is not None and self.cache.mode == "record":
                self.cache.out[(call.layer.name, state.step)] = self.cache.keep(sources)
        match = inj.match
        picked = sources[match.source, match.position]  # (n, T, C): every patch's source, used or not
        cond.copy_(torch.where(match.use.unsqueeze(-1), inj.alpha * picked + (1 - inj.alpha) * cond, cond))
        return layout.merge(split)

    def final_maps(self) -> torch.Tensor | None:
        return self.average
