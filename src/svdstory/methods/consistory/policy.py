"""ConsiStory's attention policy, composed of its parts: subject maps from cross-attention, the sharing
pattern (subject-driven self-attention, SDSA), vanilla-query mixing and feature injection."""
from __future__ import annotations

import dataclasses
from enum import Enum
from functools import partial

import torch

from ...attention.call import AttnCall, sdpa
from ...attention.extended import AllTokens, anchor_keys, attend_shared
from ...attention.policy import PlainPolicy
from ...attention.spatial import check_parts_match
from ...state import Pass
from ...steps import in_window
from .injection import FeatureInjection
from .maps import SubjectMaps
from .pattern import SharePattern
from .query_mixing import QueryMixing


class Stage(Enum):
    """ConsiStory's two runs of a story; the anchor cache keeps their shared tokens apart."""

    PREPASS = "prepass"  # SDSA while the DIFT features are captured
    MAIN = "main"  # the main pass: SDSA, query mixing and feature injection, which gives the images


class SubjectPolicy(PlainPolicy):
    """One stage of ConsiStory over one batch. With a `recorder` it records what extras need; with a
    `replay` it shares the recorded anchors' tokens instead of this batch's."""

    def __init__(self, config, positions, seeds, anchors, stage=Stage.MAIN, injection=None, recorder=None,
                 replay=None):
        self.config = config
        self.anchors = anchors  # image indices (in this batch) whose subject tokens are shared
        self.stage = stage
        self.recorder, self.replay = recorder, replay
        self.maps = SubjectMaps(positions, config.mask_window, config.mask_factor)
        self.pattern = SharePattern(seeds, anchors, config.mask_dropout)
        self.mixing = QueryMixing(config.query_mix_until, config.query_mix_start, config.query_mix_end)
        self.injection = None if injection is None else FeatureInjection(
            injection, config.injection_parts, config.injection_steps, recorder, replay)

    def check_layers(self, layers) -> None:
        if self.config.sdsa:
            check_parts_match(self.config.sdsa_parts, layers, "sdsa_parts")

    # ---- which layers, steps and passes -----------------------------------------------------------
    def _sdsa_now(self, state) -> bool:
        return self.maps.average is not None and in_window(state.step, state.num_steps, self.config.sdsa_steps)

    def _mix_now(self, state) -> bool:
        return self.config.query_mix and self._sdsa_now(state) and self.mixing.active(state.step, state.num_steps)

    def passes(self, state) -> tuple[Pass, ...]:
        return (Pass.VANILLA, Pass.SAMPLE) if self._mix_now(state) else (Pass.SAMPLE,)

    def encoder_alike(self, state) -> bool:
        """The vanilla pass and the sampling pass differ in the down and mid blocks only through SDSA or
        feature injection there (cross-attention maps are recorded by the vanilla pass instead)."""
        up = lambda parts: all(part.split(".")[0] == "up" for part in parts)
        injecting = self.injection is not None and self.injection.active(state.step, state.num_steps)
        config = self.config
        return (not config.sdsa or up(config.sdsa_parts)) and (not injecting or up(config.injection_parts))

    # ---- steps -------------------------------------------------------------------------------------
    def begin_step(self, state) -> None:
        if self._sdsa_now(state) and self.replay is None:
            self.pattern.prefetch(self.maps.masks, state.step, state.layout.n_images)

    def end_step(self, state) -> None:
        self.maps.end_step(state.latent_hw)
        self.pattern.end_step()

    def snapshot(self) -> dict:
        """What later steps read from earlier ones: the maps and the grids that share. Vanilla queries are
        left out: a step that mixes records them in its own vanilla pass before they are read."""
        return {"maps": self.maps.snapshot(), "pattern": self.pattern.snapshot()}

    def restore(self, snapshot: dict) -> None:
        """Continue from `snapshot()` of another run (the main pass taking over from the pre-pass)."""
        self.maps.restore(snapshot["maps"])
        self.pattern.restore(snapshot["pattern"])

    def final_maps(self) -> torch.Tensor | None:
        return self.maps.average

    # ---- attention ----------------------------------------------------------------------------------
    def cross_attention(self, call: AttnCall, state) -> torch.Tensor:
        if state.network_pass is not Pass.VANILLA or (call.layer.stage != "up" and self.encoder_alike(state)):
            self.maps.record(call, state.layout, state.latent_hw)  # the sampling pass reuses the vanilla one's encoder
        # the output stays stock SDPA: with every mechanism off a run reproduces vanilla bit for bit
        return sdpa(call)

    def joint_attention(self, call: AttnCall, state) -> torch.Tensor:
        """A DiT's joint layer plays both parts: its image-query x text-key block gives the subject maps (a softmax
        over the text tokens, as a UNet's cross-attention), and SDSA shares the anchors' subject image tokens."""
        if state.network_pass is Pass.SAMPLE:
            text_block = dataclasses.replace(call, query=call.query[:, :, call.image], key=call.key[:, :, call.text],
                                             value=call.value[:, :, call.text], text_len=0)
            self.maps.record(text_block, state.layout, state.latent_hw)
        return self.self_attention(call, state)

    def self_attention(self, call: AttnCall, state) -> torch.Tensor:
        if not (self.config.sdsa and call.layer.within(self.config.sdsa_parts)):
            return sdpa(call)
        if state.network_pass is Pass.VANILLA:
            self.mixing.record(call.layer.name, call.query[:, :, call.image])
            return sdpa(call)
        if not self._sdsa_now(state):
            return sdpa(call)
        query = call.query
        if self._mix_now(state):  # the image tokens' queries (a joint layer's text queries stay its own)
            mixed = self.mixing.mix(call.layer.name, query[:, :, call.image], state.step, state.num_steps)
            query = mixed if not call.text_len else query.index_copy(2, _positions(call.image, query), mixed)
        if self.replay is not None:
            return self._replayed(call, query, state)
        share = self.pattern.share_mask(self.maps.masks, call.grid, state.step)
        if self.recorder is not None:
            self.recorder.record_masked_kv((self.stage, call.layer.name, state.step), call.image_key,
                                           call.image_value, share, state.layout)
        tokens = self.pattern.tokens(self.maps.masks, call.grid, query, state, packs_own=not call.text_len)
        if not tokens.reads_shared:  # gathers the anchors' tokens from the keys themselves
            return attend_shared(call, tokens, None, None, state, query)
        keys = partial(anchor_keys, layout=state.layout, anchors=self.anchors)
        return attend_shared(call, tokens, keys(call.image_key), keys(call.image_value), state, query)

    def _replayed(self, call: AttnCall, query, state) -> torch.Tensor:
        """SDSA over the anchors' recorded tokens (plain attention where they shared none at this layer)."""
        shared = self.replay.kv((self.stage, call.layer.name, state.step), query.device)
        if shared is None:
            return sdpa(dataclasses.replace(call, query=query, attention_mask=None))
        return attend_shared(call, AllTokens(), *shared, state, query)

    def after_attention(self, call: AttnCall, output: torch.Tensor, state) -> torch.Tensor:
        if self.injection is None or not self.injection.applies(call, state):
            return output
        return self.injection(call, output, state)


def _positions(tokens: slice, x: torch.Tensor) -> torch.Tensor:
    """The indices a slice of x's token axis (dim 2) covers."""
    return torch.arange(x.shape[2], device=x.device)[tokens]
