import pytest
import torch

from engines.evaluation.pixel_reference import compare, optimise_pixels
from engines.io.images import bgr_to_tensor
from engines.model.adain import adain, mean_std
from engines.training.losses import adain_losses, layer_scales
from tools.pixel_reference import main

from conftest import make_photo


def test_optimisation_starts_at_the_content_and_lowers_the_loss(random_model):
    c = bgr_to_tensor(make_photo(32, 40, seed=1))
    s = bgr_to_tensor(make_photo(40, 32, seed=5))
    enc = random_model.encoder.requires_grad_(False)
    shots = optimise_pixels(random_model, c, s, [0, 15])
    assert torch.equal(shots[0], c)
    assert shots[15].min() >= 0 and shots[15].max() <= 1

    s_stats = [mean_std(f) for f in enc.features(s)]
    target = adain(enc(c), *s_stats[3])
    scales = layer_scales(enc.features, [c, s])

    def loss(x):
        lc, ls = adain_losses(enc.features(x), target, s_stats, scales)
        return float(lc + 10 * ls)

    assert loss(shots[15]) < 0.8 * loss(shots[0])


def test_compare_measures_decoder_and_pixels_alike(random_model):
    random_model.encoder.requires_grad_(False)
    c, s = make_photo(36, 44, seed=2), make_photo(40, 40, seed=8)
    dec, opt = compare(random_model, c, s, [0, 10])
    assert opt[0].style_ratio == pytest.approx(1.0) and opt[0].structure == pytest.approx(1.0)
    assert opt[10].style_ratio < opt[0].style_ratio
    assert 0 <= dec.structure <= 1


def test_cli_reports_each_step_and_rejects_a_missing_folder(tmp_path, capsys):
    import cv2

    for kind, seed in (("content", 3), ("style", 9)):
        (tmp_path / kind).mkdir()
        cv2.imwrite(str(tmp_path / kind / "a.png"), make_photo(40, 48, seed=seed))
    args = ["--content-dir", str(tmp_path / "content"), "--style-dir", str(tmp_path / "style"),
            "--pairs", "1", "--size", "32", "--style-size", "32", "--steps", "0,4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "pixels after    0 steps: 1.000 / 1.000" in out and "pixels after    4 steps" in out

    assert main(["--content-dir", str(tmp_path / "nope"), "--style-dir", str(tmp_path / "style")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


@pytest.mark.parametrize("tool", ["quality", "pixel_reference"])
def test_pair_count_below_one_is_a_usage_error(tool, tmp_path, capsys):
    import importlib

    main_fn = importlib.import_module(f"tools.{tool}").main
    with pytest.raises(SystemExit) as e:
        main_fn(["--content-dir", str(tmp_path), "--style-dir", str(tmp_path), "--pairs", "0"])
    assert e.value.code == 2 and "at least 1" in capsys.readouterr().err
