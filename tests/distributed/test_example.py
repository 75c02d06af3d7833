"""examples/18_data_parallel.py: on 2 ranks under mpiexec, and as a world of one."""
import importlib.util
import os
import re

from mpi_launch import ROOT, run_mpi

PATH = os.path.join(ROOT, "examples", "18_data_parallel.py")


def test_example_on_two_ranks(tmp_path):
    proc = run_mpi(2, PATH, "--quick", "--checkpoint-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("2 rank(s)") == 1
    epochs = [l for l in out.splitlines() if "val_loss:" in l]
    assert len(epochs) == 3 and all(l.startswith("[1,0]") for l in epochs)
    acc = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert acc > 0.9
    assert os.listdir(tmp_path) == ["digits.keras"]


def test_example_world_of_one(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("lab18", PATH)
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    acc = lab.main(["--quick", "--checkpoint-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "1 rank(s)" in out and "Epoch 3/3" in out and acc > 0.9
    assert (tmp_path / "digits.keras").exists()
