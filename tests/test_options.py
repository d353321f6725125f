"""The shared argparse types: a nonsensical number is a usage error (exit 2) before any work."""
import argparse

import pytest

from engines.options import MIN_SIDE, count, image_side, pixels, positive


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
])
def test_commands_refuse_nonsense_numbers_as_usage_errors(tool, args, capsys):
    import importlib

    with pytest.raises(SystemExit) as e:
        importlib.import_module(tool).main(args)
    assert e.value.code == 2 and "error: argument" in capsys.readouterr().err
