"""Progress bar output modes: terminal redraws, log-file lines, silence."""
import io

import pytest

from lamina.nn.progbar import Progbar, format_values


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def run_bar(stream, verbose, steps=5):
    bar = Progbar(steps, verbose=verbose, stream=stream, interval=0.0, stateful_metrics=True)
    for i in range(1, steps + 1):
        bar.update(i, [("loss", 1.0 / i), ("accuracy", 0.1 * i)])
    return stream.getvalue()


def test_non_tty_has_no_carriage_returns_or_backspaces():
    out = run_bar(io.StringIO(), verbose=1)
    assert "\r" not in out and "\b" not in out
    assert out.count("\n") == 1                # one line at the end, nothing per step
    assert "5/5" in out and "loss: 0.2000" in out and "accuracy: 0.5000" in out


def test_tty_redraws_in_place_without_backspaces():
    out = run_bar(FakeTTY(), verbose=1)
    assert "\b" not in out
    assert out.count("\r") >= 4                # redrawn at each step
    assert "ETA" in out and out.endswith("\n")
    assert "[" + "=" * 30 + "]" in out          # the finished bar


def test_verbose_2_prints_one_line_without_bar():
    out = run_bar(FakeTTY(), verbose=2)
    assert out.count("\n") == 1 and "\r" not in out
    assert "[" not in out and "loss: 0.2000" in out


def test_verbose_0_is_silent():
    assert run_bar(FakeTTY(), verbose=0) == ""
    assert run_bar(io.StringIO(), verbose=0) == ""


def test_unknown_target_finalize():
    s = io.StringIO()
    bar = Progbar(None, verbose=1, stream=s, stateful_metrics=["loss"])
    bar.update(3, [("loss", 0.5)])
    bar.update(7, [("loss", 0.25)], finalize=True)
    out = s.getvalue()
    assert "7/7" in out and "loss: 0.2500" in out and "\r" not in out


@pytest.mark.parametrize("v,expect", [(0.5, "0.5000"), (1e-5, "1.0000e-05"),
                                      (123456.0, "1.2346e+05")])
def test_format_values(v, expect):
    assert format_values([("m", v)]) == f" - m: {expect}"


def test_values_are_averaged_like_keras_unless_stateful():
    s = io.StringIO()
    bar = Progbar(4, verbose=1, stream=s, stateful_metrics=["acc"])
    bar.update(1, [("loss", 4.0), ("acc", 0.1)])
    bar.update(3, [("loss", 1.0), ("acc", 0.2)])      # covers 2 steps: weight 2
    bar.update(4, [("loss", 1.0), ("acc", 0.3)])
    out = s.getvalue()
    assert "loss: 1.7500" in out and "acc: 0.3000" in out  # (4 + 2 + 1) / 4
    s = io.StringIO()
    bar = Progbar(2, verbose=1, stream=s, stateful_metrics=True)
    bar.update(1, [("loss", 4.0)])
    bar.update(2, [("loss", 1.0)])
    assert "loss: 1.0000" in s.getvalue()
