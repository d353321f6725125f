"""The micro laptop model: its cost, its separable layers and its distillation from lite (its shipped weights run
end to end in test_lite.py, beside lite's)."""
import subprocess
import sys

import pytest
import torch
from torch import nn

from engines.evaluation.benchmark import conv_gflop
from engines.model.network import AdaINModel
from engines.model.vgg import LITE, MICRO, Decoder, Encoder

from conftest import ROOT

TOOL = [sys.executable, str(ROOT / "tools" / "distill.py")]


def test_micro_fits_3_gflop_at_640x480_and_keeps_lites_taps():
    micro = conv_gflop(AdaINModel(Encoder(MICRO), Decoder(MICRO)), 480, 640)
    lite = conv_gflop(AdaINModel(Encoder(LITE), Decoder(LITE)), 480, 640)
    assert micro <= 3.0 and lite / micro >= 5, (micro, lite)
    assert Encoder(MICRO).channels == Encoder(LITE).channels  # the same four style layers, 128 wide at relu4_1


def test_only_the_convs_that_touch_the_picture_are_whole():
    for net in (Encoder(MICRO).net, Decoder(MICRO).net):
        convs = [m for m in net if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        whole = [m for m in convs if m.groups == 1]
        assert whole and all(3 in (m.in_channels, m.out_channels) for m in whole)
        depthwise = [m for m in convs if m.groups > 1]
        assert depthwise and all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    x = torch.rand(1, 3, 40, 56)
    enc, dec = Encoder(MICRO).eval(), Decoder(MICRO).eval()
    feats = enc.features(x)
    assert [f.shape[1:] for f in feats] == [(16, 40, 56), (32, 20, 28), (64, 10, 14), (128, 5, 7)]
    assert dec(feats[-1]).shape == x.shape


def common_args(folders, iters="2"):
    return ["--content", str(folders / "content"), "--style", str(folders / "style"), "--batch", "2", "--crop", "32",
            "--load-size", "48", "--save-every", "2", "--device", "cpu", "--iters", iters, "--student", "micro"]


def test_distill_micro_from_lite_then_its_decoder_from_the_loss_network(folders):
    from engines.zoo.files import load_decoder, load_encoder

    enc_file, dec_file = folders / "enc.safetensors", folders / "dec.safetensors"
    r = subprocess.run(TOOL + ["encoder", "--teacher", "lite", "--out", str(folders / "e"), "--export", str(enc_file)]
                       + common_args(folders, "4"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    losses = [float(line.split(",")[1]) for line in (folders / "e" / "loss.csv").read_text().splitlines()[1:]]
    assert len(losses) == 4
    r = subprocess.run(TOOL + ["decoder", "--teacher", "vgg19", "--out", str(folders / "d"), "--encoder", str(enc_file),
                               "--export", str(dec_file)] + common_args(folders), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    model = AdaINModel(load_encoder(MICRO, enc_file), load_decoder(MICRO, dec_file))
    assert model(torch.rand(1, 3, 40, 48), torch.zeros(128), torch.ones(128)).shape == (1, 3, 40, 48)
    # a lite file is not a micro one: one line, exit 2
    r = subprocess.run(TOOL + ["decoder", "--out", str(folders / "x"), "--encoder",
                               str(ROOT / "engines" / "weights" / "lite_encoder.safetensors")] + common_args(folders),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a micro encoder file" in r.stderr, r.stderr


@pytest.mark.parametrize("teacher, stage, says", [("lite", "decoder", "loss network"),
                                                  ("micro", "encoder", "must differ")])
def test_distill_refuses_a_teacher_that_cannot_teach_that_stage(folders, teacher, stage, says):
    r = subprocess.run(TOOL + [stage, "--teacher", teacher, "--out", str(folders / "x")] + common_args(folders),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr

