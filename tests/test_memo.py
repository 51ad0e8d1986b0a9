"""A finished sweep's rerun answered from its record (bench/memo.py), and every change that
must send it down the full path instead."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import memo, store
from bench.store import file_stamp
from tests.conftest import ROOT

LINES = {"stderr": "3 runs already done, nothing to train", "stdout": "table\nclaim DFAD > DAFL: holds"}


@pytest.fixture
def finished(tmp_path, monkeypatch):
    """A results folder with a run and a table, one input file this process stamped, and a
    record saved for it."""
    monkeypatch.setattr(memo, "UNTRACKED", [])
    monkeypatch.setattr(store, "SEEN", {})  # this process's earlier tests stamped other files
    results, out_dir = tmp_path / "results", tmp_path / "results" / "tables" / "s"
    (results / "runs" / "abc").mkdir(parents=True)
    (results / "runs" / "abc" / "summary.csv").write_text("acc\n0.9\n")
    out_dir.mkdir(parents=True)
    (out_dir / "t.md").write_text("| a |\n")
    source = tmp_path / "data.bin"
    source.write_bytes(b"0123")
    file_stamp(source)
    key = memo.command_key(["--suite", "s"])
    before = memo.runs_files(results, out_dir)
    assert memo.save(key, results, out_dir, before, LINES)
    # file times come from the kernel's coarse clock (ticks of up to 10 ms): let one pass, so that a
    # change a test makes is not stamped within the tick the record saw
    time.sleep(0.05)
    return {"results": results, "out_dir": out_dir, "source": source, "key": key}


def test_an_unchanged_record_prints_its_lines(finished, capsys):
    assert memo.replay(finished["key"], finished["results"])
    out = capsys.readouterr()
    assert out.err == LINES["stderr"] + "\n" and out.out == LINES["stdout"] + "\n"


def rewrite_same_size_and_date(path: Path) -> None:
    st = path.stat()
    path.write_bytes(path.read_bytes()[::-1])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("change", [
    "input rewritten, same size and date", "input removed", "run file changed", "run file added",
    "run file removed", "table removed", "other command"])
def test_any_change_takes_the_full_path(finished, change, capsys):
    results, out_dir, source, key = finished["results"], finished["out_dir"], finished["source"], finished["key"]
    if change == "input rewritten, same size and date":
        rewrite_same_size_and_date(source)
    elif change == "input removed":
        source.unlink()
    elif change == "run file changed":
        (results / "runs" / "abc" / "summary.csv").write_text("acc\n0.1\n")
    elif change == "run file added":
        (results / "runs" / "abc" / "checkpoint.pt").write_bytes(b"")
    elif change == "run file removed":
        (results / "runs" / "abc" / "summary.csv").unlink()
    elif change == "table removed":
        (out_dir / "t.md").unlink()
    else:
        key = memo.command_key(["--suite", "s", "--seeds", "0"])
    assert not memo.replay(key, results)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("damage", ["not json", "[]", '{"key": "other"}', "fields missing", "bad stream"])
def test_a_damaged_record_takes_the_full_path(finished, damage, capsys):
    path = memo.record_path(finished["results"], finished["key"])
    record = json.loads(path.read_text())
    text = {"not json": "{", "[]": "[]", '{"key": "other"}': '{"key": "other"}',
            "fields missing": json.dumps({"key": finished["key"]}),
            "bad stream": json.dumps({**record, "lines": {"stdin": "x"}})}[damage]
    path.write_text(text)
    assert not memo.replay(finished["key"], finished["results"])
    assert capsys.readouterr().out == ""


def test_the_environment_the_harness_reads_is_part_of_the_command(monkeypatch):
    key = memo.command_key(["--suite", "s"])
    monkeypatch.setenv("BENCH_DATA", "/elsewhere")
    assert memo.command_key(["--suite", "s"]) != key
    monkeypatch.delenv("BENCH_DATA")
    monkeypatch.setenv("TERM", "dumb")  # not read by the harness
    assert memo.command_key(["--suite", "s"]) == key


def test_no_record_when_the_verdict_cannot_be_checked_by_stamps(tmp_path, monkeypatch):
    results, out_dir = tmp_path / "results", tmp_path / "results" / "tables"
    out_dir.mkdir(parents=True)
    key = memo.command_key(["--suite", "s"])
    monkeypatch.setattr(store, "SEEN", {})
    monkeypatch.setattr(memo, "UNTRACKED", ["dataset usps declares no source files"])
    assert not memo.save(key, results, out_dir, memo.runs_files(results, out_dir), LINES)
    monkeypatch.setattr(memo, "UNTRACKED", [])
    before = memo.runs_files(results, out_dir)
    (results / "new_run.csv").write_text("x")  # another process wrote while the verdict was reached
    assert not memo.save(key, results, out_dir, before, LINES)
    seen = tmp_path / "code.py"
    seen.write_text("a = 1\n")
    file_stamp(seen)
    seen.write_text("a = 2\n")  # changed after this process read it
    assert not memo.save(key, results, out_dir, memo.runs_files(results, out_dir), LINES)
    assert not (results / memo.FOLDER).exists()


def cli_in_a_process(args: list[str]) -> tuple[dict, str]:
    """run_all.main(args) in a fresh interpreter: its exit code, whether it imported torch,
    and what it printed."""
    code = ("import json, sys, run_all; rc = run_all.main(json.loads(sys.argv[1])); "
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    *printed, last = out.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(printed) + out.stderr


def test_a_finished_sweep_is_answered_without_torch_until_a_run_changes(tmp_path):
    args = ["--suite", "dfkd_small", "--profile", "smoke", "--experiment", "mad_table10",
            "--results-dir", str(tmp_path / "results")]
    first, trained = cli_in_a_process(args)
    assert first == {"rc": 0, "torch": True} and "1 run(s) trained (1 done, 0 failed)" in trained
    again, replayed = cli_in_a_process(args)
    assert again == {"rc": 0, "torch": False}, replayed
    assert "1 run already done, nothing to train" in replayed and "| Teacher |" in replayed
    summary = next((tmp_path / "results" / "runs").glob("*/summary.csv"))
    summary.touch()  # a run's published result written again: checked the full way
    third, checked = cli_in_a_process(args)
    assert third == {"rc": 0, "torch": True}
    assert checked == replayed  # the full way finds what the record said
    assert cli_in_a_process(args)[0] == {"rc": 0, "torch": False}  # and records it again
