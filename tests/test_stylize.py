import subprocess
import sys

import cv2
import numpy as np
import pytest

from engines.io.contact_sheet import LABEL_HEIGHT
from tools import stylize

from conftest import ROOT, make_photo

DATA = ROOT / "tests" / "data"
CONTENT, STYLE = str(DATA / "windmill.jpg"), str(DATA / "painting.jpg")


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "tools" / "stylize.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_end_to_end_with_shipped_full_weights(tmp_path):
    out = tmp_path / "out.png"
    r = run_cli("--content", CONTENT, "--style", STYLE, "--output", str(out), "--size", "128", "--model", "full")
    assert r.returncode == 0, r.stderr
    img, content = cv2.imread(str(out)), cv2.imread(CONTENT)
    assert min(img.shape[:2]) == 128
    assert img.shape[0] / img.shape[1] == pytest.approx(content.shape[0] / content.shape[1], abs=0.02)
    from engines.evaluation.quality import measure, structure
    from engines.io.images import resize_short
    from engines.zoo.hed_vgg16 import vgg16_encoder

    small = resize_short(content, 128)
    q = measure(vgg16_encoder(), small, resize_short(cv2.imread(STYLE), 512), img)
    assert q.style_ratio < 0.5  # it took on the style ...
    style_as_output = cv2.resize(cv2.imread(STYLE), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert q.structure > structure(small, style_as_output) + 0.05  # ... and looks more like the windmill than the painting


def test_styles_weights_masks_colour_and_contact_sheet(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), make_photo(40, 56, seed=1))
    cv2.imwrite(str(folder / "b.png"), make_photo(33, 47, seed=2))  # odd size
    left = np.zeros((40, 56), np.uint8)
    left[:, :28] = 255
    cv2.imwrite(str(tmp_path / "left.png"), left)
    cv2.imwrite(str(tmp_path / "right.png"), 255 - left)
    common = ["--size", "0", "--style-size", "64"]
    assert stylize.main(["--content", str(folder), "--style", STYLE, "--style", CONTENT, "--weights", "0.7,0.3",
                         "--output", str(tmp_path / "out"), "--contact-sheet", str(tmp_path / "sheet.png")] + common) == 0
    assert cv2.imread(str(tmp_path / "out" / "b.png")).shape == (33, 47, 3)
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet.shape[0] > 2 * 256  # two rows
    for extra in (["--preserve-color"], ["--preserve-color", "--color-method", "luminance"],
                  ["--style", CONTENT, "--mask", str(tmp_path / "left.png"), "--mask", str(tmp_path / "right.png")]):
        out = tmp_path / "x.png"
        assert stylize.main(["--content", str(folder / "a.png"), "--style", STYLE, "--output", str(out)]
                            + extra + common) == 0
        assert cv2.imread(str(out)).shape == (40, 56, 3)


def test_a_folder_with_an_unreadable_image_does_the_rest_and_says_so(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), make_photo(40, 56, seed=1))
    (folder / "b.jpg").write_bytes(b"not a picture")
    cv2.imwrite(str(folder / "c.png"), make_photo(40, 56, seed=3))
    args = ["--content", str(folder), "--style", STYLE, "--size", "0", "--style-size", "64"]
    assert stylize.main(args + ["--output", str(tmp_path / "out"), "--contact-sheet", str(tmp_path / "s.png")]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png"]
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"skipped: not a readable image: {folder / 'b.jpg'}"]
    # an output that is a file, not a folder: refused before any work
    (tmp_path / "taken").write_text("keep me")
    assert stylize.main(args + ["--output", str(tmp_path / "taken")]) == 2
    assert (tmp_path / "taken").read_text() == "keep me"
    assert "is a file" in capsys.readouterr().err


def test_a_folder_keeps_every_result_and_a_banner_keeps_the_sheet_small(tmp_path):
    """photo.jpg and photo.png both became photo.png (one result silently lost); a 4x200 banner, scaled to
    the sheet's row height, made the contact sheet about 13,000 pixels wide."""
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.jpg"), make_photo(40, 56, seed=1))
    cv2.imwrite(str(folder / "photo.png"), make_photo(40, 56, seed=2))
    cv2.imwrite(str(folder / "banner.png"), make_photo(4, 200, seed=3))
    args = ["--content", str(folder), "--style", STYLE, "--size", "0", "--style-size", "64", "--model", "lite"]
    assert stylize.main(args + ["--output", str(tmp_path / "out"), "--contact-sheet", str(tmp_path / "s.png")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["banner.png", "photo_jpg.png", "photo_png.png"]
    sheet = cv2.imread(str(tmp_path / "s.png"))
    assert sheet.shape[0] == LABEL_HEIGHT + 4 + 3 * 260 + 4 and sheet.shape[1] <= 3 * 3 * 256 + 4 * 4  # header row


def test_preserve_color_keeps_content_colours(tmp_path):
    content = make_photo(64, 64, seed=3)
    common = ["--content", str(tmp_path / "c.png"), "--style", STYLE, "--size", "0", "--style-size", "128"]
    cv2.imwrite(str(tmp_path / "c.png"), content)
    stylize.main(common + ["--output", str(tmp_path / "plain.png")])
    stylize.main(common + ["--output", str(tmp_path / "kept.png"), "--preserve-color"])
    mean = lambda p: cv2.imread(str(p)).reshape(-1, 3).mean(0)  # noqa: E731
    c = content.reshape(-1, 3).mean(0)
    assert np.abs(mean(tmp_path / "kept.png") - c).sum() < np.abs(mean(tmp_path / "plain.png") - c).sum()


@pytest.mark.parametrize("case", ["missing", "corrupt", "not_image", "weights_file", "weights_count",
                                  "masks_count", "alpha", "bad_weights_text", "out_dir", "out_format",
                                  "sheet_format", "style_folder"])
def test_bad_input_one_line_exit_2(tmp_path, case):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(open(CONTENT, "rb").read()[:200])
    out = ["--output", str(tmp_path / "o.png")]
    args = {
        "missing": ["--content", str(tmp_path / "nope.jpg"), "--style", STYLE] + out,
        "corrupt": ["--content", str(corrupt), "--style", STYLE] + out,
        "not_image": ["--content", CONTENT, "--style", str(text)] + out,
        "weights_file": ["--content", CONTENT, "--style", STYLE, "--decoder", str(text)] + out,
        "weights_count": ["--content", CONTENT, "--style", STYLE, "--style", STYLE, "--weights", "1"] + out,
        "masks_count": ["--content", CONTENT, "--style", STYLE, "--style", STYLE, "--mask", CONTENT] + out,
        "alpha": ["--content", CONTENT, "--style", STYLE, "--alpha", "1.5"] + out,
        "bad_weights_text": ["--content", CONTENT, "--style", STYLE, "--weights", "a,b"] + out,
        "out_dir": ["--content", CONTENT, "--style", STYLE, "--output", str(tmp_path / "no" / "such" / "o.png")],
        "out_format": ["--content", CONTENT, "--style", STYLE, "--output", str(tmp_path / "o.xyz")],
        "sheet_format": ["--content", CONTENT, "--style", STYLE, "--contact-sheet", str(tmp_path / "s.xyz")] + out,
        "style_folder": ["--content", CONTENT, "--style", str(DATA)] + out,  # said as a folder, not "not found"
    }[case]
    r = run_cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert case != "style_folder" or lines[0] == f"error: {DATA} is a folder, not an image"
    assert not (tmp_path / "o.png").exists()


def test_an_image_too_large_for_free_memory_is_skipped_in_a_folder_and_an_error_alone(tmp_path, capsys, monkeypatch):
    from engines.backends import machine

    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "big.png"), make_photo(600, 800, seed=1))
    cv2.imwrite(str(folder / "small.png"), make_photo(40, 56, seed=3))
    monkeypatch.setattr(machine, "available_memory", lambda: 20 * 2**20)  # the lite model's 600x800 needs 73 MB
    args = ["--style", STYLE, "--size", "0", "--style-size", "64", "--model", "lite"]
    assert stylize.main(args + ["--content", str(folder), "--output", str(tmp_path / "out")]) == 2
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["small.png"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("skipped: a 800x600 frame needs about 0.1 GB on the eager backend")
    assert stylize.main(args + ["--content", str(folder / "big.png"), "--output", str(tmp_path / "big.png")]) == 2
    assert capsys.readouterr().err.startswith("error: a 800x600 frame") and not (tmp_path / "big.png").exists()
    # a style image kept whole (--style-size 0) is checked before the encoder runs on it
    style_args = ["--style", str(folder / "big.png"), "--style-size", "0", "--model", "lite"]
    assert stylize.main(style_args + ["--content", str(folder / "small.png"), "--output", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: a 800x600 style image needs about") and "(--style-size)" in err
