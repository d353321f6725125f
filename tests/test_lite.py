"""The CPU models: lite's cost and distillation, auto's choice by CPU class, and the shipped weights of both."""
import argparse
import subprocess
import sys

import cv2
import pytest
import torch

from engines.model.network import AdaINModel
from engines.model.vgg import LITE, VGG16, Decoder, Encoder
from engines.training.distillation import EncoderDistiller, StudentDecoderTrainer
from engines.training.trainer import TrainConfig

from conftest import ROOT

DATA = ROOT / "tests" / "data"
CONTENT, STYLE = str(DATA / "windmill.jpg"), str(DATA / "painting.jpg")


def config(folders, **kw):
    base = dict(content_dir=str(folders / "content"), style_dir=str(folders / "style"), out_dir=str(folders / "out"),
                batch=2, crop=32, load_size=48, device="cpu", save_every=2, scale_images=4, layout="lite", lr=2e-3)
    return TrainConfig(**(base | kw))


def test_lite_needs_at_least_5x_fewer_flops():
    from engines.evaluation.benchmark import conv_gflop

    full = conv_gflop(AdaINModel(Encoder(VGG16), Decoder(VGG16)), 256, 256)
    lite = conv_gflop(AdaINModel(Encoder(LITE), Decoder(LITE)), 256, 256)
    assert full / lite >= 5, (full, lite)
    assert Encoder(LITE).channels[-1] == 128


def fixed_step(tr, content, style):
    parts = tr.losses(content, style)
    tr.opt.zero_grad()
    parts["loss"].backward()
    tr.opt.step()


def test_encoder_distillation_lowers_the_feature_loss_and_resumes_exactly(folders, vgg16_encoder, tmp_path):
    tr = EncoderDistiller(config(folders), encoder=vgg16_encoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    before = tr.losses(content, style)
    assert set(before) == {"loss", "relu1_1", "relu2_1", "relu3_1", "relu4_1"}
    for _ in range(5):
        fixed_step(tr, content, style)
    assert float(tr.losses(content, style)["loss"].detach()) < float(before["loss"].detach())
    # resume: a fresh distiller loaded from the checkpoint takes the same next step
    tr.step()
    tr.save(tmp_path / "ckpt.pt")
    next_a = tr.step()
    other = EncoderDistiller(config(folders, seed=9), encoder=vgg16_encoder)
    other.load(tmp_path / "ckpt.pt")
    assert other.step()["loss"] == pytest.approx(next_a["loss"], rel=1e-5)


def test_lite_decoder_learns_from_the_teachers_losses(folders, vgg16_encoder):
    torch.manual_seed(0)
    student = Encoder(LITE).eval()
    tr = StudentDecoderTrainer(config(folders, lr=1e-3, identity_weight=10.0), student, encoder=vgg16_encoder)
    assert isinstance(tr.decoder, Decoder) and tr.decoder.layout is LITE
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    dec_in, own = tr.decoder_inputs(content, style, None, None)
    assert dec_in.shape[1] == own.shape[1] == 128  # the decoder decodes the student's features
    before = float(tr.losses(content, style)["loss"].detach())
    for _ in range(5):
        fixed_step(tr, content, style)
    assert float(tr.losses(content, style)["loss"].detach()) < before
    # --warmup: the first iterations train reconstruction alone, then the teacher's losses join
    tr = StudentDecoderTrainer(config(folders, identity_weight=10.0, warmup=2), student, encoder=vgg16_encoder)
    first, second, third = tr.step(), tr.step(), tr.step()
    assert first["content"] == first["style"] == second["style"] == 0.0 and first["identity"] > 0
    assert third["content"] > 0 and third["style"] > 0


def test_a_student_decoder_learns_to_reproduce_its_teachers_pictures(folders, vgg16_encoder, tmp_path):
    from engines.model.adain import adain, mean_std
    from engines.zoo.files import save_net

    torch.manual_seed(0)
    teacher = Decoder(VGG16)
    save_net(teacher, tmp_path / "teacher.safetensors")
    student = Encoder(LITE).eval()
    # the mimic term alone, so the test shows what it trains
    tr = StudentDecoderTrainer(config(folders, lr=1e-3, content_weight=0.0, style_weight=0.0, mimic_weight=1.0,
                                      mimic=str(tmp_path / "teacher.safetensors")), student, encoder=vgg16_encoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    first = tr.losses(content, style)
    with torch.no_grad():  # the target: the teacher's decoder on its loss network's AdaIN target
        want = tr.teacher(adain(vgg16_encoder(content), *mean_std(vgg16_encoder(style))))
        got = tr.decoder(tr.decoder_inputs(content, style, None, None)[0])
    first = {k: float(v.detach()) for k, v in first.items()}
    assert first["mimic"] == pytest.approx(float((got - want).abs().mean()), rel=1e-4)
    assert first["loss"] == pytest.approx(first["mimic"], rel=1e-6)
    for _ in range(5):
        fixed_step(tr, content, style)
    assert float(tr.losses(content, style)["mimic"].detach()) < first["mimic"]
    assert tr.step().keys() >= {"mimic", "identity"}  # logged beside the other terms
    plain = StudentDecoderTrainer(config(folders), student, encoder=vgg16_encoder)
    assert plain.teacher is None and plain.step()["mimic"] == 0.0  # off by default


def test_a_skip_teacher_is_mimicked_on_every_levels_targets(folders, vgg16_encoder, tmp_path):
    """A skip decoder as --mimic (engines/model/skips.py): its picture decodes the loss network's AdaIN targets of
    relu1_1..relu4_1, each with its own level's style statistics."""
    from engines.model.adain import adain, mean_std
    from engines.model.skips import SkipDecoder
    from engines.zoo.files import save_net

    torch.manual_seed(0)
    teacher = SkipDecoder(VGG16)
    with torch.no_grad():
        for conv in teacher.net["skips"]:
            conv.weight.normal_(0, 0.1)
    save_net(teacher, tmp_path / "teacher.safetensors")
    tr = StudentDecoderTrainer(config(folders, content_weight=0.0, style_weight=0.0, mimic_weight=1.0,
                                      mimic=str(tmp_path / "teacher.safetensors")), Encoder(LITE).eval(),
                               encoder=vgg16_encoder)
    assert isinstance(tr.teacher, SkipDecoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    first = float(tr.losses(content, style)["mimic"].detach())
    with torch.no_grad():
        levels = [adain(f, *mean_std(s)) for f, s in zip(vgg16_encoder.features(content),
                                                          vgg16_encoder.features(style))]
        want, single = tr.teacher(levels), tr.teacher.net["main"](levels[-1])
        got = tr.decoder(tr.decoder_inputs(content, style, None, None)[0])
    assert first == pytest.approx(float((got - want).abs().mean()), rel=1e-4)
    assert first != pytest.approx(float((got - single).abs().mean()), rel=1e-3)  # the skips count


def test_a_student_grows_a_skip_decoder_and_the_apps_load_it(folders, vgg16_encoder, tmp_path):
    """distill.py decoder --skips: the student's own four levels, AdaIN'd each with the style's statistics of its
    level, into a skip decoder grown from the student's single-level one; its file makes the skip model."""
    from engines.model.skips import SkipAdaINModel, SkipDecoder
    from engines.training.trainer import export_decoder
    from engines.zoo.files import save_net
    from engines.zoo.registry import resolve

    torch.manual_seed(0)
    save_net(Decoder(LITE), tmp_path / "plain.safetensors")
    tr = StudentDecoderTrainer(config(folders, skips=True, lr=1e-3), Encoder(LITE).eval(), encoder=vgg16_encoder)
    tr.init_decoder(tmp_path / "plain.safetensors")
    assert isinstance(tr.decoder, SkipDecoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    levels, own = tr.decoder_inputs(content, style, None, None)
    assert [f.shape[1] for f in levels] == [f.shape[1] for f in own] == list(LITE.levels)
    assert tr.step()["style"] > 0
    assert any(float(conv.weight.detach().abs().max()) > 0 for conv in tr.decoder.net["skips"])
    export_decoder(tr, tmp_path / "skip.safetensors")
    model = resolve("lite", decoder=tmp_path / "skip.safetensors")
    assert isinstance(model, SkipAdaINModel) and model.style_width == sum(LITE.levels)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "distill.py"), "encoder", "--skips", "--content",
                        str(folders / "content"), "--style", str(folders / "style"), "--out", str(tmp_path / "e")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--skips belongs to the decoder stage" in r.stderr


def test_mimic_takes_a_decoder_of_the_teacher_and_belongs_to_the_decoder_stage(folders, tmp_path):
    tool = [sys.executable, str(ROOT / "tools" / "distill.py")]
    common = ["--content", str(folders / "content"), "--style", str(folders / "style"), "--batch", "2",
              "--crop", "32", "--load-size", "48", "--device", "cpu", "--iters", "1"]
    lite_file = str(ROOT / "engines" / "weights" / "lite_decoder.safetensors")  # not a VGG19 decoder
    for stage, why in (("encoder", "--mimic belongs to the decoder stage"), ("decoder", "vgg19 decoder")):
        r = subprocess.run(tool + [stage, "--out", str(tmp_path / stage), "--mimic", lite_file] + common,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and "Traceback" not in r.stderr and why in r.stderr, r.stderr
        assert stage == "encoder" or r.stderr.strip().count("\n") == 0, r.stderr  # a bad file: one line

def test_distill_cli_runs_both_stages_and_exports_loadable_weights(folders):
    from engines.zoo.files import load_decoder, load_encoder

    common = ["--content", str(folders / "content"), "--style", str(folders / "style"), "--batch", "2",
              "--crop", "32", "--load-size", "48", "--save-every", "2", "--device", "cpu", "--iters", "2"]
    tool = [sys.executable, str(ROOT / "tools" / "distill.py")]
    enc_file, dec_file = folders / "enc.safetensors", folders / "dec.safetensors"
    r = subprocess.run(tool + ["encoder", "--out", str(folders / "e"), "--export", str(enc_file)] + common,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(tool + ["decoder", "--out", str(folders / "d"), "--encoder", str(enc_file),
                               "--export", str(dec_file)] + common, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    model = AdaINModel(load_encoder(LITE, enc_file), load_decoder(LITE, dec_file))
    assert model(torch.rand(1, 3, 40, 48), torch.zeros(128), torch.ones(128)).shape == (1, 3, 40, 48)
    assert (folders / "d" / "loss.csv").read_text().splitlines()[0].startswith("iter,loss,content,style,identity")
    # a missing encoder file is one line and exit 2
    r = subprocess.run(tool + ["decoder", "--out", str(folders / "x"), "--encoder", str(folders / "nope.safetensors")]
                       + common, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not found" in r.stderr


def test_distill_init_starts_either_stage_from_given_lite_weights(folders, tmp_path):
    from safetensors.torch import load_file

    tool = [sys.executable, str(ROOT / "tools" / "distill.py")]
    common = ["--content", str(folders / "content"), "--style", str(folders / "style"), "--batch", "2",
              "--crop", "32", "--load-size", "48", "--device", "cpu", "--iters", "1", "--lr", "0"]
    for stage in ("decoder", "encoder"):  # the encoder stage starts its student from a lite encoder file
        shipped = ROOT / "engines" / "weights" / f"lite_{stage}.safetensors"
        export = tmp_path / f"{stage}.safetensors"
        r = subprocess.run(tool + [stage, "--out", str(tmp_path / stage), "--export", str(export), "--init",
                                   str(shipped)] + common, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got, want = load_file(str(export)), load_file(str(shipped))
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)  # lr 0: unchanged


def test_auto_picks_lite_or_micro_by_cpu_class_and_full_on_cuda(monkeypatch):
    from engines.backends import machine
    from engines.options import model_choice
    from engines.zoo.files import WeightsError

    ns = lambda **kw: argparse.Namespace(**({"model": "auto", "model_weights": "default", "vgg": None,  # noqa: E731
                                             "decoder": None} | kw))
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)  # most laptops: AVX2, no native bf16
    assert model_choice(ns(), "cpu") == ("micro", "no CUDA GPU, CPU without native bf16: micro model")
    assert model_choice(ns(model="lite"), "cpu")[0] == "lite"
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)
    assert model_choice(ns(), "cpu") == ("lite", "no CUDA GPU, CPU with native bf16: lite model")
    assert model_choice(ns(offline_model=True), "cpu") == ("full", "offline work: quality first")  # files kept
    assert model_choice(ns(offline_model=True, model="lite"), "cpu")[0] == "lite"
    assert model_choice(ns(), "cuda")[0] == "full"
    assert model_choice(ns(decoder="d.safetensors"), "cpu")[0] == "full"  # a full decoder file was given
    assert model_choice(ns(model="full"), "cpu")[0] == "full"
    assert model_choice(ns(model="lite"), "cuda")[0] == "lite"
    assert model_choice(ns(model_weights="original-adain"), "cpu")[0] == "original-adain"
    with pytest.raises(WeightsError):
        model_choice(ns(model="lite", model_weights="original-adain"), "cpu")


@pytest.mark.parametrize("name, most_style_ratio", [("lite", 0.5), ("micro", 0.6)])
def test_shipped_cpu_model_end_to_end(tmp_path, name, most_style_ratio):
    """`tools/stylize.py --model lite|micro` with the shipped weights: style taken on, the windmill kept."""
    from engines.evaluation.quality import measure, structure
    from engines.io.images import resize_short
    from engines.zoo.registry import encoder_by_name, spec

    out = tmp_path / "out.png"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "stylize.py"), "--content", CONTENT, "--style", STYLE,
                        "--output", str(out), "--size", "256", "--model", name], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    img = cv2.imread(str(out))
    small = resize_short(cv2.imread(CONTENT), 256)
    assert img.shape == small.shape
    q = measure(encoder_by_name(spec(name).judge), small, resize_short(cv2.imread(STYLE), 512), img)  # its teacher
    assert q.style_ratio < most_style_ratio
    style_as_output = cv2.resize(cv2.imread(STYLE), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert q.structure > structure(small, style_as_output) + 0.05


def test_style_bank_keeps_full_and_lite_statistics_side_by_side(tmp_path, monkeypatch, shipped_model, shipped_lite):
    from realtime.live.style_bank import StyleBank

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path))
    full, lite = StyleBank(shipped_model, [STYLE], style_size=64), StyleBank(shipped_lite, [STYLE], style_size=64)
    assert (full.encoded, lite.encoded) == (1, 1)
    assert full.current.stats.mean.shape == (960,) and lite.current.stats.mean.shape == (128,)  # full: skip model's 4 levels
    files = sorted(p.name for p in (tmp_path / "styles").iterdir())
    assert len(files) == 2 and files[0].startswith("lite-") and files[1].startswith("vgg19-")
    assert StyleBank(shipped_lite, [STYLE], style_size=64).encoded == 0  # from the cache


def test_video_and_webcam_take_model_lite(tmp_path):
    from media import decode_frames, make_video

    src = make_video(tmp_path / "in.mp4", frames=6, width=96, height=64)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "video.py"), str(src), "-o", str(tmp_path / "o.mp4"),
                        "--style", STYLE, "--model", "lite"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "model lite (requested)" in r.stderr
    assert len(decode_frames(tmp_path / "o.mp4")) == 6
    r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", STYLE, "--source", str(src), "--size", "64",
                        "--no-display", "--max-frames", "3", "--model", "lite", "--model-weights", "original-adain"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ["error: the original AdaIN files are a full model; "
                                                                    "drop --model lite"]

