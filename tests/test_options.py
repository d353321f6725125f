"""The shared argparse types: a nonsensical number is a usage error (exit 2) before any work."""
import argparse

import pytest
import torch

from engines.options import MIN_SIDE, count, device, image_side, non_negative, pixels, positive


@pytest.mark.parametrize("text,value", [("1", 1), ("12", 12)])
def test_count_takes_whole_numbers_from_one(text, value):
    assert count(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "many", ""])
def test_count_refuses_the_rest(text):
    with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
        count(text)


@pytest.mark.parametrize("text,value", [("0.5", 0.5), ("30", 30.0), ("1e-3", 1e-3)])
def test_positive_takes_numbers_above_zero(text, value):
    assert positive(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "fast"])
def test_positive_refuses_the_rest(text):
    with pytest.raises(argparse.ArgumentTypeError, match="above 0"):
        positive(text)


@pytest.mark.parametrize("text,value", [("0", 0), (str(MIN_SIDE), MIN_SIDE), ("512", 512)])
def test_image_side_is_zero_to_keep_or_a_usable_size(text, value):
    assert image_side(text) == value


@pytest.mark.parametrize("text", ["-5", "3", str(MIN_SIDE - 1), "256.0", "big"])
def test_image_side_refuses_sizes_the_encoder_cannot_use(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"at least {MIN_SIDE}"):
        image_side(text)


@pytest.mark.parametrize("text", ["0", "8", "-16", "x"])
def test_pixels_has_no_keep_the_size_zero(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"at least {MIN_SIDE}"):
        pixels(text)


@pytest.mark.parametrize("text,value", [("0", 0), ("3", 3)])
def test_whole_takes_zero_too(text, value):
    assert non_negative(text) == value


@pytest.mark.parametrize("text", ["-1", "1.5", "none"])
def test_whole_refuses_the_rest(text):
    with pytest.raises(argparse.ArgumentTypeError, match="0 or more"):
        non_negative(text)


@pytest.mark.parametrize("text", ["auto", "cpu"])
def test_device_takes_auto_and_cpu(text):
    assert device(text) == text


@pytest.mark.parametrize("text", ["gpu", "cuda0", "cuda:x", "CPU", ""])
def test_device_refuses_unknown_names(text):
    with pytest.raises(argparse.ArgumentTypeError, match="auto, cpu, cuda or cuda:N"):
        device(text)


def test_device_refuses_cuda_where_torch_has_none():
    if torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="CUDA GPU"):
            device(f"cuda:{torch.cuda.device_count()}")  # one past the last
        assert device("cuda") == "cuda"
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="no CUDA GPU is usable here"):
            device("cuda")


@pytest.mark.parametrize("tool,args", [
    ("tools.stylize", ["--content", "c.jpg", "--style", "s.jpg", "-o", "o.png", "--size", "-5"]),
    ("tools.video", ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--scale", "0"]),
    ("tools.video", ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--batch", "0"]),
    ("realtime.webcam", ["--style", "s.jpg", "--max-frames", "0"]),
    ("realtime.webcam", ["--style", "s.jpg", "--cycle", "-1"]),
    ("realtime.webcam", ["--style", "s.jpg", "--style-size", "3"]),
    ("tools.train", ["--content", "c", "--style", "s", "--out", "o", "--batch", "0"]),
    ("tools.train", ["--content", "c", "--style", "s", "--out", "o", "--crop", "8"]),
    ("tools.distill", ["decoder", "--content", "c", "--style", "s", "--out", "o", "--save-every", "0"]),
    ("tools.export_onnx", ["-o", "x.onnx", "--batch", "0"]),
    ("tools.bench", ["--seconds", "0"]),
    ("tools.video", ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--start", "-1"]),
    ("tools.video", ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--end", "nan"]),
    ("tools.video", ["in.mp4", "-o", "o.mp4", "--style", "s.jpg", "--crf", "-5"]),
    ("tools.export_onnx", ["-o", "x.onnx", "--size", "720"]),
    ("tools.bench", ["--sizes", "256,abc"]),
    ("tools.quality", ["--content-dir", "c", "--style-dir", "s", "--model", "full,big"]),
    ("tools.bench", ["--backends", "eager,fast"]),
    ("tools.bench", ["--precisions", "fp8"]),
    ("tools.bench", ["--e2e-frames", "-3"]),
    ("tools.bench", ["--device", "gpu"]),
    ("tools.train", ["--content", "c", "--style", "s", "--out", "o", "--warmup", "-1"]),
    ("tools.train", ["--content", "c", "--style", "s", "--out", "o", "--device", "nope"]),
    ("realtime.webcam", ["--style", "s.jpg", "--device", "cuda:x"]),
])
def test_commands_refuse_nonsense_numbers_as_usage_errors(tool, args, capsys):
    import importlib

    with pytest.raises(SystemExit) as e:
        importlib.import_module(tool).main(args)
    assert e.value.code == 2 and "error: argument" in capsys.readouterr().err


def test_bench_refuses_what_cannot_run_here_and_a_missing_folder_before_any_work(tmp_path, capsys):
    from tools.bench import main

    assert main(["--backends", "tensorrt", "--device", "cpu", "--sizes", "32"]) == 2
    assert "not available on cpu" in capsys.readouterr().err
    assert main(["--backends", "onnx", "--precisions", "bf16", "--device", "cpu"]) == 2
    assert "runs on the eager and inductor backends" in capsys.readouterr().err
    table = tmp_path / "missing" / "b.md"
    assert main(["--sizes", "32", "--append", str(table)]) == 2
    assert "does not exist" in capsys.readouterr().err and not table.parent.exists()
    assert torch.is_grad_enabled()  # the tool's no_grad ends with the call: later code in the process trains
