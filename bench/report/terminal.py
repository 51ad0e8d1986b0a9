"""Text for the terminal: aligned tables without pandas (``--dry-run`` loads none), run states
with their reasons, the sweep's last line."""
from __future__ import annotations

from bench.results.states import FAILED
from bench.spec import RunSpec


def text_table(rows: list[dict]) -> str:
    """Rows as right-aligned columns under their keys (pandas' to_string without pandas,
    which --dry-run does not load)."""
    keys = list(rows[0])
    cols = [[str(k)] + [str(r[k]) for r in rows] for k in keys]
    widths = [max(map(len, col)) for col in cols]
    return "\n".join(" ".join(col[i].rjust(w) for col, w in zip(cols, widths)) for i in range(len(rows) + 1))


def state_lines(specs: list[RunSpec], known: dict, shown: tuple[str, ...]) -> list[str]:
    """One line per run in one of the ``shown`` states, with its reason."""
    lines = []
    for s in specs:
        st = known[s.run_id]
        if st.status in shown:
            lines.append(f"  {st.status:<8} {s.run_id} {s.method} {s.dataset} seed {s.seed}"
                         + (f": {st.reason}" if st.reason else ""))
    return [""] + lines if lines else []


def sweep_summary(total: int, ended: dict[str, int], seconds: float) -> str:
    """One line: what this sweep trained, what it found done, what failed, how long it took."""
    ran = sum(ended.values())
    cached = total - ran
    if not ran:
        return f"{cached} run{'' if cached == 1 else 's'} already done, nothing to train"
    failed = ended.get(FAILED, 0)
    minutes, secs = divmod(round(seconds), 60)
    return (f"{ran} run(s) trained ({ran - failed} done, {failed} failed), {cached} already done; "
            f"{minutes}m{secs:02d}s")
