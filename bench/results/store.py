"""Results layout on disk, with attempts that are published atomically and verified.

``<root>/runs/<run_id>/`` holds:

- ``attempts/<k>/``: everything one attempt writes (spec.json, curve.csv, checkpoint.pt,
  model.pt, error.log). An attempt is never modified after it is published, so a student
  reading a teacher's ``model.pt`` can never see one being retrained.
- ``summary.csv``: the published result, one row naming its ``attempt`` and the SHA-256 of
  every artefact of that attempt, sealed by a last column holding the SHA-256 of the row
  itself. It is replaced (atomically) only when a new attempt finishes; a run is *done*
  only when this row says so, its seal and every checksum match, and its scores are
  possible values (bench/results/values.py).
- ``lock``: the flock of the process working on the run (bench/results/lock.py).

Every file is written to a temporary name (``.<name>.<pid>.<random>.tmp``) and renamed,
so a killed process never leaves a half-written file; the temporaries of dead processes
are removed by the next writer.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from bench.results.states import CORRUPT, DONE, FAILED, PARTIAL, TODO
from bench.results.values import value_problems

if TYPE_CHECKING:  # pandas is imported where a frame is made: --list and --dry-run need none
    import pandas as pd

ID_COLUMNS = {"run_id": str, "teacher_run_id": str}
"""Hex run ids such as '9284223143e98332' would otherwise be parsed as floats."""
NOT_ARTEFACTS = ("checkpoint.pt", "summary.csv")
TMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")

SEAL = "row_sha256"
"""summary.csv's last column: the SHA-256 of the file's text without that column."""
_SEALED = re.compile(rb"\A([^\n]*)," + SEAL.encode() + rb"\n(.*),([0-9a-f]{64})\n\Z", re.S)

WALL_COLUMN = "wall_s"
"""curve.csv column: seconds a run had spent when the row was logged (over resumed sessions)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_csv(path: Path, rows: list[dict[str, Any]] | pd.DataFrame) -> None:
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))


def sealed_csv(row: dict[str, Any]) -> str:
    """``row`` as a one-row CSV whose last column (``SEAL``) is the SHA-256 of the rest."""
    import pandas as pd

    text = pd.DataFrame([row]).to_csv(index=False, lineterminator="\n")
    head, _, body = text.partition("\n")
    return f"{head},{SEAL}\n{body.rstrip(chr(10))},{hashlib.sha256(text.encode()).hexdigest()}\n"


def unsealed(data: bytes) -> tuple[bytes | None, str]:
    """(the CSV without its seal, problem): the problem says why the seal does not hold."""
    match = _SEALED.match(data)
    if match is None:
        return None, "summary.csv carries no seal (written by an older version, or edited)"
    text = match[1] + b"\n" + match[2] + b"\n"
    if hashlib.sha256(text).hexdigest().encode() != match[3]:
        return None, "summary.csv was edited after it was published (its seal does not match)"
    return text, ""


def atomic_torch_save(path: Path, obj: Any) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def clean_tmp(directory: Path) -> list[Path]:
    """Remove the temporaries that dead processes left in ``directory``; return them."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        match = TMP.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 0


def inode_stamp(path: Path | str) -> list[int] | None:
    """[size, modification time, change time (ns), inode] of ``path``, or None when it is
    absent. A file written again, replaced or touched back to an old date changes it: the
    change time cannot be set by hand."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def stamps_under(folder: Path | str, skip_dir: str | None = None) -> dict[str, list[int] | None]:
    """Every file under ``folder`` by absolute path, with its ``inode_stamp``; sub-folders
    named ``skip_dir`` left out."""
    found = {}
    for top, dirs, files in os.walk(os.path.abspath(folder)):
        dirs[:] = [d for d in dirs if d != skip_dir]
        for name in files:
            path = os.path.join(top, name)
            found[path] = inode_stamp(path)
    return found


def file_stamp(path: Path) -> list[int] | None:
    """[size, modification time in ns] of ``path``, or None when it is absent: what changes
    when a file is written again, checked without reading it (and kept in manifests)."""
    stamp = inode_stamp(path)
    return stamp[:2] if stamp else None


def stamped_sha256(path: Path) -> str:
    """``sha256(path)``, computed once per process while the file keeps its size and
    modification time: ``--status`` and a sweep check each finished run's state several times."""
    stamp = file_stamp(path)
    if stamp is None:
        raise FileNotFoundError(path)
    return _stamped_sha256(str(path), *stamp)


@functools.lru_cache(maxsize=8192)
def _stamped_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256(Path(path))


class NotARegularFile(OSError):
    """A path the harness wrote as a file is a FIFO, a device, a folder or a symbolic link."""


def regular_fd(path: Path | str) -> int:
    """A read-only descriptor of ``path``, refusing what is not a regular file without
    blocking on it (a FIFO would hang the reader) or following a link out of the results."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if os.path.islink(path):
            raise NotARegularFile(f"{path} is a symbolic link, not a file") from exc
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise NotARegularFile(f"{path} is {kind}")
    return fd


def open_regular(path: Path | str):
    """``path`` opened for binary reading if it is a regular file (``regular_fd``)."""
    return os.fdopen(regular_fd(path), "rb")


def read_regular(path: Path | str) -> bytes:
    with open_regular(path) as fh:
        return fh.read()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _kind(path: Path) -> str:
    mode = os.lstat(path).st_mode
    return ("a symbolic link" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode)
            else "a file" if stat.S_ISREG(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket")


def layout_problem(run_dir: Path) -> tuple[Path | None, str]:
    """(the first path in a run's folder that is not as the harness writes it, why): a file
    where a folder belongs, a link, a FIFO. (None, "") when the layout is sound."""
    if not os.path.lexists(run_dir):
        return None, ""
    expected = [(run_dir, "a folder")]
    if _kind(run_dir) == "a folder":
        expected += [(Path(e.path), "a folder" if e.name in ("attempts", "quarantine") else "a file")
                     for e in os.scandir(run_dir)]
        attempts = run_dir / "attempts"
        if os.path.lexists(attempts) and _kind(attempts) == "a folder":
            expected += [(Path(e.path), "a folder") for e in os.scandir(attempts) if e.name.isdigit()]
    for path, want in expected:
        got = _kind(path)
        if got != want:
            return path, f"{path.relative_to(run_dir.parent)} is {got}, expected {want}"
    return None, ""


_SUMMARIES: dict[tuple, tuple[dict[str, Any] | None, str]] = {}
"""Parsed summary.csv files of this process, by (run id, digest of the bytes)."""


class Store:
    """Where runs live: ``<root>/runs/<run_id>/``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.runs = self.root / "runs"

    # ----------------------------------------------------------------- paths
    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def lock_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "lock"

    def attempt_dir(self, run_id: str, attempt: int) -> Path:
        return self.run_dir(run_id) / "attempts" / str(attempt)

    def attempts(self, run_id: str) -> list[int]:
        folder = self.run_dir(run_id) / "attempts"
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())

    def new_attempt(self, run_id: str) -> int:
        attempt = max(self.attempts(run_id), default=0) + 1
        self.attempt_dir(run_id, attempt).mkdir(parents=True)
        return attempt

    def artefact(self, run_id: str, name: str) -> Path:
        """A file of the published attempt."""
        row = self.summary(run_id) or {}
        attempt = row.get("attempt")
        if not isinstance(attempt, (int, float)) or attempt != attempt:
            raise FileNotFoundError(f"run {run_id} has no published attempt")
        return self.attempt_dir(run_id, int(attempt)) / name

    def clean_tmp(self, run_id: str) -> list[Path]:
        """Remove temporaries dead processes left in the run's folder and its attempts."""
        folders = [self.run_dir(run_id)] + [self.attempt_dir(run_id, a) for a in self.attempts(run_id)]
        return [p for folder in folders for p in clean_tmp(folder)]

    # ----------------------------------------------------------------- published result
    def read_summary(self, run_id: str) -> tuple[dict[str, Any] | None, str]:
        """(published row, problem): the row is None when absent or unreadable. The same bytes
        are parsed once per process (a sweep asks for each summary many times)."""
        path = self.run_dir(run_id) / "summary.csv"
        try:
            data = read_regular(path)
        except NotARegularFile as exc:
            return None, str(exc)
        except OSError:
            return None, ""
        key = (run_id, hashlib.sha256(data).digest())
        if key not in _SUMMARIES:
            _SUMMARIES[key] = self._parse_summary(data, run_id)
        row, problem = _SUMMARIES[key]
        return (dict(row) if row is not None else None), problem

    @staticmethod
    def _parse_summary(data: bytes, run_id: str) -> tuple[dict[str, Any] | None, str]:
        import pandas as pd

        text, problem = unsealed(data)
        if problem:
            return None, problem
        try:
            frame = pd.read_csv(io.BytesIO(text), keep_default_na=False, na_values=[""], dtype=ID_COLUMNS)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            return None, f"summary.csv is unreadable ({type(exc).__name__}: {str(exc)[:80]})"
        if len(frame) != 1:
            return None, f"summary.csv has {len(frame)} rows, expected 1"
        row = frame.to_dict("records")[0]
        if row.get("run_id") != run_id or row.get("status") not in (DONE, FAILED):
            return None, "summary.csv is incomplete (no run_id / status columns or wrong values)"
        if not isinstance(row.get("error"), str):
            row["error"] = ""
        impossible = value_problems(row) if row["status"] == DONE else []
        if impossible:
            return None, f"summary.csv holds impossible values: {', '.join(impossible)}"
        return row, ""

    def summary(self, run_id: str) -> dict[str, Any] | None:
        return self.read_summary(run_id)[0]

    def verify(self, run_id: str) -> tuple[str, str]:
        """(status, problem): done only if the summary is whole and every checksum matches."""
        damaged, problem = layout_problem(self.run_dir(run_id))
        if damaged:
            return CORRUPT, problem
        row, problem = self.read_summary(run_id)
        if problem:
            return CORRUPT, problem
        if row is None:
            return (PARTIAL, "") if self.attempts(run_id) else (TODO, "")
        if row["status"] == FAILED:
            return FAILED, ""
        try:
            artefacts = json.loads(row.get("artefacts") or "")
            attempt_dir = self.artefact(run_id, "")
        except (ValueError, TypeError, FileNotFoundError):
            return CORRUPT, "summary.csv carries no checksums (written by an older version?)"
        for name, digest in artefacts.items():
            path = attempt_dir / name
            if not path.exists():
                return CORRUPT, f"{path.relative_to(self.runs)} is missing"
            try:
                same = stamped_sha256(path) == digest
            except OSError as exc:
                return CORRUPT, f"{path.relative_to(self.runs)} cannot be read ({exc})"
            if not same:
                return CORRUPT, f"{path.relative_to(self.runs)} does not match its checksum"
        return DONE, ""

    def status(self, run_id: str) -> str:
        return self.verify(run_id)[0]

    def error(self, run_id: str) -> str:
        return str((self.summary(run_id) or {}).get("error", ""))

    def publish(self, run_id: str, attempt: int | None, row: dict[str, Any]) -> None:
        """Record ``row`` as the run's result, with the checksums of the attempt's files.

        The attempt gets its own copy of the row; the run's summary.csv is replaced last,
        in one rename, so readers see either the old result or the complete new one.
        """
        row = dict(row, attempt=attempt)
        if attempt is not None:
            folder = self.attempt_dir(run_id, attempt)
            row["artefacts"] = json.dumps({p.name: sha256(p) for p in sorted(folder.iterdir())
                                           if p.is_file() and p.name not in NOT_ARTEFACTS
                                           and not TMP.match(p.name)}, sort_keys=True)
            atomic_write_text(folder / "summary.csv", sealed_csv(row))
        atomic_write_text(self.run_dir(run_id) / "summary.csv", sealed_csv(row))

    def write_summary(self, run_id: str, row: dict[str, Any]) -> None:
        """Publish a result that has no attempt (a run failed before it could start)."""
        self.publish(run_id, None, row)

    def quarantine(self, run_id: str, problem: str, attempt: int | None = None) -> Path:
        """Move damage aside (kept for inspection, with ``why.txt``) so the run reruns:
        ``attempt`` if given, else the published result and the attempt it names."""
        target = self.run_dir(run_id) / "quarantine" / time.strftime("%Y%m%dT%H%M%S")
        target.mkdir(parents=True, exist_ok=True)
        summary = self.run_dir(run_id) / "summary.csv"
        if attempt is None:
            published = (self.summary(run_id) or {}).get("attempt")
            attempt = int(published) if isinstance(published, (int, float)) and published == published else None
            if summary.exists():
                shutil.move(str(summary), str(target / "summary.csv"))
        if attempt is not None and self.attempt_dir(run_id, attempt).exists():
            shutil.move(str(self.attempt_dir(run_id, attempt)), str(target / str(attempt)))
        (target / "why.txt").write_text(problem + "\n")
        return target

    def set_aside_damaged_layout(self, run_id: str) -> list[Path]:
        """Move what ``layout_problem`` finds out of the run's way (a damaged run folder
        itself beside it, as ``<run_id>.damaged-<time>``), each with a ``why.txt``; return
        where they went."""
        moved = []
        for _ in range(64):  # each pass moves one thing; a folder has no more than this
            damaged, problem = layout_problem(self.run_dir(run_id))
            if damaged is None:
                break
            stamp = time.strftime("%Y%m%dT%H%M%S")
            if damaged == self.run_dir(run_id):
                target = self.runs / f"{run_id}.damaged-{stamp}-{len(moved)}"
                os.rename(damaged, target)
                (self.runs / f"{target.name}.why.txt").write_text(problem + "\n")
            else:
                folder = self.run_dir(run_id) / "quarantine" / f"{stamp}-{len(moved)}"
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / damaged.name
                os.rename(damaged, target)
                (folder / "why.txt").write_text(problem + "\n")
            moved.append(target)
        return moved

    # ----------------------------------------------------------------- bulk reads
    def summaries(self, run_ids: Iterable[str]) -> pd.DataFrame:
        import pandas as pd

        rows = [s for s in (self.summary(r) for r in run_ids) if s is not None]
        return pd.DataFrame(rows)

    def curves(self, run_ids: Iterable[str]) -> pd.DataFrame:
        import pandas as pd

        frames = []
        for run_id in run_ids:
            try:
                path = self.artefact(run_id, "curve.csv")
            except FileNotFoundError:
                continue
            if path.exists() and path.stat().st_size:
                frames.append(pd.read_csv(path).assign(run_id=run_id))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
