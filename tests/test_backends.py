from dataclasses import replace

import numpy as np
import pytest
import torch

from engines import backends as B
from engines.backends import machine
from engines.backends.base import frame_graph
from engines.model.network import AdaINModel, StyleStats
from engines.model.vgg import VGG16, Decoder, Encoder

from conftest import make_photo, psnr

CUDA = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path))


def scaled_for_parity(encoder, decoder, last, first_scale=1.0):
    """Random weights scaled so activations neither vanish nor saturate (a fair parity test); `last` is the
    decoder's output conv, brought near mid-grey, and `first_scale` scales the convs that take the picture."""
    with torch.no_grad():
        for m in list(encoder.modules()) + list(decoder.modules()):
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(first_scale if m.in_channels == 3 else 1.0)
                m.bias.zero_()
        last.weight.mul_(0.01)
        last.bias.fill_(0.5)
    return encoder.eval(), decoder.eval()


@pytest.fixture(scope="module")
def random_model_scaled():
    torch.manual_seed(0)
    dec = Decoder(VGG16)
    return AdaINModel(*scaled_for_parity(Encoder(VGG16), dec, dec.net[-1], first_scale=0.5)).eval()


@pytest.fixture(scope="module")
def random_skip_model():
    """The skip model (engines/model/skips.py) of random lite-width weights, its skips at work: the frame graph
    decodes four AdaIN'd levels, each with its own piece of the statistics."""
    from engines.model.skips import SkipAdaINModel, SkipDecoder
    from engines.model.vgg import LITE

    torch.manual_seed(1)
    dec = SkipDecoder(LITE)
    return SkipAdaINModel(*scaled_for_parity(Encoder(LITE), dec, dec.net["main"][-1])).eval()


def styles(model, h=40, w=48):
    from engines.io.images import bgr_to_tensor

    return [model.encode_style(bgr_to_tensor(make_photo(h, w, seed=s))) for s in (11, 12)]


@pytest.mark.parametrize("which", ["random", "skip", "shipped", "shipped-lite", "shipped-micro"])
def test_every_backend_matches_eager(which, random_model_scaled, random_skip_model, shipped_model, shipped_lite,
                                     shipped_micro):
    model = {"random": random_model_scaled, "skip": random_skip_model, "shipped": shipped_model,
             "shipped-lite": shipped_lite, "shipped-micro": shipped_micro}[which]
    frame = make_photo(48, 64, seed=3)
    s = styles(model)[0]
    region = np.zeros((48, 64), np.uint8)
    region[:, 20:] = 255
    region[:, 20:30] = np.linspace(0, 255, 10).astype(np.uint8)  # a soft edge, as person masks have
    eager = B.make_stylizer(model, "eager", 48, 64, precision="fp32")
    ref, ref_region = eager(frame, s, 0.8, 0.0), eager(frame, s, 0.8, 0.0, region)
    assert ref.std() > 3  # a real picture, not a flat one
    # inductor compiles for 10-20 s a graph: fp32 on the random skip model (exact parity, the four-level graph) and
    # the micro one (what runs on CPUs without native bf16), bf16 on the lite model (what `auto` runs on CPUs with
    # it), not every combination
    compiled = {"skip": "fp32", "shipped-lite": "bf16", "shipped-micro": "fp32"}.get(which)
    for name in B.available_backends("cpu"):
        if name == "inductor" and compiled != "fp32":
            continue
        st = B.make_stylizer(model, name, 48, 64, precision="fp32")
        out, out_region = st(frame, s, 0.8, 0.0), st(frame, s, 0.8, 0.0, region)
        assert out.shape == frame.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - ref).max() <= 2, name
        assert np.abs(out_region.astype(int) - ref_region).max() <= 2, name
    if machine.cpu_has_bf16():
        for name in B.BF16_BACKENDS:
            if name == "inductor" and (compiled != "bf16" or name not in B.available_backends("cpu")):
                continue
            out = B.make_stylizer(model, name, 48, 64, precision="bf16")(frame, s, 0.8, 0.0)
            assert psnr(out, ref) >= 35, name


@pytest.mark.parametrize("which", ["lite", "micro"])
def test_every_backend_runs_a_half_size_network_guided_back_like_eager(which, shipped_lite, shipped_micro):
    """--model-scale: the network at half the sides inside the frame graph, the result upsampled along the frame's
    own edges: every backend as eager does it, and sharper than a plain resize of the same half-size result."""
    from engines.io.sizes import inner_size
    from engines.model.frame_graph import FrameGraph
    from engines.evaluation.quality import structure

    model = {"lite": shipped_lite, "micro": shipped_micro}[which]
    frame = make_photo(48, 64, seed=3)
    s = styles(model)[0]
    inner = inner_size(48, 64, 0.5)
    assert inner == (24, 32)
    ref = B.make_stylizer(model, "eager", 48, 64, precision="fp32", inner=inner)(frame, s)
    assert ref.shape == frame.shape and ref.std() > 3
    for name in B.available_backends("cpu"):
        out = B.make_stylizer(model, name, 48, 64, precision="fp32", inner=inner)(frame, s)
        assert np.abs(out.astype(int) - ref).max() <= 2, name
    args = (torch.from_numpy(frame)[None], s.mean, s.std, torch.ones(1), torch.zeros(1),
            torch.full((1, 48, 64), 255, dtype=torch.uint8))
    with torch.no_grad():
        plain = FrameGraph(model, 48, 64, inner, guided=False)(*args)[0].numpy()
    assert structure(frame, ref) > structure(frame, plain)  # the photo's edges, not a blurred half-size picture


def test_region_paints_only_the_region_with_its_own_statistics(shipped_model):
    """The paper's spatial control with one style: inside the region the style, with the content statistics
    of the region alone (not the whole frame's); outside it the photo itself. The engine and the model agree."""
    from engines.io.images import bgr_to_tensor, tensor_to_bgr

    frame = make_photo(48, 64, seed=5)
    frame[:, :24] = (frame[:, :24] * 0.3).astype(np.uint8)  # the unpainted part unlike the painted one
    s = styles(shipped_model)[0]
    region = np.zeros((48, 64), np.uint8)
    region[:, 32:] = 255
    st = B.make_stylizer(shipped_model, "eager", 48, 64, precision="fp32")
    out, whole = st(frame, s, 1.0, 0.0, region), st(frame, s)
    assert np.array_equal(out[:, :32], frame[:, :32])  # the photo, exactly
    assert np.abs(out[:, 40:].astype(int) - frame[:, 40:]).mean() > 10  # painted
    # the region's own statistics: not the whole-frame transfer cut out
    assert np.abs(out[:, 40:].astype(int) - whole[:, 40:]).mean() > 2
    mask = torch.from_numpy(region.astype(np.float32) / 255)[None]
    model_out = tensor_to_bgr(shipped_model.stylize(bgr_to_tensor(frame), [s], masks=mask))
    assert np.abs(out.astype(int) - model_out).max() <= 2
    # an empty region keeps the whole photo (no division by an empty area)
    assert np.array_equal(st(frame, s, 1.0, 0.0, np.zeros_like(region)), frame)
    with pytest.raises(ValueError, match="region"):
        st(frame, s, 1.0, 0.0, region[:10])


def test_graph_matches_the_model_and_inputs_switch_without_rebuild(shipped_model):
    from engines.io.images import bgr_to_tensor, tensor_to_bgr

    frame = make_photo(40, 56, seed=4)
    a, b = styles(shipped_model)
    st = B.make_stylizer(shipped_model, "torchscript", 40, 56, precision="fp32")
    cache = st.cache_file.stat().st_mtime_ns
    out_a, out_b = st(frame, a), st(frame, b)
    expected = tensor_to_bgr(shipped_model.stylize(bgr_to_tensor(frame), [b]))
    assert np.abs(out_b.astype(int) - expected).max() <= 2
    assert np.abs(out_a.astype(int) - out_b).mean() > 2  # the style input really switches the style
    half = st(frame, b, alpha=0.5)
    assert np.abs(half.astype(int) - out_b).mean() > 1
    kept = st(frame, b, color=1.0)
    from engines.model.color import luminance_transfer

    exp_kept = tensor_to_bgr(luminance_transfer(shipped_model.stylize(bgr_to_tensor(frame), [b]), bgr_to_tensor(frame)))
    assert np.abs(kept.astype(int) - exp_kept).max() <= 2
    assert st.cache_file.stat().st_mtime_ns == cache  # nothing was rebuilt


def test_batches(random_model_scaled):
    frames = np.stack([make_photo(32, 32, seed=i) for i in range(3)])
    s = styles(random_model_scaled)[0]
    batched = B.make_stylizer(random_model_scaled, "onnx", 32, 32, batch=3, precision="fp32")(frames, s)
    single = B.make_stylizer(random_model_scaled, "onnx", 32, 32, precision="fp32")
    for i in range(3):
        assert np.abs(batched[i].astype(int) - single(frames[i], s)).max() <= 2


def test_cache_keys_and_corrupt_cache_rebuilt(random_model_scaled):
    s = styles(random_model_scaled)[0]
    frame = make_photo(32, 40)
    first = B.make_stylizer(random_model_scaled, "onnx", 32, 40, precision="fp32")
    other_size = B.make_stylizer(random_model_scaled, "onnx", 40, 32, precision="fp32")
    assert first.cache_file != other_size.cache_file
    good = first(frame, s)
    first.cache_file.write_bytes(b"garbage")  # a corrupt cache file is rebuilt, not fatal
    again = B.make_stylizer(random_model_scaled, "onnx", 32, 40, precision="fp32")
    assert again.cache_file == first.cache_file
    np.testing.assert_array_equal(again(frame, s), good)
    ts = B.make_stylizer(random_model_scaled, "torchscript", 32, 40, precision="fp32")
    ts.cache_file.write_bytes(b"garbage")
    np.testing.assert_allclose(B.make_stylizer(random_model_scaled, "torchscript", 32, 40, precision="fp32")(frame, s),
                               good, atol=2)
    changed = AdaINModel(random_model_scaled.encoder, Decoder(VGG16)).eval()  # new weights: new key
    assert B.make_stylizer(changed, "onnx", 32, 40, precision="fp32").cache_file != first.cache_file


def test_engine_refuses_frames_of_another_size(random_model_scaled):
    st = B.make_stylizer(random_model_scaled, "eager", 32, 32, precision="fp32")
    with pytest.raises(ValueError, match="built for frames"):
        st(make_photo(32, 40), styles(random_model_scaled)[0])


def test_unavailable_backends_name_what_is_available():
    with pytest.raises(B.BackendError, match="available here: eager, .*torchscript"):
        B.choose_backend("tensorrt", "cpu")
    with pytest.raises(B.BackendError, match="unknown backend"):
        B.choose_backend("magic", "cpu")
    with pytest.raises(B.BackendError, match="CUDA"):
        B.choose_backend("eager", "cpu", "fp16")


def test_auto_choice_on_cpu_follows_the_measurements(monkeypatch):
    backend, precision, why = B.choose_backend("auto", "cpu", pixels=256 * 256)
    compiled = "inductor" in B.available_backends("cpu")
    if machine.cpu_has_bf16():
        assert (backend, precision) == (("inductor" if compiled else "eager"), "bf16")
    else:
        assert (backend, precision) == ("inductor" if compiled else "onnx", "fp32")
    assert why
    large = B.choose_backend("auto", "cpu", pixels=1280 * 720)[:2]
    assert large == (("inductor", "bf16" if machine.cpu_has_bf16() else "fp32") if compiled else ("onnx", "fp32"))
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)  # an AVX2 laptop
    if compiled:
        assert B.choose_backend("auto", "cpu", pixels=640 * 480)[:2] == ("inductor", "fp32")
    assert B.choose_backend("auto", "cpu", "fp32", pixels=640 * 480)[0] == ("inductor" if compiled else "onnx")
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(machine, "cpp_compiler", lambda: None)  # no compiler: inductor is not offered at all
    assert "inductor" not in B.available_backends("cpu")
    assert B.choose_backend("auto", "cpu", pixels=256 * 256)[:2] == ("eager", "bf16")
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: False)
    assert B.choose_backend("auto", "cpu", pixels=640 * 480)[:2] == ("onnx", "fp32")  # no compiler, no bf16
    with pytest.raises(B.BackendError, match="not available"):
        B.choose_backend("inductor", "cpu")


@pytest.mark.skipif("inductor" not in B.available_backends("cpu"), reason="no C++ compiler for inductor here")
def test_a_compiler_that_fails_is_one_line_and_auto_runs_eager(random_model_scaled, monkeypatch):
    """A compiler that is there but cannot build (a broken toolchain) must not stop the live app: `auto`
    falls back to eager and says why; asked for by name, inductor's failure is one line."""
    import torch._inductor.config as ic

    monkeypatch.setattr(ic.cpp, "cxx", ("false",))  # /bin/false: found, fails every build
    monkeypatch.setattr(machine, "cpu_has_bf16", lambda: True)
    with pytest.raises(B.BackendError, match="inductor could not compile") as e:
        B.make_stylizer(random_model_scaled, "inductor", 32, 32, precision="fp32")
    assert "\n" not in str(e.value)
    s = B.make_stylizer(random_model_scaled, "auto", 32, 32)
    assert s.backend == "eager" and "eager instead" in s.why


def test_fp16_graph_runs_and_leaves_the_callers_model_fp32(shipped_lite):
    """The fp16 engines (the GPU default) failed at their first frame: the graph kept its dtype from before
    .half() and fed fp32 images to fp16 convolutions; and .half() also converted the caller's model, which
    then could not encode a style. The CPU runs fp16 convolutions too, so both are checked here."""
    frame = make_photo(64, 96, seed=5)
    s = styles(shipped_lite)[0]
    spec = B.EngineSpec("eager", 64, 96, 1, "cpu", "fp32", shipped_lite.encoder.channels[-1])
    run = [frame_graph(shipped_lite, replace(spec, precision=p)) for p in ("fp32", "fp16")]
    ins = (torch.from_numpy(frame[None]), s.mean, s.std, torch.ones(1), torch.zeros(1),
           torch.full((1, 64, 96), 255, dtype=torch.uint8))
    ref, half = (g(*ins).numpy()[0] for g in run)
    assert psnr(half, ref) >= 35
    assert all(p.dtype == torch.float32 for p in shipped_lite.parameters())
    shipped_lite.encode_style(torch.rand(1, 3, 32, 32))


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_fp16_cuda_matches_fp32(shipped_model):
    frame = make_photo(64, 96, seed=5)
    s = styles(shipped_model)[0]
    model = shipped_model.to("cuda")
    ref = B.make_stylizer(model, "eager", 64, 96, device="cuda", precision="fp32")(frame, s)
    for name in [b for b in B.available_backends("cuda") if b != "onnx"]:
        out = B.make_stylizer(model, name, 64, 96, device="cuda", precision="fp16")(frame, s)
        assert psnr(out, ref) >= 35, name
    shipped_model.to("cpu")


@pytest.mark.skipif(not (CUDA and "tensorrt" in B.available_backends("cuda")), reason="needs CUDA and torch-tensorrt")
def test_tensorrt_is_auto_on_gpu():
    assert B.choose_backend("auto", "cuda")[:2] == ("tensorrt", "fp16")


def test_stats_are_inputs_not_constants(random_model_scaled, tmp_path):
    """The exported ONNX graph takes the style as inputs: one file serves every style."""
    import onnx

    st = B.make_stylizer(random_model_scaled, "onnx", 32, 32, precision="fp32")
    names = [i.name for i in onnx.load(str(st.cache_file)).graph.input]
    assert names == ["frames", "style_mean", "style_std", "alpha", "color", "region"]
    assert StyleStats  # the type the stylizer consumes


def test_export_onnx_tool(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "g.onnx"
    r = subprocess.run([sys.executable, str(ROOT / "tools/export_onnx.py"), "--size", "32x48", "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "max difference to PyTorch" in r.stdout and out.stat().st_size > 1_000_000
    import onnxruntime as ort

    frames = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_inputs()[0]
    assert frames.shape == [1, 48, 32, 3]  # WIDTHxHEIGHT, as webcam's --size and bench's 480p (640x480) read


def test_a_frame_too_large_for_free_memory_is_refused_before_it_is_built(random_model_scaled, monkeypatch):
    free = machine.available_memory()
    assert free is None or free > 0
    monkeypatch.setattr(machine, "available_memory", lambda: 200 * 2**20)  # a machine with 200 MB free
    B.check_memory(random_model_scaled, "onnx", 64, 64)  # 10 MB: fine
    with pytest.raises(B.BackendError, match=r"a 2000x1000 frame needs about 4\.6 GB on the onnx backend and "
                                             r"0\.2 GB are free.*--backend eager"):
        B.make_stylizer(random_model_scaled, "onnx", 1000, 2000)
    with pytest.raises(B.BackendError, match="batch of 8"):
        B.check_memory(random_model_scaled, "eager", 256, 256, batch=8)  # 336 MB
    B.check_memory(random_model_scaled, "eager", 256, 256, batch=8, device="cuda")  # CUDA raises its own error
    monkeypatch.setattr(machine, "available_memory", lambda: None)  # unknown: let it try
    B.check_memory(random_model_scaled, "onnx", 4000, 4000)


def test_running_out_of_gpu_memory_while_building_is_one_line(random_model_scaled, monkeypatch):
    def no_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore lines")

    monkeypatch.setitem(B.REGISTRY, "eager", replace(B.REGISTRY["eager"], build=no_memory))
    with pytest.raises(B.BackendError, match=r"^out of GPU memory for 48x40 frames in batches of 2 on eager fp32"):
        B.make_stylizer(random_model_scaled, "eager", 40, 48, batch=2, precision="fp32")
