"""Styles as cached statistics: keyed by the weights, an unusable cache, a folder rescanned."""
import shutil

import torch

from live import STYLE_A, STYLE_B


def test_style_cache_is_keyed_by_the_weights(tmp_path, monkeypatch):
    from engines.model.network import AdaINModel
    from engines.model.vgg import VGG16, Decoder, Encoder
    from realtime.live.style_bank import StyleBank

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path))
    torch.manual_seed(0)
    model = AdaINModel(Encoder(VGG16), Decoder(VGG16)).eval()
    assert StyleBank(model, [STYLE_A], style_size=64).encoded == 1
    assert StyleBank(model, [STYLE_A], style_size=64).encoded == 0  # same weights: from the cache
    other = AdaINModel(Encoder(VGG16), Decoder(VGG16)).eval()  # new random weights
    assert StyleBank(other, [STYLE_A], style_size=64).encoded == 1  # never the old statistics


def test_an_unusable_cache_slows_the_next_start_but_stops_nothing(tmp_path, monkeypatch, caplog):
    """A cache folder behind a file (or read-only) was a NotADirectoryError traceback at start-up; a full disk
    while saving a style's statistics stopped the live app."""
    import engines.style_cache as SC
    import realtime.live.style_bank as SB
    from engines.model.network import AdaINModel
    from engines.model.vgg import VGG16, Decoder, Encoder
    from engines.zoo.cache import cache_dir

    (tmp_path / "a_file").write_text("in the way")
    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "a_file" / "cache"))
    fallback = cache_dir()
    assert fallback.is_dir() and "a_file" not in str(fallback)
    assert caplog.text.count("Not a directory") == 1
    cache_dir()
    assert caplog.text.count("Not a directory") == 1  # said once

    def full_disk(tensors, path):
        raise SC.SafetensorError("Error while serializing: I/O error: No space left on device")

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(SC, "save_file", full_disk)
    torch.manual_seed(0)
    bank = SB.StyleBank(AdaINModel(Encoder(VGG16), Decoder(VGG16)).eval(), [STYLE_A], style_size=64)
    assert len(bank) == 1 and "not cached in" in caplog.text and "Error while serializing" in caplog.text
    assert not list((tmp_path / "cache" / "styles").iterdir())  # no half-written file left behind


def test_style_folder_rescan_reports_a_bad_file_once_and_survives_the_folder_going(tmp_path, monkeypatch, caplog):
    from engines.model.network import AdaINModel
    from engines.model.vgg import LITE, Decoder, Encoder
    from realtime.live.style_bank import StyleBank

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "styles"
    folder.mkdir()
    shutil.copy(STYLE_A, folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"half-copied")
    bank = StyleBank(AdaINModel(Encoder(LITE), Decoder(LITE)).eval(), folder=folder, style_size=64)
    assert len(bank) == 1
    assert bank.rescan() == []
    assert caplog.text.count("style skipped") == 1  # said once, not at every scan
    shutil.copy(STYLE_B, folder / "b.jpg")  # the copy finished
    assert [s.name for s in bank.rescan()] == ["b"]
    shutil.rmtree(folder)
    assert bank.rescan() == [] and len(bank) == 2 and "rescan: not a folder" in caplog.text
