import pytest
import torch

from engines.model.adain import (adain, blend_alpha, check_weights, interpolate_stats, masked_adain, mean_std,
                                 weighted_mean_std)


def feats(seed, n=1, c=8, h=12, w=10):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g) * 5 + torch.randn(n, c, 1, 1, generator=g)


def test_output_statistics_equal_style_statistics():
    x, y = feats(0), feats(1)
    sm, ss = mean_std(y)
    om, os_ = mean_std(adain(x, sm, ss))
    torch.testing.assert_close(om, sm, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(os_, ss, atol=1e-3, rtol=1e-3)


def test_statistics_in_fp32_for_fp16_input():
    # 1080p relu4_1 map with large values: sums of squares would overflow fp16
    x = (torch.rand(1, 4, 135, 240) * 300).half()
    m, s = mean_std(x)
    assert m.dtype == torch.float32 and torch.isfinite(s).all()
    out = adain(x, torch.full((4,), 2.0), torch.full((4,), 3.0))
    assert out.dtype == torch.float16
    om, os_ = mean_std(out)
    torch.testing.assert_close(om, torch.full((1, 4), 2.0), atol=2e-2, rtol=0)
    torch.testing.assert_close(os_, torch.full((1, 4), 3.0), atol=2e-2, rtol=0)


def test_alpha_zero_is_content_and_one_is_target():
    x, y = feats(0), feats(1)
    t = adain(x, *mean_std(y))
    torch.testing.assert_close(blend_alpha(x, t, 0.0), x)
    torch.testing.assert_close(blend_alpha(x, t, 1.0), t)
    torch.testing.assert_close(blend_alpha(x, t, 0.3), 0.7 * x + 0.3 * t)


def test_statistics_match_torch_on_a_channel_far_from_zero_and_under_bf16_autocast():
    """The sums are dot products of the centred map: a channel whose mean is ~40 of its stds keeps its std (the
    uncentred E[f^2] - E[f]^2 lost 6 % of it), and bf16 autocast, which would run the products in bf16, is
    kept out of them."""
    x = feats(0, n=2, c=5, h=120, w=160) * 2 + 100
    var, mu = torch.var_mean(x.double(), dim=(2, 3), unbiased=False)
    want = (mu.float(), (var + 1e-5).sqrt().float())
    torch.testing.assert_close(mean_std(x), want, atol=1e-4, rtol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = mean_std(x.bfloat16())
    var, mu = torch.var_mean(x.bfloat16().double(), dim=(2, 3), unbiased=False)
    torch.testing.assert_close(got, (mu.float(), (var + 1e-5).sqrt().float()), atol=1e-4, rtol=1e-5)


def test_weighted_statistics_are_those_of_the_covered_pixels():
    x = feats(3, n=2, c=4, h=10, w=12)
    w = torch.zeros(2, 1, 10, 12)
    w[0, :, :, :5], w[1, :, 4:] = 1, 1
    for i, (m, s) in enumerate(zip(*weighted_mean_std(x, w))):
        picked = x[i][:, w[i, 0] > 0]
        torch.testing.assert_close(m, picked.mean(1))
        torch.testing.assert_close(s, (picked.var(1, unbiased=False) + 1e-5).sqrt())
    torch.testing.assert_close(weighted_mean_std(x, torch.full_like(w, 0.3)), mean_std(x))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, "per picture"])
def test_alpha_folded_into_adain_is_the_blend_of_content_and_target(alpha):
    x, y = feats(0, n=2), feats(1)
    sm, ss = mean_std(y)
    if alpha == "per picture":
        a = torch.tensor([0.2, 0.9]).reshape(-1, 1, 1, 1)
        torch.testing.assert_close(adain(x, sm, ss, alpha=a), blend_alpha(x, adain(x, sm, ss), a))
    else:
        torch.testing.assert_close(adain(x, sm, ss, alpha=alpha), blend_alpha(x, adain(x, sm, ss), alpha))
    r = torch.zeros(2, 1, 12, 10)
    r[..., :6, :] = 1
    torch.testing.assert_close(adain(x, sm, ss, region=r, alpha=0.4), blend_alpha(x, adain(x, sm, ss, region=r), 0.4))


def test_interpolation_equals_weighted_sum_of_adain_outputs():
    x = feats(0)
    styles = [mean_std(feats(i)) for i in (1, 2, 3)]
    w = [0.5, 0.3, 0.2]
    means = torch.cat([m for m, _ in styles])
    stds = torch.cat([s for _, s in styles])
    m, s = interpolate_stats(means, stds, w)
    expected = sum(wi * adain(x, sm, ss) for wi, (sm, ss) in zip(w, styles))
    torch.testing.assert_close(adain(x, m, s), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("weights,count,msg", [
    ([0.5, 0.5], 3, "3 styles"),
    ([0.7, 0.7], 2, "sum to 1"),
    ([1.5, -0.5], 2, "non-negative"),
])
def test_interpolation_weights_validated(weights, count, msg):
    with pytest.raises(ValueError, match=msg):
        check_weights(weights, count)


def test_masked_adain_full_mask_is_plain_adain_and_regions_get_their_style():
    x = feats(0, c=4, h=16, w=16)
    a, b = mean_std(feats(1, c=4)), mean_std(feats(2, c=4))
    means, stds = torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])
    full = torch.stack([torch.ones(64, 64), torch.zeros(64, 64)])
    torch.testing.assert_close(masked_adain(x, means, stds, full), adain(x, *a), atol=1e-4, rtol=1e-4)
    left = torch.zeros(64, 64)
    left[:, :32] = 1
    out = masked_adain(x, means, stds, torch.stack([left, 1 - left]))
    # Each half carries its own style's statistics
    lm, ls = mean_std(out[..., :, 1:7])
    rm, rs = mean_std(out[..., :, 9:15])
    assert torch.allclose(lm, a[0], atol=0.6) and torch.allclose(rm, b[0], atol=0.6)
    assert (lm - a[0]).abs().mean() < (lm - b[0]).abs().mean()


def test_masked_adain_count_mismatch():
    x = feats(0, c=4)
    m = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="masks"):
        masked_adain(x, m, m + 1, torch.ones(2, 8, 8))
