import cv2
import numpy as np
import pytest

from engines.evaluation.quality import evaluate_pairs, measure, sample_pairs, ssim

from conftest import ROOT, SHARED_TRAIN, make_photo


def test_untouched_content_scores_one_and_the_style_itself_zero(vgg16_encoder):
    c, s = make_photo(64, 64, seed=1), make_photo(64, 64, seed=7)[:, ::-1].copy()
    q = measure(vgg16_encoder, c, s, c)
    assert q.style_ratio == pytest.approx(1.0) and q.structure == pytest.approx(1.0)
    assert measure(vgg16_encoder, c, s, s).style_ratio == pytest.approx(0.0, abs=1e-6)


def test_ssim_falls_with_noise():
    rng = np.random.default_rng(0)
    a = np.add.outer(np.arange(32.0), np.arange(32.0)) * 4  # smooth ramp
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, a + rng.normal(0, 40, a.shape)) < 0.8


@pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason="training folders not beside the checkout")
def test_shipped_model_transfers_style_and_keeps_structure(shipped_model):
    """A regression guard on a small sample at 320 px; the 12-pair measurement at 512 (and the project's
    unmet target of 0.15 / 0.45) is in README.md and the model card."""
    from engines.evaluation.quality import structure

    pairs = sample_pairs(str(SHARED_TRAIN / "content"), str(SHARED_TRAIN / "style"), 4, seed=1)
    rows: list = []
    results = evaluate_pairs(shipped_model, pairs, size=320, style_size=320, rows=rows)
    assert np.mean([q.style_ratio for q in results]) < 0.5  # untouched content scores 1
    # each output's layout comes from its own content, not from just any photo
    own = [structure(c, out) for c, _, out in rows]
    other = [structure(rows[(i + 1) % 4][0], cv2.resize(out, rows[(i + 1) % 4][0].shape[1::-1]))
             for i, (_, _, out) in enumerate(rows)]
    assert np.mean(own) > np.mean(other) + 0.03, (own, other)


def test_lower_alpha_trades_style_for_structure(shipped_model, tmp_path):
    # a real photo and painting (a synthetic pair of gradients had a style ratio above 1: no style to trade)
    cp, sp = ROOT / "tests" / "data" / "windmill.jpg", ROOT / "tests" / "data" / "painting.jpg"
    full, half = (evaluate_pairs(shipped_model, [(cp, sp)], size=96, style_size=128, alpha=a)[0] for a in (1.0, 0.5))
    assert half.style_ratio > full.style_ratio
    assert half.structure > full.structure


def test_alpha_outside_the_unit_interval_is_a_usage_error(tmp_path, capsys):
    from tools.quality import main

    with pytest.raises(SystemExit) as e:
        main(["--content-dir", str(tmp_path), "--style-dir", str(tmp_path), "--alpha", "1.5"])
    assert e.value.code == 2 and "--alpha must be between 0 and 1" in capsys.readouterr().err


def test_unreadable_files_cost_their_pairs_not_the_draw(tmp_path):
    from engines.evaluation.quality import readable_pairs
    from engines.io.images import ImageError

    for kind, seed in (("content", 3), ("style", 9)):
        (tmp_path / kind).mkdir()
        cv2.imwrite(str(tmp_path / kind / "a.png"), make_photo(40, 48, seed=seed))
    (tmp_path / "content" / "b.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "empty").mkdir()
    pairs = sample_pairs(str(tmp_path / "content"), str(tmp_path / "style"), 8, seed=0)
    kept, skipped = readable_pairs(pairs)
    assert kept == [p for p in pairs if p[0].name == "a.png"] and 0 < len(kept) < len(pairs)  # same draw, filtered
    assert skipped == [f"not a readable image: {tmp_path / 'content' / 'b.jpg'}"]
    with pytest.raises(ImageError, match="none of the 1 pairs"):
        readable_pairs([(tmp_path / "content" / "b.jpg", tmp_path / "style" / "a.png")])
    with pytest.raises(ImageError, match="no images in"):
        sample_pairs(str(tmp_path / "empty"), str(tmp_path / "style"), 1)


def test_cli_reports_a_skipped_file_and_exits_2_after_measuring_the_rest(tmp_path, capsys):
    from tools.quality import main

    for kind, seed in (("content", 3), ("style", 9)):
        (tmp_path / kind).mkdir()
        cv2.imwrite(str(tmp_path / kind / "a.png"), make_photo(40, 48, seed=seed))
    (tmp_path / "style" / "b.png").write_bytes(b"")
    args = ["--content-dir", str(tmp_path / "content"), "--style-dir", str(tmp_path / "style"), "--pairs", "6",
            "--size", "32", "--model", "lite", "--seed", "2"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("skipped: not a readable image") == 1 and "b.png" in captured.err
    assert "[lite] mean over" in captured.out and "b.png" not in captured.out
    # a contact sheet that cannot be written is refused before any work
    assert main(args + ["--sheet", str(tmp_path / "nope" / "sheet.jpg")]) == 2
    captured = capsys.readouterr()
    assert "output folder does not exist" in captured.err and "mean over" not in captured.out
