"""Atomic writes, run status, and checkpoint/resume giving the same result as one go."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench import context
from bench.context import RunContext
from bench.errors import Preempted
from bench.spec import RunSpec, freeze
from bench.results.store import Store, atomic_write_bytes


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path: Path):
    path = tmp_path / "summary.csv"
    atomic_write_bytes(path, b"old")

    class Boom(bytes):
        pass

    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # type: ignore[arg-type]  # fails mid-write
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]  # no temp file left


def test_status_says_how_far_an_unfinished_run_got_and_when_it_last_moved(tmp_path: Path):
    """--status under a running or interrupted run: its newest attempt's last step, epoch, accuracy
    and best so far, and how long ago it logged and checkpointed (a run that stopped moving shows)."""
    import os

    from bench.report.terminal import progress_text

    store = Store(tmp_path)
    assert progress_text(store, "abc") == ""  # nothing started
    folder = store.attempt_dir("abc", store.new_attempt("abc"))
    assert progress_text(store, "abc") == ""  # started, nothing logged yet
    (folder / "curve.csv").write_text("step,epoch,loss,acc\n100,1.0,2.0,0.5\n200,2.0,1.5,0.7\n300,3.0,nan,0.6\n")
    (folder / "checkpoint.pt").write_bytes(b"state")
    now = 1_000_000.0
    os.utime(folder / "curve.csv", (now - 30, now - 30))
    os.utime(folder / "checkpoint.pt", (now - 2 * 3600 - 5 * 60, now - 2 * 3600 - 5 * 60))
    assert progress_text(store, "abc", now) == ("at step 300 (epoch 3), acc 0.6000 (best so far 0.7000); "
                                                "logged just now, checkpointed 2 h 05 min ago")
    later = store.attempt_dir("abc", store.new_attempt("abc"))  # a retry: its own attempt counts
    (later / "curve.csv").write_text("step,loss_g\n12345,0.1\n")
    os.utime(later / "curve.csv", (now - 7 * 60, now - 7 * 60))
    assert progress_text(store, "abc", now) == "at step 12,345; logged 7 min ago, no checkpoint yet"


def test_status_transitions(tmp_path: Path):
    store = Store(tmp_path)
    assert store.status("abc") == "todo"
    first = store.new_attempt("abc")
    assert store.status("abc") == "partial"
    store.publish("abc", first, {"run_id": "abc", "status": "failed", "error": "boom"})
    assert store.status("abc") == "failed" and store.error("abc") == "boom"
    second = store.new_attempt("abc")
    (store.attempt_dir("abc", second) / "model.pt").write_bytes(b"weights")
    store.publish("abc", second, {"run_id": "abc", "status": "done", "error": ""})
    assert store.status("abc") == "done" and store.error("abc") == ""
    assert store.artefact("abc", "model.pt") == store.attempt_dir("abc", 2) / "model.pt"
    (store.attempt_dir("abc", second) / "model.pt").write_bytes(b"garbage")
    assert store.verify("abc") == ("corrupt", "abc/attempts/2/model.pt does not match its checksum")


SPEC = RunSpec("toy", "digits", 3, "cnn8_half", freeze({}))


def toy_training(ctx: RunContext, stop_at: int | None = None) -> torch.Tensor:
    """A small loop using the global RNG, ctx.generator, an optimizer and a scheduler."""
    torch.manual_seed(0) if not ctx.checkpoint_path.exists() else None
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 5)
    ctx.track(model=model, opt=opt, sched=sched)
    for step in ctx.steps(20):
        x = torch.randn(8, 4) + torch.rand(1, generator=ctx.generator)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        ctx.log(step, loss=loss.item())
        if stop_at is not None and step == stop_at:
            context.STOP.set()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_resume_after_preemption_matches_uninterrupted(tmp_path: Path):
    straight = toy_training(RunContext(SPEC, Store(tmp_path / "a"), tmp_path, torch.device("cpu")))
    ctx = RunContext(SPEC, Store(tmp_path / "b"), tmp_path, torch.device("cpu"))
    try:
        with pytest.raises(Preempted):
            toy_training(ctx, stop_at=7)
    finally:
        context.STOP.clear()
    assert ctx.checkpoint_path.exists()
    resumed_ctx = RunContext(SPEC, Store(tmp_path / "b"), tmp_path, torch.device("cpu"))
    resumed = toy_training(resumed_ctx)
    assert torch.allclose(straight, resumed)
    steps = [row["step"] for row in resumed_ctx.curve]
    assert steps == list(range(20))  # no duplicated or missing curve rows


def test_periodic_checkpoint_is_written(tmp_path: Path):
    ctx = RunContext(SPEC, Store(tmp_path), tmp_path, torch.device("cpu"), checkpoint_seconds=0.0)
    toy_training(ctx)
    saved = torch.load(ctx.checkpoint_path, weights_only=False)
    assert saved["next_step"] == 19 and len(saved["curve"]) == 19


def test_run_ids_that_look_like_numbers_stay_strings(tmp_path: Path):
    store = Store(tmp_path)
    for run_id in ("9284223143e98332", "0000000000000123"):
        store.write_summary(run_id, {"run_id": run_id, "teacher_run_id": run_id, "status": "done"})
        assert store.summary(run_id)["run_id"] == run_id
        assert store.summary(run_id)["teacher_run_id"] == run_id
    assert sorted(store.summaries(["9284223143e98332", "0000000000000123"])["run_id"]) == [
        "0000000000000123", "9284223143e98332"]


def test_an_attempt_killed_before_its_spec_was_written_is_reused_not_left_behind(tmp_path: Path):
    """A kill between creating attempts/1 and writing its spec.json leaves an empty folder:
    the restart reuses it (no orphan attempt), but never an attempt another code made."""
    from bench.run.runner import resumable_attempt

    store = Store(tmp_path)
    record = {"code_fingerprint": "abc", "numerics": {"threads": 1}}
    first = store.new_attempt("run")
    (store.attempt_dir("run", first) / "spec.json.123.tmp").write_text("{")
    assert resumable_attempt(store, "run", record) == first
    (store.attempt_dir("run", first) / "spec.json").write_text('{"code_fingerprint": "old"}')
    assert resumable_attempt(store, "run", record) is None
