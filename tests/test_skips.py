"""The skip decoder of issue #37's experiment: it starts as the decoder it grows from, trains, and is judged."""
import subprocess
import sys

import torch

from engines.model.network import AdaINModel
from engines.model.skips import SkipAdaINModel, SkipDecoder
from engines.model.vgg import LITE, VGG16, VGG19, Decoder, Encoder
from engines.training.trainer import TrainConfig, Trainer, export_decoder
from engines.zoo.files import load_decoder, save_net

from conftest import ROOT


def test_level_widths_are_the_encoders_taps():
    for layout in (VGG16, VGG19, LITE):
        assert layout.levels == Encoder(layout).channels
    assert VGG19.levels == (64, 128, 256, 512) and LITE.levels == (16, 32, 64, 128)
    # the widths the encoder's taps actually produce
    feats = Encoder(LITE).features(torch.rand(1, 3, 16, 16))
    assert tuple(f.shape[1] for f in feats) == LITE.levels


def test_a_skip_decoder_grown_from_a_decoder_starts_as_that_decoder():
    torch.manual_seed(0)
    plain = Decoder(LITE).eval()
    skip = SkipDecoder(LITE).eval()
    skip.load_single(plain)
    levels = [torch.rand(1, c, 32 // 2 ** i, 32 // 2 ** i) for i, c in enumerate(LITE.levels)]
    torch.testing.assert_close(skip(levels), plain(levels[-1]))
    # ... and once a skip's weights move, its level shows in the picture
    with torch.no_grad():
        skip.net["skips"][2].weight.normal_()
    assert not torch.allclose(skip(levels), plain(levels[-1]))


def test_the_skip_model_takes_the_styles_of_every_level_and_mixes_them():
    torch.manual_seed(0)
    enc = Encoder(LITE).eval()
    model = SkipAdaINModel(enc, SkipDecoder(LITE).eval())
    with torch.no_grad():  # skips at work (a random decoder's relu4_1 path alone paints a flat picture)
        for conv in model.decoder.net["skips"]:
            conv.weight.normal_()
    a, b = model.encode_style(torch.rand(1, 3, 40, 48)), model.encode_style(torch.rand(1, 3, 24, 32))
    assert a.mean.shape == a.std.shape == (sum(enc.channels),)  # 16 + 32 + 64 + 128 for lite
    content = torch.rand(1, 3, 36, 44)  # not a multiple of 8: padded and cropped back
    out = model.stylize(content, [a])
    assert out.shape == content.shape
    # AdaIN is affine in the statistics at every level: a 50/50 mix of a with itself is a
    torch.testing.assert_close(model.stylize(content, [a, a], [0.5, 0.5]), out)
    assert not torch.allclose(model.stylize(content, [b]), out)


def working_skip_model(seed=0):
    torch.manual_seed(seed)
    model = SkipAdaINModel(Encoder(LITE).eval(), SkipDecoder(LITE).eval())
    with torch.no_grad():
        for conv in model.decoder.net["skips"]:
            conv.weight.normal_(0, 0.3)
    return model


def test_the_skip_model_paints_regions_and_places_styles_by_masks():
    """The paper's spatial control at every level: one style in a region keeps the photo outside it, and two
    styles by masks give each style where its mask is whole."""
    model = working_skip_model()
    a, b = model.encode_style(torch.rand(1, 3, 40, 48)), model.encode_style(torch.rand(1, 3, 24, 32))
    content = torch.rand(1, 3, 32, 48)
    mask = torch.zeros(1, 32, 48)
    mask[:, :, 24:] = 1
    out = model.stylize(content, [a], masks=mask)
    torch.testing.assert_close(out[..., :24], content[..., :24])  # the photo itself where the mask is black
    assert (out[..., 32:] - content[..., 32:]).abs().mean() > 0.01
    whole = model.stylize(content, [a])
    torch.testing.assert_close(model.stylize(content, [a, b], masks=torch.stack([torch.ones(32, 48),
                                                                                  torch.zeros(32, 48)])), whole)
    two = model.stylize(content, [a, b], masks=torch.cat([1 - mask, mask]))
    assert two.shape == content.shape and not torch.allclose(two, whole)


def test_the_frame_graph_runs_the_skip_model_as_the_model_does():
    """What every app runs (engines/model/frame_graph.py) decodes the four levels as AdaINModel.stylize does,
    whole frames and regions alike; tests/test_backends.py holds every backend to this eager engine."""
    import numpy as np

    from engines import backends as B
    from engines.io.images import bgr_to_tensor, tensor_to_bgr

    from conftest import make_photo

    model = working_skip_model()
    frame = make_photo(40, 56, seed=4)
    s = model.encode_style(bgr_to_tensor(make_photo(40, 48, seed=11)))
    st = B.make_stylizer(model, "eager", 40, 56, precision="fp32")
    assert st.spec.channels == model.style_width == sum(LITE.levels)
    want = tensor_to_bgr(model.stylize(bgr_to_tensor(frame), [s], alpha=0.7))
    assert np.abs(st(frame, s, 0.7).astype(int) - want).max() <= 2
    region = np.zeros((40, 56), np.uint8)
    region[:, 28:] = 255
    mask = torch.from_numpy(region.astype(np.float32) / 255)[None]
    want = tensor_to_bgr(model.stylize(bgr_to_tensor(frame), [s], masks=mask))
    assert np.abs(st(frame, s, 1.0, 0.0, region).astype(int) - want).max() <= 2


def config(folders, **kw):
    base = dict(content_dir=str(folders / "content"), style_dir=str(folders / "style"), out_dir=str(folders / "out"),
                batch=2, crop=32, load_size=48, device="cpu", save_every=2, scale_images=4, skips=True)
    return TrainConfig(**(base | kw))


def test_skip_training_starts_from_a_decoder_file_trains_the_skips_and_exports_them(folders, vgg16_encoder,
                                                                                     tmp_path):
    torch.manual_seed(0)
    plain = Decoder(VGG16)
    save_net(plain, tmp_path / "plain.safetensors")
    tr = Trainer(config(folders, lr=1e-3), encoder=vgg16_encoder)
    tr.init_decoder(tmp_path / "plain.safetensors")
    assert isinstance(tr.decoder, SkipDecoder)
    assert all(float(conv.weight.detach().abs().max()) == 0 for conv in tr.decoder.net["skips"])
    first = tr.step()
    assert first["identity"] == 0.0 and first["style"] > 0  # the paper's losses, on the skip decoder's picture
    assert all(float(conv.weight.detach().abs().max()) > 0 for conv in tr.decoder.net["skips"])  # gradients reach them
    warm = Trainer(config(folders, warmup=1), encoder=vgg16_encoder)  # reconstruction first works with skips too
    assert warm.step()["identity"] > 0
    export_decoder(tr, tmp_path / "skip.safetensors")
    loaded = load_decoder(VGG16, tmp_path / "skip.safetensors")
    assert isinstance(loaded, SkipDecoder)
    for p, q in zip(loaded.parameters(), tr.decoder.parameters()):
        torch.testing.assert_close(p, q.detach().half().float())


def test_quality_judges_a_skip_decoder_file_like_any_other(tmp_path):
    from engines.evaluation.quality import load_candidate

    dec = SkipDecoder(VGG16)
    dec.load_single(load_decoder(VGG16, ROOT / "engines" / "weights" / "decoder_vgg16.safetensors"))
    save_net(dec, tmp_path / "skip.safetensors")
    model = load_candidate("hed", "vgg16-hed", str(tmp_path / "skip.safetensors"))
    assert isinstance(model, SkipAdaINModel)
    # grown from the shipped hed decoder with its skips at zero, it paints what the shipped hed model paints
    shipped = AdaINModel(model.encoder, load_decoder(VGG16, ROOT / "engines" / "weights" / "decoder_vgg16.safetensors"))
    content, style = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 64, 64)
    s_skip, s_plain = model.encode_style(style), shipped.encode_style(style)
    torch.testing.assert_close(s_skip.mean[-512:], s_plain.mean)
    torch.testing.assert_close(model.stylize(content, [s_skip], alpha=0.7), shipped.stylize(content, [s_plain], alpha=0.7),
                               atol=1e-4, rtol=1e-4)


def test_train_cli_takes_skips(folders, tmp_path):
    export = tmp_path / "d.safetensors"
    cmd = [sys.executable, str(ROOT / "tools" / "train.py"), "--content", str(folders / "content"), "--style",
           str(folders / "style"), "--out", str(tmp_path / "o"), "--batch", "2", "--crop", "32", "--load-size", "48",
           "--device", "cpu", "--iters", "1", "--encoder", "vgg16-hed", "--skips", "--export", str(export),
           "--init", str(ROOT / "engines" / "weights" / "decoder_vgg16.safetensors")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert isinstance(load_decoder(VGG16, export), SkipDecoder)


def test_the_apps_take_a_skip_decoder_file_end_to_end(tmp_path, clip):
    """--decoder with a skip file (grown from the single-level hed decoder), as a user runs it: the image tool paints with the skips (the same picture as the
    shipped decoder while they are at zero), and the live app runs it headless on a compiled backend."""
    import cv2
    import numpy as np

    from conftest import psnr, webcam
    from media import decode_frames

    shipped = load_decoder(VGG16, ROOT / "engines" / "weights" / "decoder_vgg16.safetensors")
    zero, moved = SkipDecoder(VGG16), SkipDecoder(VGG16)
    zero.load_single(shipped)
    moved.load_single(shipped)
    torch.manual_seed(0)
    with torch.no_grad():
        for conv in moved.net["skips"]:
            conv.weight.normal_(0, 0.001)  # HED's VGG16 features run to ~100
    save_net(zero, tmp_path / "zero.safetensors")
    save_net(moved, tmp_path / "moved.safetensors")
    data = ROOT / "tests" / "data"
    pictures = {}
    for name in ("shipped", "zero", "moved"):
        out = tmp_path / f"{name}.png"
        extra = [] if name == "shipped" else ["--decoder", str(tmp_path / f"{name}.safetensors")]
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "stylize.py"), "--content", str(data / "windmill.jpg"),
                            "--style", str(data / "painting.jpg"), "--output", str(out), "--size", "96",
                            "--style-size", "128", "--model", "hed", *extra], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr
        pictures[name] = cv2.imread(str(out))
    assert np.abs(pictures["zero"].astype(int) - pictures["shipped"]).max() <= 2
    assert 15 < psnr(pictures["moved"], pictures["shipped"]) < 45  # the skips paint, on top of the same picture
    rec = tmp_path / "rec.mp4"
    r = webcam("--style", str(data / "painting.jpg"), "--source", str(clip), "--size", "48", "--no-display",
               "--max-frames", "6", "--model", "hed", "--decoder", str(tmp_path / "moved.safetensors"),
               "--backend", "onnx", "--record", str(rec))
    assert r.returncode == 0, r.stderr
    frames = decode_frames(rec)
    assert len(frames) >= 5 and frames[0].std() > 3


def test_a_skip_file_without_skips_is_one_line(folders, tmp_path):
    save_net(SkipDecoder(VGG16), tmp_path / "skip.safetensors")
    cmd = [sys.executable, str(ROOT / "tools" / "train.py"), "--content", str(folders / "content"), "--style",
           str(folders / "style"), "--out", str(tmp_path / "o"), "--batch", "2", "--crop", "32", "--load-size", "48",
           "--device", "cpu", "--iters", "1", "--encoder", "vgg16-hed", "--init", str(tmp_path / "skip.safetensors")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--skips" in r.stderr, r.stderr


def test_the_shipped_full_model_is_a_skip_model():
    from engines.model.skips import SkipAdaINModel
    from engines.zoo.registry import resolve

    model = resolve("full")
    assert isinstance(model, SkipAdaINModel) and model.style_width == sum(VGG19.levels)
    assert any(float(conv.weight.abs().max()) > 0 for conv in model.decoder.net["skips"])  # trained, not grown
