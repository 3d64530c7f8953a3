"""Feature injection against its formula, patch by patch: a matched subject patch of an image's conditional
output becomes alpha * its source's output + (1 - alpha) * its own; everything else is left alone."""
import torch

from svdstory.anchors import AnchorRecorder, AnchorReplay
from svdstory.attention.call import AttnCall
from svdstory.backbones.unet import unet_site
from svdstory.methods.consistory.correspondence import Correspondence
from svdstory.methods.consistory.injection import FeatureInjection, Injection
from svdstory.state import BatchLayout, Pass, RunState

N, T, C, GRID = 3, 16, 6, (4, 4)
LAYER = unet_site("up_blocks.0.attentions.0.transformer_blocks.0.attn1.processor", levels=1)


def planted(seed=0):
    g = torch.Generator().manual_seed(seed)
    output = torch.randn(2 * N, T, C, generator=g)  # (uncond x n, cond x n) projected outputs
    match = Correspondence(source=torch.randint(0, N, (N, T), generator=g),
                           position=torch.randint(0, T, (N, T), generator=g),
                           distance=torch.rand(N, T, generator=g), use=torch.rand(N, T, generator=g) > 0.4)
    return output, match


def by_hand(output, sources, match, alpha):
    """The formula, one patch at a time."""
    want = output.clone()
    for i in range(N):
        for t in range(T):
            if match.use[i, t]:
                src = sources[match.source[i, t], match.position[i, t]]
                want[N + i, t] = alpha * src + (1 - alpha) * output[N + i, t]
    return want


def inject(injection, output, step=1, network_pass=Pass.SAMPLE):
    state = RunState(BatchLayout(N, True), 4, GRID, step=step, network_pass=network_pass)
    call = AttnCall(LAYER, None, None, None, None, GRID, None)
    return injection(call, output, state) if injection.applies(call, state) else output


def test_injected_output_is_alpha_source_plus_one_minus_alpha_own():
    output, match = planted()
    injection = FeatureInjection(Injection(GRID, match, 0.8), ("up",), (0.0, 1.0))
    got = inject(injection, output)
    torch.testing.assert_close(got, by_hand(output, output[N:], match, 0.8), rtol=0, atol=1e-6)
    assert torch.equal(got[:N], output[:N])  # the unconditional half is left alone
    assert not torch.equal(got, output)


def test_extras_take_the_recorded_anchors_outputs_as_sources():
    anchors_output, _ = planted(seed=1)
    recorder = AnchorRecorder()
    _, match = planted()
    inject(FeatureInjection(Injection(GRID, match, 0.5), ("up",), (0.0, 1.0), recorder=recorder), anchors_output)
    output, _ = planted(seed=2)
    replayed = FeatureInjection(Injection(GRID, match, 0.5), ("up",), (0.0, 1.0), replay=AnchorReplay(recorder.cache))
    torch.testing.assert_close(inject(replayed, output), by_hand(output, anchors_output[N:], match, 0.5),
                               rtol=0, atol=1e-6)


def test_no_injection_outside_its_steps_parts_grid_or_sampling_pass():
    output, match = planted()
    assert torch.equal(inject(FeatureInjection(Injection(GRID, match, 0.8), ("up",), (0.5, 1.0)), output), output)
    assert torch.equal(inject(FeatureInjection(Injection(GRID, match, 0.8), ("down",), (0.0, 1.0)), output), output)
    assert torch.equal(inject(FeatureInjection(Injection((2, 8), match, 0.8), ("up",), (0.0, 1.0)), output), output)
    vanilla = inject(FeatureInjection(Injection(GRID, match, 0.8), ("up",), (0.0, 1.0)), output,
                     network_pass=Pass.VANILLA)
    assert torch.equal(vanilla, output)
