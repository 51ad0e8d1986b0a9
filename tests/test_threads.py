"""Threads per run: a pinned number or ``auto`` chosen from the run's data and the machine."""
from __future__ import annotations


import pytest

from bench.run import threads
from bench.errors import UserError
from bench.config import AUTO, parse_threads
from bench.plan.grid import suite_path
from bench.run.threads import default_workers, threads_for
from tests.conftest import make_spec, run_cli


@pytest.mark.parametrize("given, parsed", [(None, AUTO), ("auto", AUTO), ("3", 3), (2, 2)])
def test_parse_threads_accepts_auto_and_whole_numbers(given, parsed):
    assert parse_threads(given) == parsed


@pytest.mark.parametrize("given", ["0", "-3", "x", "1.5", 0])
def test_parse_threads_names_what_is_accepted(given):
    with pytest.raises(UserError, match="must be 'auto' or a whole number of at least 1"):
        parse_threads(given, "profiles.quick.threads")


def test_auto_gives_tabular_runs_one_thread_and_image_runs_the_cores_up_to_the_cap(monkeypatch):
    image, tabular = make_spec("teacher", "cnn8", {}), make_spec("teacher", "cnn8", {}, dataset="magic")
    monkeypatch.setattr(threads, "busy_cores", lambda: 0)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert (threads_for(AUTO, image), threads_for(AUTO, tabular)) == (2, 1)
    monkeypatch.setattr(threads, "available_cores", lambda: 64)
    assert threads_for(AUTO, image) == threads.AUTO_CAP
    assert threads_for(5, tabular) == 5  # a pinned count is what it says


@pytest.mark.parametrize("cores,busy,expected", [(2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 7, 1), (16, 10, 6)])
def test_auto_leaves_the_cores_other_work_is_busy_on(monkeypatch, cores, busy, expected):
    image = make_spec("teacher", "cnn8", {})
    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    monkeypatch.setattr(threads, "busy_cores", lambda: busy)
    assert threads_for(AUTO, image) == expected
    assert threads_for(3, image) == 3  # a pinned count is what it says, busy or not


def test_busy_cores_sees_a_cpu_bound_process_beside_it():
    import subprocess
    import sys
    import time

    threads._LOAD.clear()
    idle = threads.busy_cores()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)
        threads._LOAD.clear()
        assert threads.busy_cores() >= min(idle + 2, 2)
    finally:
        for b in burners:
            b.kill()
        threads._LOAD.clear()


def test_local_workers_default_to_what_the_cores_hold(monkeypatch):
    image, tabular = make_spec("teacher", "cnn8", {}), make_spec("teacher", "cnn8", {}, dataset="magic")
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_cores", lambda: 0)
    assert default_workers([tabular], AUTO) == 4
    assert default_workers([tabular, image], AUTO) == 1
    assert default_workers([image], 2) == 2


def test_profile_threads_apply_and_the_flag_overrides_them(tmp_path):
    suite = tmp_path / "pinned.yaml"
    text = suite_path("dfkd_small").read_text().replace("    description: seconds; used by the end-to-end test\n",
                                       "    description: seconds; used by the end-to-end test\n    threads: 1\n", 1)
    suite.write_text(text)
    out = run_cli("--suite", str(suite), "--profile", "smoke", "--dry-run")
    assert out.returncode == 0 and "1 thread(s) per run" in out.stdout, out.stderr
    out = run_cli("--suite", str(suite), "--profile", "smoke", "--dry-run", "--threads", "auto")
    assert "threads per run: auto (" in out.stdout
    suite.write_text(text.replace("    threads: 1\n", "    threads: none\n", 1))
    out = run_cli("--suite", str(suite), "--profile", "smoke", "--dry-run")
    assert out.returncode == 2 and "profiles.smoke.threads must be 'auto' or a whole number" in out.stderr
    assert "Traceback" not in out.stderr


def test_numerics_flush_denormals_so_decayed_weights_cost_no_extra_time():
    """A run's numerics flush denormal floats to zero (x86 and ARM CPUs can): weights decayed
    towards zero would otherwise slow every step that touches them several times over."""
    import torch

    from bench.results.fingerprint import numerics

    pinned = numerics(torch.get_num_threads(), "cpu")
    assert pinned["flush_denormal"] is True
    assert torch.tensor([1e-39]).mul(1.0).item() == 0.0  # a float32 denormal, flushed
