"""A Keras-style progress bar that suits terminals, notebooks and log files.

On a terminal the bar is redrawn in place with ``\\r`` (never backspaces).  In a Jupyter/
IPython kernel ``\\r`` updates are used too.  When the stream is not a terminal (a log file,
CI) nothing is redrawn: one line is printed when the bar finishes, so logs stay clean.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progbar", "stream_is_interactive", "format_values", "enable_interactive_logging",
           "disable_interactive_logging", "is_interactive_logging_enabled", "LogStream"]


# ---------------------------------------------------------------- interactive logging
# Keras's switch: on (default), progress goes to stdout; off, each finished line goes to
# the ``logging`` module (logger "lamina", level INFO) and nothing is redrawn.
_INTERACTIVE = [True]


def enable_interactive_logging():
    """Progress bars and epoch lines go to stdout (the default)."""
    _INTERACTIVE[0] = True


def disable_interactive_logging():
    """Progress output goes to the ``logging`` module (logger ``"lamina"``, INFO) one line
    at a time, for jobs whose output is a log file or a server's logs."""
    _INTERACTIVE[0] = False


def is_interactive_logging_enabled():
    """True unless :func:`disable_interactive_logging` was called."""
    return _INTERACTIVE[0]


class LogStream:
    """A write-only text stream sending each complete line to ``logging`` (INFO)."""

    def __init__(self, logger="lamina"):
        import logging
        self.logger = logging.getLogger(logger)
        self._buf = ""

    def write(self, text):
        self._buf += text
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            line = line.rsplit("\r", 1)[-1]
            if line.strip():
                self.logger.info(line)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def _in_notebook():
    ip = sys.modules.get("IPython")
    if ip is None:
        return False
    try:
        shell = ip.get_ipython()
    except Exception:
        return False
    if shell is None:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell" or "IPKernelApp" in getattr(
        shell, "config", {})


def stream_is_interactive(stream):
    """True when ``stream`` is a terminal or a notebook's output (in-place redraws are safe)."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:          # closed file
        return False
    return stream in (sys.stdout, sys.__stdout__) and _in_notebook()


def _fmt_number(v):
    v = float(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.4e}"
    return f"{v:.4f}"


def format_values(values):
    """``' - loss: 0.1234 - accuracy: 0.9000'`` for a list of (name, value) pairs."""
    return "".join(f" - {k}: {_fmt_number(v)}" for k, v in values)


def _fmt_time(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(round(seconds))}s"


def _fmt_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """Progress of ``target`` steps (None if unknown).

    ``update(current, values)`` with ``values`` a list of (name, number) pairs.  As in Keras,
    values are averaged over the steps seen, except those named in ``stateful_metrics``
    (shown as given); ``stateful_metrics=True`` shows every value as given (fit's logs are
    already running means).  ``verbose``: 1 = bar, 2 = one line at the end, 0 = silent.
    ``interval`` is the minimum time between redraws, in seconds.
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step", stream=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful = stateful_metrics if stateful_metrics is True else set(
            stateful_metrics or ())
        if stream is None:
            stream = sys.stdout if _INTERACTIVE[0] else LogStream()
        self.stream = stream
        self.interactive = stream_is_interactive(self.stream)
        self._values = {}
        self._order = []
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._last_len = 0
        self._seen = 0
        self._done = False

    def _store(self, values, current):
        steps = max(current - self._seen, 1)
        for k, v in values or ():
            if k not in self._values:
                self._order.append(k)
            if self.stateful is True or k in self.stateful:
                self._values[k] = [v, 1]
            elif k in self._values:
                acc = self._values[k]
                acc[0] += v * steps
                acc[1] += steps
            else:
                self._values[k] = [v * steps, steps]

    def _shown(self):
        return [(k, self._values[k][0] / max(self._values[k][1], 1)) for k in self._order]

    def update(self, current, values=None, finalize=None):
        """Record progress ``current`` and the latest ``values``; redraw when due."""
        self._store(values, current)
        self._seen = current
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or self._done:
            return
        now = time.monotonic()
        if finalize:
            self._done = True
            self._finish(now)
            return
        if self.verbose == 1 and self.interactive and now - self._last_draw >= self.interval:
            self._last_draw = now
            self._draw(self._bar_line(now), end="")

    def add(self, n, values=None):
        """Advance by ``n`` steps."""
        self.update(self._seen + n, values)

    def _bar_line(self, now):
        cur, tgt = self._seen, self.target
        elapsed = now - self._start
        if tgt is not None:
            w = len(str(tgt))
            done = int(self.width * min(cur, tgt) / max(tgt, 1))
            bar = "=" * max(done - 1, 0) + (">" if done < self.width and cur < tgt else "=") \
                if done else ""
            bar = f"{cur:{w}d}/{tgt} [{bar:<{self.width}}]"
            per = elapsed / cur if cur else 0.0
            eta = per * (tgt - cur)
            timing = f" - ETA: {_fmt_time(eta)}" if cur < tgt else ""
        else:
            bar = f"{cur}"
            timing = f" - {_fmt_time(elapsed)}"
        return bar + timing + format_values(self._shown())

    def _finish(self, now):
        elapsed = now - self._start
        per = elapsed / self._seen if self._seen else 0.0
        vals = format_values(self._shown())
        tgt = self.target if self.target is not None else self._seen
        if self.verbose == 1:
            w = len(str(tgt))
            line = (f"{self._seen:{w}d}/{tgt} [{'=' * self.width}] - {_fmt_time(elapsed)} "
                    f"{_fmt_step(per)}{vals}")
        else:          # Keras's verbose=2 line
            line = f"{self._seen}/{tgt} - {_fmt_time(elapsed)} - {_fmt_step(per)}{vals}"
        self._draw(line, end="\n")

    def _draw(self, line, end):
        s = self.stream
        if self.interactive and self.verbose == 1:
            pad = max(self._last_len - len(line), 0)
            s.write("\r" + line + " " * pad + end)
            self._last_len = 0 if end else len(line)
        else:
            s.write(line + end)
        s.flush()
