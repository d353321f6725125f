from pathlib import Path

import numpy as np
import pytest
import torch

from engines.io.images import bgr_to_tensor, read_bgr
from engines.model.vgg import VGG16, VGG19, Decoder, Encoder
from engines.zoo import files as W
from engines.zoo import hed_vgg16 as HED16
from engines.zoo.hed_detector import HED
from engines.zoo.registry import resolve

DATA = Path(__file__).parent / "data"


def hed_edges(sd, flip_channels=False):
    x = bgr_to_tensor(read_bgr(DATA / "hed_input.png"))
    with torch.no_grad():
        return HED().load_converted(sd)(x.flip(1) if flip_channels else x)[0, 0].numpy()


def test_conversion_reproduces_keras_hed_edge_map():
    """The converted weights give the original Keras model's edge map (computed with TensorFlow, stored)."""
    ref = np.load(DATA / "hed_reference.npz")["edges"]
    edges = hed_edges(HED16.hed_state_dict())
    assert np.abs(edges - ref).max() < 1e-3
    assert edges.mean() > 0.05 and edges.max() > 0.5  # a real edge map, not a blank one


@pytest.mark.parametrize("mistake", ["rgb_order", "kernel_hw_swapped"])
def test_wrong_mappings_are_detected(mistake):
    ref = np.load(DATA / "hed_reference.npz")["edges"]
    sd = HED16.hed_state_dict()
    if mistake == "rgb_order":
        edges = hed_edges(sd, flip_channels=True)
    else:
        edges = hed_edges({k: v.transpose(2, 3) if v.dim() == 4 else v for k, v in sd.items()})
    assert np.abs(edges - ref).max() > 0.1


def test_encoder_taps_and_shapes(vgg16_encoder):
    x = torch.rand(1, 3, 64, 48)
    feats = vgg16_encoder.features(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512]
    assert [f.shape[-1] for f in feats] == [48, 24, 12, 6]
    torch.testing.assert_close(feats[-1], vgg16_encoder(x))


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "hed.h5"
    bad.write_bytes(b"not the weights")
    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(HED16, "hed_weights_path", lambda: bad)
    with pytest.raises(W.WeightsError, match="SHA-256"):
        HED16.hed_state_dict()


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path))
    cached = tmp_path / f"vgg16_hed_{HED16.HED_SHA256[:16]}.safetensors"
    cached.write_bytes(b"garbage")
    sd = HED16.hed_state_dict()
    assert sd["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert cached.stat().st_size > 1_000_000


def original_layout_files(tmp_path):
    """Random weights saved with the original AdaIN release's key names (the VGG file runs past relu4_1)."""
    torch.manual_seed(0)
    vgg = Encoder(VGG19).net.state_dict()
    # the real vgg_normalised.pth continues to relu5_4 (keys up to 50.*): extra keys must be ignored
    vgg["50.weight"], vgg["50.bias"] = torch.zeros(512, 512, 3, 3), torch.zeros(512)
    dec = Decoder(VGG19).net.state_dict()
    torch.save(vgg, tmp_path / "vgg_normalised.pth")
    torch.save(dec, tmp_path / "decoder.pth")
    return tmp_path / "vgg_normalised.pth", tmp_path / "decoder.pth", vgg, dec


def test_original_adain_files_load(tmp_path):
    vgg_path, dec_path, vgg, dec = original_layout_files(tmp_path)
    assert "0.weight" in vgg and "2.weight" in vgg and "1.weight" in dec and "28.weight" in dec
    model = resolve("original-adain", vgg_path, dec_path)
    enc = model.encoder
    torch.testing.assert_close(enc.net[2].weight, vgg["2.weight"])
    torch.testing.assert_close(model.decoder.net[28].weight, dec["28.weight"])
    assert enc.taps == (4, 11, 18, 31)  # relu1_1 ... relu4_1 of the original net.py slices


@pytest.mark.parametrize("case", ["swapped", "text", "missing", "pickle_code", "vgg16_decoder"])
def test_wrong_weights_files_give_clear_errors(tmp_path, case):
    vgg_path, dec_path, _, _ = original_layout_files(tmp_path)
    if case == "swapped":
        args, match = (dec_path, vgg_path), "not a VGG19"
    elif case == "text":
        txt = tmp_path / "notes.pth"
        txt.write_text("hello")
        args, match = (vgg_path, txt), "not a readable weights file"
    elif case == "missing":
        args, match = (vgg_path, tmp_path / "nope.pth"), "not found"
    elif case == "pickle_code":
        evil = tmp_path / "evil.pth"
        torch.save({"x": object()}, evil)  # needs arbitrary unpickling: refused by weights_only
        args, match = (vgg_path, evil), "not a readable weights file"
    else:
        W.save_net(Decoder(VGG16), tmp_path / "d16.safetensors")
        args, match = (vgg_path, tmp_path / "d16.safetensors"), "not a vgg19 decoder"
    with pytest.raises(W.WeightsError, match=match) as err:
        resolve("original-adain", *args)
    assert "\n" not in str(err.value)


def test_unknown_model_name():
    with pytest.raises(W.WeightsError, match="unknown model 'starry-night'; choose one of full, lite"):
        resolve("starry-night")


def test_decoder_fp16_roundtrip(tmp_path):
    torch.manual_seed(1)
    dec = Decoder(VGG16)
    W.save_net(dec, tmp_path / "d.safetensors", {"iterations": "3"})
    loaded = W.load_decoder(VGG16, tmp_path / "d.safetensors")
    for a, b in zip(dec.parameters(), loaded.parameters()):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
