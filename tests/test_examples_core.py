"""examples/00_autodiff_basics.py runs and its loss goes down to the noise floor."""
import pathlib
import re
import runpy

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "00_autodiff_basics.py"


def test_autodiff_basics_example_fits(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", out)]
    assert len(losses) >= 10
    assert losses[-1] < 0.2 * losses[0] and losses[-1] < 0.02
    slope = float(re.search(r"fitted slope at x=0: (-?[0-9.]+)", out).group(1))
    assert abs(slope - 3.0) < 0.5
