"""Tables, report and figures are rebuilt only when something they are made of changed."""
from __future__ import annotations

import os

from bench.results import manifest as outputs
from bench.results.states import RunState
from bench.results.manifest import cached_summary, inputs_key, save_manifest
from bench.results.store import Store


def test_the_key_follows_the_plan_command_commit_states_and_published_summaries(tmp_path):
    store = Store(tmp_path / "results")
    (store.run_dir("r1")).mkdir(parents=True)
    summary = store.run_dir("r1") / "summary.csv"
    summary.write_text("run_id,status\nr1,done\n")
    known = {"r1": RunState("done")}
    key = inputs_key("plan", known, store, "python run_all.py", "abc")
    assert inputs_key("plan", known, store, "python run_all.py", "abc") == key
    assert inputs_key("other plan", known, store, "python run_all.py", "abc") != key
    assert inputs_key("plan", known, store, "python run_all.py --seeds 0", "abc") != key
    assert inputs_key("plan", known, store, "python run_all.py", "def") != key
    assert inputs_key("plan", {"r1": RunState("stale", "code changed")}, store, "python run_all.py", "abc") != key
    stamp = summary.stat().st_mtime_ns
    summary.write_text("run_id,status\nr1,done\n")  # republished: a new file, a new time
    os.utime(summary, ns=(stamp + 10**9, stamp + 10**9))
    assert inputs_key("plan", known, store, "python run_all.py", "abc") != key


def test_a_saved_summary_is_returned_only_while_every_output_is_as_written(tmp_path):
    out = tmp_path / "tables"
    (out / "figures").mkdir(parents=True)
    (out / "t.md").write_text("| a |\n")
    (out / "figures" / "f.png").write_bytes(b"png")
    save_manifest(out, "k", "summary text")
    assert cached_summary(out, "k") == "summary text"
    assert cached_summary(out, "other key") is None
    stamp = (out / "t.md").stat().st_mtime_ns
    (out / "t.md").write_text("| b |\n")  # someone edited an output
    os.utime(out / "t.md", ns=(stamp + 10**9, stamp + 10**9))
    assert cached_summary(out, "k") is None
    save_manifest(out, "k", "summary text")
    (out / "figures" / "f.png").unlink()
    assert cached_summary(out, "k") is None
    assert outputs.MANIFEST not in outputs.outputs_of(out)
