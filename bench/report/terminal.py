"""Text for the terminal: aligned tables without pandas (``--dry-run`` loads none), run states
with their reasons and, for unfinished runs, how far they got, the sweep's last line."""
from __future__ import annotations

import csv
import io
import math
import time
from typing import Callable

from bench.results.states import DONE, FAILED
from bench.results.store import Store, read_regular
from bench.spec import RunSpec


def text_table(rows: list[dict]) -> str:
    """Rows as right-aligned columns under their keys (pandas' to_string without pandas,
    which --dry-run does not load)."""
    keys = list(rows[0])
    cols = [[str(k)] + [str(r[k]) for r in rows] for k in keys]
    widths = [max(map(len, col)) for col in cols]
    return "\n".join(" ".join(col[i].rjust(w) for col, w in zip(cols, widths)) for i in range(len(rows) + 1))


def state_lines(specs: list[RunSpec], known: dict, shown: tuple[str, ...],
                progress: Callable[[RunSpec, str], str] = lambda spec, status: "") -> list[str]:
    """One line per run in one of the ``shown`` states, with its reason, and below it what
    ``progress`` says of the run (``--status``: how far an unfinished run got)."""
    lines = []
    for s in specs:
        st = known[s.run_id]
        if st.status in shown:
            lines.append(f"  {st.status:<8} {s.run_id} {s.method} {s.dataset} seed {s.seed}"
                         + (f": {st.reason}" if st.reason else ""))
            where = progress(s, st.status)
            if where:
                lines.append(" " * 11 + where)
    return [""] + lines if lines else []


def ago(seconds: float) -> str:
    """'just now', '7 min ago', '2 h 05 min ago'."""
    minutes = int(max(seconds, 0) // 60)
    if minutes == 0:
        return "just now"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min ago" if hours else f"{minutes} min ago"


def finite(text: str | None) -> float | None:
    """A curve cell as a number, None when empty or not finite."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def progress_text(store: Store, run_id: str, now: float | None = None) -> str:
    """How far an unfinished run's newest attempt got: its last logged step (with its epoch,
    test accuracy and the best so far, where the method logs them) and how long ago it logged
    and checkpointed, so that a run that stopped moving shows as one; '' before its first row."""
    attempts = store.attempts(run_id)
    if not attempts:
        return ""
    folder = store.attempt_dir(run_id, attempts[-1])
    curve = folder / "curve.csv"
    try:
        rows = list(csv.DictReader(io.StringIO(read_regular(curve).decode())))
        logged = curve.stat().st_mtime
    except (OSError, UnicodeDecodeError, csv.Error):
        return ""
    step = finite(rows[-1].get("step")) if rows else None
    if step is None:
        return ""
    now = time.time() if now is None else now
    epoch = finite(rows[-1].get("epoch"))
    text = f"at step {int(step):,}" + (f" (epoch {epoch:g})" if epoch is not None else "")
    accuracy = [a for a in (finite(r.get("acc")) for r in rows) if a is not None]
    if accuracy:
        text += f", acc {accuracy[-1]:.4f} (best so far {max(accuracy):.4f})"
    text += f"; logged {ago(now - logged)}"
    try:
        text += f", checkpointed {ago(now - (folder / 'checkpoint.pt').stat().st_mtime)}"
    except OSError:
        text += ", no checkpoint yet"
    return text


def sweep_summary(ended: dict[str, int], final: dict[str, int], seconds: float) -> str:
    """One line: what this sweep trained and how it ended, what it found done, what it left
    failed from before (``final``: the runs' states when it ended), how long it took."""
    ran = sum(ended.values())
    failed_now = ended.get(FAILED, 0)
    cached = final.get(DONE, 0) - (ran - failed_now)
    left_failed = final.get(FAILED, 0) - failed_now
    parts = [f"{ran} run(s) trained ({ran - failed_now} done, {failed_now} failed)" if ran else "nothing to train",
             f"{cached} already done"]
    if left_failed > 0:
        parts.append(f"{left_failed} failed before and not retried (--retry-failed runs them)")
    minutes, secs = divmod(round(seconds), 60)
    return "; ".join(parts) + (f"; {minutes}m{secs:02d}s" if ran else "")

def outcome_line(labels: dict[str, str], known: dict, error_logs: dict[str, str]) -> str:
    """The sweep's verdict: every planned run done, or how many are not, naming up to five
    (label, run id, state, and the error.log of a failed one)."""
    missing = [(run_id, st) for run_id, st in known.items() if st.status != DONE]
    if not missing:
        return f"all {len(known)} runs done"
    named = [f"{labels.get(run_id, '?')} {run_id} {st.status}" + (f" (see {error_logs[run_id]})"
                                                                  if run_id in error_logs else "")
             for run_id, st in missing[:5]]
    more = f", and {len(missing) - 5} more (see --status)" if len(missing) > 5 else ""
    return f"{len(missing)} of {len(known)} runs not done: {', '.join(named)}{more}"
