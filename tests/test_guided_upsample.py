"""engines/model/guided_upsample.py: a low-resolution result brought to full size along a guide's edges."""
import torch
import torch.nn.functional as F

from engines.model.guided_upsample import box, grey, guided_upsample


def edge_picture(h: int = 64, w: int = 96) -> torch.Tensor:
    """A grey picture with a sharp vertical edge and a gentle ramp: (1, 1, H, W) in [0, 1]."""
    x = torch.linspace(0, 1, w).expand(h, w).clone()
    x[:, w // 3 + 1:] += 0.5  # at an odd column: a half-size pixel straddles it
    return (x / x.max())[None, None]


def test_box_is_a_window_mean_that_keeps_constants_to_the_border():
    x = torch.full((1, 2, 9, 7), 0.25)
    assert torch.allclose(box(x, 2), x)
    ramp = torch.arange(9.0).reshape(1, 1, 1, 9)
    assert torch.allclose(box(ramp, 1)[..., 4], torch.tensor([4.0]))


def test_a_result_that_follows_the_guide_comes_back_with_the_guides_own_edge():
    guide = edge_picture()
    guide_low = F.interpolate(guide, scale_factor=0.5, mode="area")
    low = 0.2 + 0.6 * guide_low  # a result that is a linear function of the guide, at half size
    up = guided_upsample(low, guide_low, guide)
    plain = F.interpolate(low, size=guide.shape[-2:], mode="bilinear", align_corners=False)
    want = 0.2 + 0.6 * guide
    assert (up - want).abs().max() < 0.02  # the edge is where the guide has it, as sharp
    assert (plain - want).abs().max() > 0.05  # a plain resize smears the 0.2 step over two pixels


def test_flat_regions_keep_the_low_resolution_result_and_channels_stay_apart():
    guide = torch.full((1, 1, 32, 48), 0.5)
    low = torch.stack([torch.full((16, 24), v) for v in (0.1, 0.5, 0.9)])[None]
    up = guided_upsample(low, F.interpolate(guide, scale_factor=0.5, mode="area"), guide)
    assert up.shape == (1, 3, 32, 48)
    assert torch.allclose(up.mean((2, 3))[0], torch.tensor([0.1, 0.5, 0.9]), atol=1e-5)


def test_grey_is_luminance():
    rgb = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
    assert torch.allclose(grey(rgb), torch.tensor(0.299))
