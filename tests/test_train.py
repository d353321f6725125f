import csv
import subprocess
import sys

import pytest
import torch

from engines.training.trainer import TrainConfig, Trainer
from engines.zoo.files import WeightsError

from conftest import ROOT


def config(folders, **kw):
    base = dict(content_dir=str(folders / "content"), style_dir=str(folders / "style"), out_dir=str(folders / "out"),
                batch=2, crop=32, load_size=48, device="cpu", save_every=2, scale_images=4)
    return TrainConfig(**(base | kw))


def test_one_step_lowers_the_loss_on_a_fixed_batch(folders, vgg16_encoder):
    tr = Trainer(config(folders), encoder=vgg16_encoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    before = float(tr.losses(content, style)["loss"].detach())
    parts = tr.losses(content, style)
    tr.opt.zero_grad()
    parts["loss"].backward()
    tr.opt.step()
    after = float(tr.losses(content, style)["loss"].detach())
    assert after < before


def test_learning_rate_decay_follows_the_paper(folders, vgg16_encoder):
    tr = Trainer(config(folders), encoder=vgg16_encoder)
    tr.iter = 20_000
    assert tr.lr() == pytest.approx(1e-4 / (1 + 5e-5 * 20_000))


def test_resume_gives_the_same_next_step(folders, vgg16_encoder, tmp_path):
    a = Trainer(config(folders), encoder=vgg16_encoder)
    a.step()
    a.step()
    a.save(tmp_path / "ckpt.pt")
    next_a = a.step()
    b = Trainer(config(folders, seed=123), encoder=vgg16_encoder)  # different init: everything must come from the file
    b.load(tmp_path / "ckpt.pt")
    next_b = b.step()
    assert next_b["loss"] == pytest.approx(next_a["loss"], rel=1e-5)
    for p, q in zip(a.decoder.parameters(), b.decoder.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


def test_a_checkpoint_resumes_on_a_gpu_trainer(folders, vgg16_encoder, tmp_path):
    """The checkpoint used to be mapped to the trainer's device, which put the data generator's RNG state on
    CUDA ("RNG state must be a torch.ByteTensor"). The meta device stands in for the GPU's: loading must not
    depend on it."""
    a = Trainer(config(folders), encoder=vgg16_encoder)
    a.step()
    a.save(tmp_path / "ckpt.pt")
    b = Trainer(config(folders, seed=123), encoder=vgg16_encoder)
    b.device = torch.device("meta")
    b.load(tmp_path / "ckpt.pt")
    assert b.iter == 1 and b.gen.get_state().equal(a.gen.get_state())


def train_cli(folders, out, export):
    """tools/train.py on the tiny folders, small and fast; callers add --iters and the rest."""
    return [sys.executable, str(ROOT / "tools" / "train.py"), "--content", str(folders / "content"),
            "--style", str(folders / "style"), "--out", str(out), "--batch", "2", "--crop", "32",
            "--load-size", "48", "--save-every", "2", "--device", "cpu", "--export", str(export)]


def test_cli_trains_logs_checkpoints_resumes_and_exports(folders):
    out, export = folders / "out", folders / "dec.safetensors"
    cmd = train_cli(folders, out, export)
    r = subprocess.run(cmd + ["--iters", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cmd + ["--iters", "4"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stdout and "iteration 2" in r.stdout
    rows = list(csv.DictReader(open(out / "loss.csv")))
    assert [int(x["iter"]) for x in rows] == [1, 2, 3, 4]
    assert "identity" in rows[0]
    from safetensors import safe_open

    with safe_open(str(export), "pt") as f:
        assert f.metadata()["iterations"] == "4"
        assert f.get_tensor("1.weight").dtype == torch.float16


def test_a_time_budget_stops_checkpointed_and_exported_and_the_same_command_resumes(folders, vgg16_encoder):
    from engines.training.trainer import fit

    tr = Trainer(config(folders, save_every=1000), encoder=vgg16_encoder)
    exported = []
    fit(tr, folders / "out", 1000, 1000, lambda: exported.append(tr.iter), minutes=1e-6)  # out of time at once
    assert tr.iter == 1 and exported == [1] and (folders / "out" / "last.pt").is_file()
    again = Trainer(config(folders, save_every=1000), encoder=vgg16_encoder)
    fit(again, folders / "out", 2, 1000)
    assert again.iter == 2


def test_a_damaged_or_foreign_checkpoint_is_one_line(folders, vgg16_encoder):
    """A truncated last.pt, or a distill.py run's folder given to train.py, was a traceback."""
    out, export = folders / "out", folders / "dec.safetensors"
    out.mkdir()
    (out / "last.pt").write_bytes(b"PK\x03\x04 cut short")
    r = subprocess.run(train_cli(folders, out, export) + ["--iters", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == (
        f"error: cannot resume from {out / 'last.pt'}: not a readable checkpoint of this tool; "
        "move it away to start over, or use another --out")
    lite = Trainer(config(folders, layout="lite"), encoder=vgg16_encoder)
    lite.save(out / "last.pt")
    with pytest.raises(WeightsError, match="written for another model"):
        Trainer(config(folders), encoder=vgg16_encoder).load(out / "last.pt")


def test_cli_missing_folder_is_one_line_error(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--content", str(tmp_path / "nope"),
                        "--style", str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a folder" in r.stderr


def test_identity_loss_is_optional_and_trains_reconstruction(folders, vgg16_encoder):
    plain = Trainer(config(folders), encoder=vgg16_encoder)
    assert plain.step()["identity"] == 0.0  # off by default: the paper's recipe
    # the identity term alone, so the test shows what it trains
    tr = Trainer(config(folders, identity_weight=50.0, style_weight=0.0, content_weight=0.0, lr=1e-3),
                 encoder=vgg16_encoder)
    g = torch.Generator().manual_seed(5)
    content, style = tr.content.batch(2, g), tr.style.batch(2, g)
    first = float(tr.losses(content, style)["identity"].detach())
    assert first > 0
    for _ in range(5):
        parts = tr.losses(content, style)
        tr.opt.zero_grad()
        parts["loss"].backward()
        tr.opt.step()
    assert float(tr.losses(content, style)["identity"].detach()) < first


def test_cli_init_starts_from_given_decoder_weights(folders, tmp_path):
    from safetensors.torch import load_file

    shipped = ROOT / "engines" / "weights" / "decoder_vgg19.safetensors"  # the full model's: --encoder vgg19
    export = tmp_path / "dec.safetensors"
    cmd = train_cli(folders, tmp_path / "out", export) + ["--iters", "1", "--lr", "0", "--skips"]  # a skip file
    r = subprocess.run(cmd + ["--init", str(shipped)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got, want = load_file(str(export)), load_file(str(shipped))
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)  # lr 0: unchanged

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    cmd = train_cli(folders, tmp_path / "out2", export) + ["--iters", "1", "--init", str(bad)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_the_moving_average_follows_the_weights_resumes_and_is_exported_beside_them(folders, vgg16_encoder,
                                                                                     tmp_path):
    from engines.training.trainer import average_path, export_decoder
    from engines.zoo.files import load_decoder

    a = Trainer(config(folders, ema=0.9, lr=1e-3), encoder=vgg16_encoder)
    start = [p.detach().clone() for p in a.decoder.parameters()]
    a.step()
    # step 1 averages with decay min(0.9, 2/11): the average lies between the start and the new weights
    for s, p, e in zip(start, a.decoder.parameters(), a.ema.parameters()):
        torch.testing.assert_close(e, s.lerp(p.detach(), 1 - 2 / 11))
    a.step()
    a.save(tmp_path / "ckpt.pt")
    a.step()
    b = Trainer(config(folders, ema=0.9, lr=1e-3, seed=7), encoder=vgg16_encoder)
    b.load(tmp_path / "ckpt.pt")
    b.step()
    for p, q in zip(a.ema.parameters(), b.ema.parameters()):  # the average resumes exactly, like the rest
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    assert not all(torch.equal(p, q) for p, q in zip(a.ema.parameters(), a.decoder.parameters()))

    path = tmp_path / "dec.safetensors"
    export_decoder(a, path)
    assert average_path(path).name == "dec.ema.safetensors"
    averaged = load_decoder(a.decoder.layout, average_path(path))
    for p, q in zip(averaged.parameters(), a.ema.parameters()):
        torch.testing.assert_close(p, q.half().float())

    plain = Trainer(config(folders), encoder=vgg16_encoder)
    assert plain.ema is None
    export_decoder(plain, tmp_path / "plain.safetensors")
    assert not average_path(tmp_path / "plain.safetensors").exists()  # off by default: one file, as before


def test_an_average_decay_of_one_or_more_is_refused_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "--content", str(tmp_path), "--style",
                        str(tmp_path), "--out", str(tmp_path / "o"), "--ema", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "below 1" in r.stderr


def test_crops_grow_from_crop_to_crop_final_over_the_run(folders, vgg16_encoder):
    tr = Trainer(config(folders, crop=32, crop_final=48, iters=4, load_size=32), encoder=vgg16_encoder)
    sides = []
    for _ in range(4):
        tr.step()
        sides.append(tr.content.crop)
    assert sides == [32, 32, 40, 40]  # iteration 0-3 of 4, floored to multiples of 8
    tr.iter = 4
    assert tr.crop() == 48
    assert min(min(im.shape[:2]) for im in tr.content.images) >= 48  # loaded big enough for the last crops
    assert Trainer(config(folders, crop=32), encoder=vgg16_encoder).crop() == 32  # fixed by default
