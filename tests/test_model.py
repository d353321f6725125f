import numpy as np
import pytest
import torch

from engines.io.images import bgr_to_tensor, resize_short, tensor_to_bgr
from engines.model.color import coral, luminance_transfer
from engines.model.network import StyleStats, mix_styles, pad_to_multiple, padded_size

from conftest import make_photo


@pytest.mark.parametrize("h,w", [(37, 53), (64, 64), (5, 9), (121, 80)])
def test_odd_sizes_round_trip(random_model, h, w):
    x = torch.rand(1, 3, h, w)
    stats = random_model.encode_style(torch.rand(1, 3, 40, 40))
    out = random_model.stylize(x, [stats])
    assert out.shape == x.shape


def test_pad_is_reflection_and_crop_restores():
    x = torch.arange(143.0).reshape(1, 1, 13, 11)
    p, (h, w) = pad_to_multiple(x)
    assert p.shape[-2:] == (16, 16) and (h, w) == (13, 11)
    torch.testing.assert_close(p[..., :h, :w], x)
    torch.testing.assert_close(p[..., 13, :11], x[..., 11, :])  # reflected, not zero
    tiny, _ = pad_to_multiple(torch.rand(1, 1, 3, 30))
    assert tiny.shape[-2:] == (16, 32)  # at least 16: relu4_1 keeps 2 pixels


def test_alpha_zero_decodes_the_content_features(random_model):
    x = torch.rand(1, 3, 32, 40)
    stats = random_model.encode_style(torch.rand(1, 3, 32, 32))
    with torch.no_grad():
        plain = random_model.decoder(random_model.encoder(x))
    torch.testing.assert_close(random_model.stylize(x, [stats], alpha=0.0), plain)


def test_one_style_with_a_mask_leaves_the_black_part_untouched(random_model):
    """With one style a mask used to change nothing (normalised per pixel, one region is everywhere). On uniform
    noise the white half's own statistics are the whole picture's, so it is painted as without a mask."""
    content = torch.rand(1, 3, 32, 48)
    style = random_model.encode_style(torch.rand(1, 3, 40, 40))
    left = torch.zeros(1, 32, 48)
    left[..., :24] = 1
    out = random_model.stylize(content, [style], masks=left)
    plain = random_model.stylize(content, [style])
    torch.testing.assert_close(out[..., :24], plain[..., :24], atol=1e-3, rtol=0)
    assert (out[..., :24] - content[..., :24]).abs().mean() > 0.01
    torch.testing.assert_close(out[..., 24:], content[..., 24:])


def test_alpha_outside_range_rejected(random_model):
    s = StyleStats(torch.zeros(512), torch.ones(512))
    with pytest.raises(ValueError, match="alpha"):
        random_model.stylize(torch.rand(1, 3, 16, 16), [s], alpha=1.5)


def test_frame_conversion_round_trip_keeps_bgr():
    img = make_photo(17, 23)
    t = bgr_to_tensor(img)
    assert t.shape == (1, 3, 17, 23)
    assert float(t[0, 0, 0, -1]) == pytest.approx(img[0, -1, 2] / 255)  # channel 0 is red
    np.testing.assert_array_equal(tensor_to_bgr(t), img)
    assert tensor_to_bgr(t * 3 - 1).max() == 255  # clipped, not wrapped


def test_coral_matches_content_colour_statistics():
    style = bgr_to_tensor(make_photo(40, 40, seed=1)) * torch.tensor([1.0, 0.3, 0.2]).view(1, 3, 1, 1)
    content = bgr_to_tensor(make_photo(40, 40, seed=2)) * 0.8 + 0.1
    out = coral(style, content)
    torch.testing.assert_close(out.mean((2, 3)), content.mean((2, 3)), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(out[0].flatten(1)), torch.cov(content[0].flatten(1)), atol=0.01, rtol=0)


def test_luminance_transfer_keeps_content_chroma_and_output_luma():
    a = bgr_to_tensor(make_photo(20, 20, seed=3)) * 0.2 + 0.4  # mid-range: no clipping after the swap
    b = bgr_to_tensor(make_photo(20, 20, seed=4)) * 0.2 + 0.4
    out = luminance_transfer(a, b)
    luma = lambda x: (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)  # noqa: E731
    torch.testing.assert_close(luma(out), luma(a), atol=1e-4, rtol=0)
    torch.testing.assert_close(out - luma(out)[:, None], b - luma(b)[:, None], atol=1e-4, rtol=0)


@pytest.mark.parametrize("shape,size,expected", [
    ((480, 640), 512, (512, 683)),      # enlarged: shorter side to 512
    ((1080, 1920), 512, (512, 910)),    # shrunk
    ((1, 1), 512, (512, 512)),
    ((2, 400), 512, (10, 2048)),        # a banner: enlarged only until the longer side is 4 x 512
    ((20, 3000), 512, (20, 3000)),      # a strip already past 4 x 512 is not enlarged at all
    ((1000, 30000), 512, (512, 15360)),  # shrinking is as before, whatever the shape
    ((48, 64), 0, (48, 64)),
])
def test_resize_short_never_blows_up_extreme_shapes(shape, size, expected):
    out = resize_short(np.zeros((*shape, 3), np.uint8), size)
    assert out.shape[:2] == expected


def test_inputs_from_the_cpu_follow_the_model_to_its_device(random_model):
    """Style files are read on the CPU while the model may sit on a GPU (video.py and the webcam's style bank
    passed CPU tensors to a CUDA model). PyTorch's meta device stands in for a GPU here."""
    model = random_model.to("meta")
    stats = model.encode_style(torch.rand(1, 3, 32, 32))
    assert stats.mean.device.type == "meta"
    cpu_stats = StyleStats(torch.zeros(512), torch.ones(512))
    out = model.stylize(torch.rand(1, 3, 16, 24), [cpu_stats, stats], masks=torch.ones(2, 16, 24))
    assert out.device.type == "meta" and out.shape == (1, 3, 16, 24)
    assert model.stylize(torch.rand(1, 3, 16, 24), [cpu_stats], masks=torch.ones(1, 16, 24)).device.type == "meta"


def test_mix_styles_is_the_weighted_mean_of_the_statistics_and_checks_its_weights():
    a = StyleStats(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]))
    b = StyleStats(torch.tensor([4.0, 2.0]), torch.tensor([3.0, 5.0]))
    assert mix_styles([a]) is a
    m = mix_styles([a, b], [0.75, 0.25])
    assert torch.allclose(m.mean, torch.tensor([1.0, 2.0])) and torch.allclose(m.std, torch.tensor([1.5, 2.0]))
    even = mix_styles([a, b])
    assert torch.allclose(even.mean, torch.tensor([2.0, 2.0])) and torch.allclose(even.std, torch.tensor([2.0, 3.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        mix_styles([a, b], [0.5, 0.6])


@pytest.mark.parametrize("h, w, expected", [(5, 7, (16, 16)), (17, 24, (24, 24)), (480, 640, (480, 640))])
def test_padded_size_is_what_pad_to_multiple_makes(h, w, expected):
    assert padded_size(h, w) == expected
    assert pad_to_multiple(torch.rand(1, 3, h, w))[0].shape[-2:] == expected
