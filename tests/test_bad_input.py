"""A corpus of bad inputs and bad states: each ends with a clear message and the right exit
code, never a traceback, and never changes a finished run.

Bad input (flags, suite files, data files, environment) exits 2 before anything runs.
Bad state (damaged result files, leftovers of a kill -9) is reported, set aside and rerun
(exit 0). One finished sweep is shared by all cases; after each case its files must be
byte-identical.
"""
from __future__ import annotations

import copy
import gzip
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

import run_all
from tests.conftest import run_cli

SUITE = {
    "name": "tiny",
    "papers": [],
    "profiles": {"smoke": {
        "datasets": ["digits"], "seeds": [0],
        "pairs": {"digits": {"name": "cnn8", "teacher": "cnn8", "student": "cnn8_half"},
                  "mnist": {"name": "lenet", "teacher": "lenet5", "student": "lenet5_half"}},
        "params": {"teacher": {"epochs": 1, "batch_size": 128, "lr": 0.05},
                   "kd": {"epochs": 1, "batch_size": 128}},
    }},
    "experiments": [{"id": "e", "methods": [{"method": "teacher"}, {"method": "kd", "label": "KD"}]}],
    "tables": [{"id": "t", "experiment": "e", "rows": "label", "cols": "dataset", "metric": "acc_best"}],
    "claims": [{"claim": "Teacher > KD", "table": "t"}],
}


def snapshot(results: Path) -> dict[str, bytes]:
    """Every byte of every run except the lock files (rewritten by whoever takes them)."""
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*"))
            if p.is_file() and p.name != "lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> dict:
    """A results dir with the tiny suite finished, and its byte snapshot."""
    root = tmp_path_factory.mktemp("finished")
    suite = root / "tiny.yaml"
    suite.write_text(yaml.safe_dump(SUITE))
    results, tables = root / "results", root / "tables"
    assert run_all.main(["--suite", str(suite), "--profile", "smoke", "--results-dir", str(results),
                         "--tables-dir", str(tables)]) == 0
    return {"root": root, "suite": suite, "results": results, "tables": tables, "bytes": snapshot(results)}


def cli(capsys, *argv: str) -> tuple[int, str]:
    """run_all.main in this process: (exit code, stderr + stdout). argparse errors exit 2 too."""
    try:
        code = run_all.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.err + out.out


def base(f: dict, *extra: str) -> list[str]:
    return ["--suite", str(f["suite"]), "--profile", "smoke", "--results-dir", str(f["results"]),
            "--tables-dir", str(f["tables"]), *extra]


FLAG_CASES = [
    (["--device", "nosuch"], "is not a torch device"),
    (["--device", "cuda:3"], "--device cuda:3"),
    (["--device", "cuda"], "--device cuda"),
    (["--device", "gpu"], "is not a torch device"),
    (["--device", "cpu:x"], "is not a torch device"),
    (["--device", "meta"], "is not supported"),
    (["--seeds", "-1"], "seeds must be integers from 0 to 2,147,483,647"),
    (["--seeds", "0", "0"], "seed listed twice"),
    (["--seeds", "x"], "invalid int value"),
    (["--executor", "local", "--workers", "0"], "--workers must be at least 1"),
    (["--workers", "2"], "--workers applies to --executor local only"),
    (["--threads", "0"], "--threads must be 'auto' or a whole number of at least 1"),
    (["--threads", "-3"], "--threads must be 'auto' or a whole number of at least 1"),
    (["--executor", "nosuch"], "--executor 'nosuch' is unknown"),
    (["--profile", "nosuch"], "profile 'nosuch' is not defined"),
    (["--dry-run", "--status"], "cannot be combined"),
    (["--status", "--aggregate-only"], "cannot be combined"),
    (["--aggregate-only", "--rerun"], "runs nothing, so --rerun would be ignored"),
    (["--status", "--retry-failed"], "runs nothing, so --retry-failed would be ignored"),
    (["--status", "--download"], "runs nothing, so --download would be ignored"),
    (["--partition", "debug"], "only apply to --executor slurm"),
    (["--gpus", "1"], "only apply to --executor slurm"),
    (["--executor", "slurm", "--time-min", "1"], "--time-min 1 is too short"),
    (["--executor", "slurm", "--cpus", "0"], "--cpus must be at least 1"),
    (["--executor", "slurm", "--mem-gb", "-1"], "--mem-gb must be at least 1"),
    (["--executor", "slurm", "--gpus", "-1"], "--gpus must be at least 0"),
    (["--executor", "slurm", "--array-parallelism", "0"], "--array-parallelism must be at least 1"),
    (["--executor", "slurm", "--max-num-timeout", "-1"], "--max-num-timeout must be >= 0"),
    (["--executor", "local", "--time-min", "0"], "--time-min must be at least 1"),
    (["--time-min", "30"], "--time-min applies to --executor slurm or local only"),
    (["--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--dataset", "mnist", "--data-root", "/nonexistent/data"], "dataset 'mnist' not found"),
    (["--epochs", "3"], "unrecognized arguments"),
    (["--set", "dfad.epochs"], "expected METHOD.KEY=VALUE"),
    (["--set", "dfad.nosuch=3"], "unknown parameter 'nosuch' for DFADConfig"),
    (["--set", "dfad.epochs=0"], "must be at least 1"),
    (["--set", "nosuch.epochs=3"], "unknown method 'nosuch'"),
    (["--set", "kd.epochs=2", "--set", "kd.epochs=3"], "--set kd.epochs is given twice with different values"),
    (["--experiment", "nosuch"], "unknown experiment(s) nosuch"),
    (["--experiment", "e", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["--n-train", "0"], "training-set sizes >= 1"),
]


@pytest.mark.parametrize("extra,message", FLAG_CASES, ids=[" ".join(c[0]) for c in FLAG_CASES])
def test_bad_flag(finished, capsys, extra, message):
    code, text = cli(capsys, *base(finished, *extra))
    assert code == 2 and message in text and "Traceback" not in text, text
    assert snapshot(finished["results"]) == finished["bytes"]


def test_no_suite_and_unknown_suite(finished, capsys):
    code, text = cli(capsys)
    assert code == 2 and "--suite is required" in text
    code, text = cli(capsys, "--suite", "nosuch")
    assert code == 2 and "nosuch" in text and "Traceback" not in text


PATH_CASES = [
    ("results-file", lambda f: ["--results-dir", str(f["suite"])], "is a file, not a directory"),
    ("results-file-status", lambda f: ["--results-dir", str(f["suite"]), "--status"], "is a file"),
    ("results-file-dry-run", lambda f: ["--results-dir", str(f["suite"]), "--dry-run"], "is a file"),
    ("results-unwritable", lambda f: ["--results-dir", "/proc/advkd-results"], "is not writable"),
    ("tables-file", lambda f: ["--tables-dir", str(f["suite"])], "is a file, not a directory"),
    ("tables-unwritable", lambda f: ["--tables-dir", "/proc/advkd-tables"], "is not writable"),
    ("tables-file-aggregate", lambda f: ["--tables-dir", str(f["suite"]), "--aggregate-only"], "is a file"),
]


@pytest.mark.parametrize("name,extra,message", PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_bad_path(finished, capsys, name, extra, message):
    code, text = cli(capsys, *base(finished), *extra(finished))
    assert code == 2 and message in text and "Traceback" not in text, text
    assert snapshot(finished["results"]) == finished["bytes"]


@pytest.mark.parametrize("value", ["abc", "-5", "nan", ""])
def test_bad_checkpoint_interval(finished, capsys, monkeypatch, value):
    monkeypatch.setenv("BENCH_CHECKPOINT_SECONDS", value)
    code, text = cli(capsys, *base(finished, "--rerun"))
    assert code == 2 and "BENCH_CHECKPOINT_SECONDS" in text and "Traceback" not in text, text
    assert snapshot(finished["results"]) == finished["bytes"]


def smoke(doc: dict) -> dict:
    return doc["profiles"]["smoke"]


SUITE_CASES = [
    ("epochs 0", lambda d: smoke(d)["params"]["kd"].update(epochs=0), "epochs: must be at least 1"),
    ("epochs -1", lambda d: smoke(d)["params"]["teacher"].update(epochs=-1), "must be at least 1"),
    ("epochs 1.5", lambda d: smoke(d)["params"]["kd"].update(epochs=1.5), "expected int"),
    ("epochs true", lambda d: smoke(d)["params"]["kd"].update(epochs=True), "expected int"),
    ("batch 0", lambda d: smoke(d)["params"]["kd"].update(batch_size=0), "batch_size: must be at least 1"),
    ("lr negative", lambda d: smoke(d)["params"]["kd"].update(lr=-0.1), "lr: must be > 0"),
    ("lr zero", lambda d: smoke(d)["params"]["teacher"].update(lr=0), "lr: must be > 0"),
    ("lr nan", lambda d: smoke(d)["params"]["kd"].update(lr=float("nan")), "not a finite number"),
    ("lr inf", lambda d: smoke(d)["params"]["kd"].update(lr=float("inf")), "not a finite number"),
    ("lr word", lambda d: smoke(d)["params"]["kd"].update(lr="fast"), "expected float"),
    ("weight decay", lambda d: smoke(d)["params"]["kd"].update(weight_decay=-1), "must be >= 0"),
    ("temperature 0", lambda d: smoke(d)["params"]["kd"].update(temperature=0), "temperature: must be > 0"),
    ("milestone", lambda d: smoke(d)["params"]["kd"].update(lr_milestones=[-1]), "must be >= 0"),
    ("unknown param", lambda d: smoke(d)["params"]["kd"].update(epoch=3), "unknown parameter 'epoch'"),
    ("n_train 0", lambda d: smoke(d).update(n_train=[0]), "training-set sizes >= 1"),
    ("n_train -5", lambda d: smoke(d).update(n_train=[-5]), "training-set sizes >= 1"),
    ("n_train word", lambda d: smoke(d).update(n_train=["many"]), "training-set sizes >= 1"),
    ("n_train scalar", lambda d: smoke(d).update(n_train=100), "expected a non-empty list"),
    ("n_train too big", lambda d: smoke(d).update(n_train=[100000]), "n_train=100000 is larger"),
    ("seeds -1", lambda d: smoke(d).update(seeds=[-1]), "seeds must be integers from 0 to 2,147,483,647"),
    ("seeds twice", lambda d: smoke(d).update(seeds=[0, 0]), "seed listed twice"),
    ("seeds word", lambda d: smoke(d).update(seeds=["a"]), "seeds must be integers"),
    ("no datasets", lambda d: smoke(d).update(datasets=[]), "expected a non-empty list"),
    ("unknown dataset", lambda d: smoke(d).update(datasets=["nosuch"]), "unknown dataset 'nosuch'"),
    ("no pair for dataset", lambda d: smoke(d).update(datasets=["usps"]), "no teacher/student pair"),
    ("unknown net", lambda d: smoke(d)["pairs"]["digits"].update(student="nosuch"), "unknown net 'nosuch'"),
    ("unknown method", lambda d: d["experiments"][0]["methods"].append({"method": "nosuch"}),
     "unknown method 'nosuch'"),
    ("duplicate experiment", lambda d: d["experiments"].append(copy.deepcopy(d["experiments"][0])),
     "experiment id 'e' is used twice"),
    ("duplicate table", lambda d: d["tables"].append(copy.deepcopy(d["tables"][0])), "table id 't' is used twice"),
    ("unknown experiment pair", lambda d: d["experiments"][0].update(pairs=["resnet"]), "unknown pair 'resnet'"),
    ("unknown variant pair", lambda d: d["experiments"][0]["methods"][1].update(pairs=["wrn"]),
     "unknown pair 'wrn'"),
    ("table of unknown experiment", lambda d: d["tables"][0].update(experiment="x"), "unknown experiment 'x'"),
    ("table metrics not a mapping", lambda d: d["tables"][0].update(metrics=["p_at_3"]),
     "metrics: expected a mapping of summary column -> header"),
    ("claim of unknown row", lambda d: d["claims"].append({"claim": "KD > Nope", "table": "t"}), "Nope"),
    ("unknown profile key", lambda d: smoke(d).update(epochs=3), "unknown key 'epochs'"),
    ("unknown top key", lambda d: d.update(runs=3), "unknown key 'runs'"),
    ("missing profiles", lambda d: d.pop("profiles"), "missing required key 'profiles'"),
    ("slurm key", lambda d: d.update(slurm={"gpu": 1}), "unknown key 'gpu'"),
    ("example_data word", lambda d: smoke(d).update(example_data="yes"), "example_data: expected true or false"),
    ("sampler on a method that samples from none", lambda d: d["experiments"][0]["methods"][1].update(
        sampler={"epochs": 1}), "'kd' does not sample from one"),
    ("a role the pair cannot make", lambda d: d["experiments"][0]["methods"].append({"method": "gan_tsc"}),
     "the pair has no 'sampler' net"),
    # types: every name is a text, every params block a mapping
    ("suite name a number", lambda d: d.update(name=5), "suite.name: expected a non-empty text, got 5"),
    ("experiment id a number", lambda d: d["experiments"][0].update(id=3), "experiments[0].id: expected a non-empty text"),
    ("experiment id a list", lambda d: d["experiments"][0].update(id=["a"]), "id: expected a non-empty text"),
    ("table experiment a number", lambda d: d["tables"][0].update(experiment=5), "experiment: expected a non-empty text"),
    ("method a number", lambda d: d["experiments"][0]["methods"][0].update(method=7), "method: expected a non-empty text"),
    ("method a list", lambda d: d["experiments"][0]["methods"][0].update(method=["kd"]), "method: expected a non-empty"),
    ("label a number", lambda d: d["experiments"][0]["methods"][1].update(label=4), "label: expected a non-empty text"),
    ("label a mapping", lambda d: d["experiments"][0]["methods"][1].update(label={"a": 1}), "label: expected a non-empty"),
    ("label empty", lambda d: d["experiments"][0]["methods"][1].update(label=" "), "label: expected a non-empty text"),
    ("datasets a word", lambda d: smoke(d).update(datasets="digits"), "datasets: expected a non-empty list"),
    ("claim a number", lambda d: d["claims"][0].update(claim=5), "claims[0].claim: expected a non-empty text"),
    ("method params a list", lambda d: smoke(d)["params"].update(kd=["x"]), "params.kd: expected a mapping"),
    ("variant params a word", lambda d: d["experiments"][0]["methods"][1].update(params="x"), "params: expected a mapping"),
    ("table rows naming nothing", lambda d: d["tables"][0].update(rows="nosuch"), "rows: 'nosuch' names no property"),
    ("table cols naming nothing", lambda d: d["tables"][0].update(cols="dataset+nosuch"), "names no property"),
    ("table metric no method reports", lambda d: d["tables"][0].update(metric="acc_bset"),
     "tables[0].metric: 'acc_bset' is reported by none of the methods of experiment 'e' (kd, teacher); "
     "they report: acc, acc_best, acc_last, accuracy, auc"),
    ("table metrics one no method reports",
     lambda d: d["tables"][0].update(metrics={"acc_best": "Best", "miou": "mIoU"}),
     "tables[0].metrics: 'miou' is reported by none of the methods"),
    ("gain over a metric no method reports",
     lambda d: d["tables"][0].update(gain={"over": "Teacher", "metrics": ["acc_ens"]}),
     "tables[0].gain.metrics: 'acc_ens' is reported by none of the methods"),
    # limits
    ("epochs 10**30", lambda d: smoke(d)["params"]["kd"].update(epochs=10**30), "is too large; whole numbers up to"),
    ("batch 2**70", lambda d: smoke(d)["params"]["kd"].update(batch_size=2**70), "is too large"),
    ("seed 2**70", lambda d: smoke(d).update(seeds=[2**70]), "seeds must be integers from 0 to"),
]


@pytest.mark.parametrize("name,text,message", [
    ("duplicate key", "name: tiny\nname: other\nprofiles: {}\nexperiments: []\n", "key 'name' is given twice"),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n" for p, k in zip("abcdefgh", "bcdefghi")),
     "its aliases expand to more than"),
    ("latin-1", "name: caf\xe9\n", "not UTF-8 text"),
    ("too big", "# " + "x" * (1 << 20) + "\n", "a suite file may have at most"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
def test_suite_files_are_read_with_limits(finished, capsys, tmp_path, name, text, message):
    suite = tmp_path / "bad.yaml"
    suite.write_bytes(text.encode("latin-1"))
    code, out = cli(capsys, "--suite", str(suite), "--results-dir", str(finished["results"]), "--dry-run")
    assert code == 2 and message in out and "Traceback" not in out, out
    assert snapshot(finished["results"]) == finished["bytes"]


def test_a_folder_or_fifo_named_like_a_suite_is_refused(finished, capsys, tmp_path):
    for make in (os.mkdir, os.mkfifo):
        suite = tmp_path / f"{make.__name__}.yaml"
        make(suite)
        code, out = cli(capsys, "--suite", str(suite), "--results-dir", str(finished["results"]), "--dry-run")
        assert code == 2 and "not a file (a suite is a YAML file)" in out and "Traceback" not in out, out


@pytest.mark.parametrize("where,fix", [({"profiles": ["paper"]}, "runs in profile(s) paper only"),
                                       ({"datasets": ["mnist"]}, "add --dataset mnist")])
@pytest.mark.parametrize("dry_run", [False, True])
def test_an_experiment_asked_for_with_no_runs_says_why(finished, capsys, tmp_path, where, fix, dry_run):
    """--experiment naming an experiment the profile or the datasets leave empty: exit 2 with
    the reason and the flag that changes it, not an empty table or a traceback."""
    doc = copy.deepcopy(SUITE)
    doc["experiments"][0].update(where)
    suite = tmp_path / "narrow.yaml"
    suite.write_text(yaml.safe_dump(doc))
    args = base(finished, "--experiment", "e", *(["--dry-run"] if dry_run else []))
    args[1] = str(suite)
    code, text = cli(capsys, *args)
    assert code == 2 and "'e' has no runs in profile 'smoke'" in text and fix in text, text
    assert "Traceback" not in text
    assert snapshot(finished["results"]) == finished["bytes"]


def test_a_value_set_on_the_command_line_is_named_in_the_report(finished, capsys, tmp_path):
    """--set changes what a run is: the report names it even where the profile is not a paper's."""
    tables = tmp_path / "tables"
    code, text = cli(capsys, "--suite", str(finished["suite"]), "--profile", "smoke", "--results-dir",
                     str(finished["results"]), "--tables-dir", str(tables), "--set", "kd.epochs=1", "--aggregate-only")
    assert code == 0, text
    assert "- Set on the command line: `--set kd.epochs=1`" in (tables / "report.md").read_text()
    assert snapshot(finished["results"]) == finished["bytes"]


@pytest.mark.parametrize("name,mutate,message", SUITE_CASES, ids=[c[0] for c in SUITE_CASES])
def test_bad_suite_file(finished, capsys, tmp_path, name, mutate, message):
    doc = copy.deepcopy(SUITE)
    mutate(doc)
    suite = tmp_path / "bad.yaml"
    suite.write_text(yaml.safe_dump(doc))
    args = base(finished)
    args[1] = str(suite)
    code, text = cli(capsys, *args)
    assert code == 2 and message in text and "Traceback" not in text, text
    assert str(suite) in text or "n_train=" in text  # the message names the file
    assert snapshot(finished["results"]) == finished["bytes"]


@pytest.mark.parametrize("text,message", [("a: [1, 2", "not valid YAML"), ("- 1\n- 2\n", "expected a mapping"),
                                          ("", "expected a mapping")], ids=["broken", "list", "empty"])
def test_suite_that_is_not_a_mapping(finished, capsys, tmp_path, text, message):
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    code, out = cli(capsys, "--suite", str(suite), "--results-dir", str(finished["results"]))
    assert code == 2 and message in out and "Traceback" not in out


def idx_bytes(arr: np.ndarray, dtype_code: int = 0x08) -> bytes:
    header = struct.pack(">HBB", 0, dtype_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


MNIST = {"train-images-idx3-ubyte.gz": np.zeros((20, 28, 28)), "train-labels-idx1-ubyte.gz": np.arange(20) % 10,
         "t10k-images-idx3-ubyte.gz": np.zeros((10, 28, 28)), "t10k-labels-idx1-ubyte.gz": np.arange(10) % 10}
TRAIN_X, TRAIN_Y = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
DATA_CASES = [
    ("truncated", lambda f: f[TRAIN_X].write_bytes(f[TRAIN_X].read_bytes()[:40]), "cannot be read as gzip"),
    ("random bytes", lambda f: f[TRAIN_X].write_bytes(np.random.default_rng(0).bytes(500)),
     "cannot be read as gzip"),
    ("empty", lambda f: f[TRAIN_Y].write_bytes(b""), "too short for an IDX header"),
    ("empty gzip", lambda f: f[TRAIN_Y].write_bytes(gzip.compress(b"")), "too short for an IDX header"),
    ("float dtype", lambda f: f[TRAIN_X].write_bytes(gzip.compress(idx_bytes(np.zeros((20, 28, 28)), 0x0D))),
     "not an unsigned-byte IDX file"),
    ("body shorter than header", lambda f: f[TRAIN_X].write_bytes(
        gzip.compress(idx_bytes(np.zeros((20, 28, 28)))[:-100])), "header promises 15680 bytes"),
    ("images and labels swapped", lambda f: (f[TRAIN_X].rename(f[TRAIN_X].with_suffix(".tmpx")),
                                             f[TRAIN_Y].rename(f[TRAIN_X]),
                                             f[TRAIN_X].with_suffix(".tmpx").rename(f[TRAIN_Y])),
     "images and labels swapped"),
    ("fewer labels", lambda f: f[TRAIN_Y].write_bytes(gzip.compress(idx_bytes(np.arange(19) % 10))),
     "20 images but 19 labels"),
    ("labels out of range", lambda f: f[TRAIN_Y].write_bytes(gzip.compress(idx_bytes(np.arange(20)))),
     "labels outside 0..9"),
    ("missing file", lambda f: f[TRAIN_Y].unlink(), "dataset 'mnist' not found"),
]


@pytest.mark.parametrize("name,damage,message", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_damaged_mnist_files_stop_the_sweep_up_front(finished, capsys, tmp_path, name, damage, message):
    from bench.data.base import load_raw

    folder = tmp_path / "data" / "MNIST" / "raw"
    folder.mkdir(parents=True)
    files = {}
    for fname, arr in MNIST.items():
        files[fname] = folder / fname
        files[fname].write_bytes(gzip.compress(idx_bytes(arr)))
    damage(files)
    load_raw.cache_clear()
    code, text = cli(capsys, *base(finished, "--dataset", "mnist", "--data-root", str(tmp_path / "data")))
    assert code == 2 and message in text and "Traceback" not in text, text
    assert snapshot(finished["results"]) == finished["bytes"]


def test_an_unwritable_error_log_does_not_fail_the_failure_path(tmp_path, monkeypatch):
    """ENOSPC while recording a failure: the run is still recorded failed, no exception."""
    import errno

    from bench.run.execution import Execution
    from bench.run.runner import execute
    from bench.results.store import Store
    from tests.conftest import make_spec

    real = Path.write_text

    def full_disk(self, *a, **k):
        if self.name == "error.log":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full_disk)
    spec = make_spec("teacher", "cnn8", {"epochs": 1, "lr": 1e30})  # diverges
    assert execute(spec, Execution(results=tmp_path, data_root=".", threads=1), show_progress=False) == "failed"
    assert "Divergence" in Store(tmp_path).error(spec.run_id)


def test_a_real_subprocess_exits_2_without_traceback(finished):
    out = run_cli(*base(finished, "--device", "cuda:3"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--device cuda:3" in out.stderr


@pytest.mark.parametrize("flags", [("--workers", "2"), ("--status", "--rerun"), ("--threads", "x"),
                                   ("--profile", "nosuch"), ("--suite", "nosuch")])
def test_bad_flags_and_suite_files_are_told_before_torch_loads(flags):
    """A fresh interpreter with -X importtime: the error comes before ``import torch``."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "run_all.py"), "--suite", "dfkd_small", *flags],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "error: " in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert not re.search(r"\|\s+torch$", out.stderr, flags=re.M), "torch was imported before the error"


def teacher_and_student(results: Path) -> tuple[Path, Path]:
    """The run dirs of the tiny suite's teacher and student."""
    import pandas as pd

    runs = {pd.read_csv(p)["method"].iloc[0]: p.parent for p in results.glob("runs/*/summary.csv")}
    return runs["teacher"], runs["kd"]


def published(run: Path) -> Path:
    import pandas as pd

    return run / "attempts" / str(pd.read_csv(run / "summary.csv")["attempt"].iloc[0])


def pd_frame(run: Path):
    import pandas as pd

    return pd.read_csv(run / "summary.csv", dtype=str, keep_default_na=False)


def edit_value(run: Path, column: str, value: str) -> None:
    """A hand edit of one cell, as a user with a text editor would make it."""
    frame = pd_frame(run)
    frame.loc[0, column] = value
    (run / "summary.csv").write_text(frame.to_csv(index=False))


def reseal(run: Path, **values) -> None:
    """Values changed and the seal made to match them (a writer that got them wrong)."""
    from bench.results.store import sealed_csv

    row = pd_frame(run).drop(columns="row_sha256").iloc[0].to_dict()
    (run / "summary.csv").write_text(sealed_csv({**row, **values}))


def unfinished_attempt_with_garbage_checkpoint(run: Path) -> None:
    done = published(run)
    fresh = run / "attempts" / "9"
    fresh.mkdir()
    shutil.copy(done / "spec.json", fresh / "spec.json")
    (fresh / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (run / "summary.csv").unlink()


STATE_CASES = [
    ("summary random bytes", "student", lambda r: (r / "summary.csv").write_bytes(np.random.default_rng(1).bytes(300)),
     "corrupt", "summary.csv"),
    ("summary empty", "student", lambda r: (r / "summary.csv").write_bytes(b""), "corrupt", "carries no seal"),
    ("summary half row", "student", lambda r: (r / "summary.csv").write_bytes(
        (r / "summary.csv").read_bytes()[:-200]), "corrupt", "summary.csv"),
    ("summary of another run", "student", lambda r: (r / "summary.csv").write_text(
        (r / "summary.csv").read_text().replace(r.name, "0" * 16)), "corrupt", "edited after it was published"),
    ("summary of another run, resealed", "student", lambda r: reseal(r, run_id="0" * 16), "corrupt", "incomplete"),
    ("acc_best edited to 2.0", "student", lambda r: edit_value(r, "acc_best", "2.0"), "corrupt",
     "edited after it was published"),
    ("summary without its seal", "student", lambda r: (r / "summary.csv").write_text(
        pd_frame(r).drop(columns="row_sha256").to_csv(index=False)), "corrupt", "carries no seal"),
    ("acc_best 2.0, resealed", "student", lambda r: reseal(r, acc_best=2.0), "corrupt",
     "impossible values: acc_best=2.0"),
    ("acc_best -5, resealed", "student", lambda r: reseal(r, acc_best=-5), "corrupt", "acc_best=-5"),
    ("teacher_acc inf, resealed", "student", lambda r: reseal(r, teacher_acc=float("inf")), "corrupt",
     "teacher_acc=inf"),
    ("acc_best text, resealed", "student", lambda r: reseal(r, acc_best="nan"), "corrupt", "acc_best=nan"),
    ("teacher model garbage", "teacher", lambda r: (published(r) / "model.pt").write_bytes(b"junk"),
     "corrupt", "model.pt does not match its checksum"),
    ("curve missing", "student", lambda r: (published(r) / "curve.csv").unlink(), "corrupt", "curve.csv is missing"),
    ("attempt deleted", "student", lambda r: shutil.rmtree(published(r)), "corrupt", "is missing"),
    ("checkpoint garbage", "student", unfinished_attempt_with_garbage_checkpoint, "partial", ""),
    ("stale lock", "student", lambda r: (r / "lock").write_text('{"host": "gone", "pid": 999999999}'), "done", ""),
    ("tmp of a dead process", "student", lambda r: (r / ".summary.csv.999999999.abc.tmp").write_bytes(b"x"),
     "done", ""),
    ("lock is a FIFO", "student", lambda r: replace_with(r / "lock", os.mkfifo), "corrupt", "lock is a FIFO"),
    ("summary is a FIFO", "student", lambda r: replace_with(r / "summary.csv", os.mkfifo), "corrupt",
     "summary.csv is a FIFO"),
    ("summary is a folder", "student", lambda r: replace_with(r / "summary.csv", os.mkdir), "corrupt",
     "summary.csv is a folder"),
    ("attempts is a file", "student", lambda r: replace_with(r / "attempts", lambda p: p.write_text("x")),
     "corrupt", "attempts is a file"),
    ("attempt is a link loop", "student", lambda r: replace_with(published(r), lambda p: p.symlink_to(p.name)),
     "corrupt", "is a symbolic link"),
    ("artefact is a FIFO", "student", lambda r: replace_with(published(r) / "curve.csv", os.mkfifo), "corrupt",
     "curve.csv"),
    ("run folder is a file", "student", lambda r: replace_with(r, lambda p: p.write_text("x")), "corrupt",
     "is a file, expected a folder"),
]


def replace_with(path: Path, make) -> None:
    """``path`` removed and ``make(path)`` put in its place (a FIFO, a folder, a file, a link)."""
    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    make(path)


@pytest.mark.parametrize("name,which,damage,state,reason", STATE_CASES, ids=[c[0] for c in STATE_CASES])
def test_damaged_results_are_reported_set_aside_and_rerun(finished, capsys, tmp_path, name, which, damage,
                                                          state, reason):
    results = tmp_path / "results"
    shutil.copytree(finished["results"], results)
    teacher, student = teacher_and_student(results)
    run = teacher if which == "teacher" else student
    damage(run)
    (finished["tables"] / ".t.md.999999999.xyz.tmp").write_bytes(b"left by kill -9")
    args = ["--suite", str(finished["suite"]), "--profile", "smoke", "--results-dir", str(results),
            "--tables-dir", str(tmp_path / "tables")]
    for mode in ("--status", "--dry-run", "--aggregate-only"):
        code, text = cli(capsys, *args, mode)
        unfinished = mode == "--aggregate-only" and state != "done"  # tables of what is done; exit 1 says not all
        assert code == (1 if unfinished else 0) and "Traceback" not in text, (mode, text)
        if unfinished:
            label = "Teacher" if which == "teacher" else "KD"
            assert text.rstrip().splitlines()[-1].startswith(f"1 of 2 runs not done: {label} {run.name} {state}")
        if state != "done" and mode != "--aggregate-only":
            assert f"{state}" in text and run.name in text and reason in text, (mode, text)
    code, text = cli(capsys, *args, "--tables-dir", str(finished["tables"]))
    assert code == 0 and "Traceback" not in text, text
    code, text = cli(capsys, *args, "--status")
    assert "done: 2" in text, text
    assert not list(results.rglob("*.tmp")) and not list(finished["tables"].glob("*.tmp"))
    if which == "student":  # the teacher is untouched, byte for byte
        assert {k: v for k, v in snapshot(results).items() if teacher.name in k} == \
            {k: v for k, v in finished["bytes"].items() if teacher.name in k}
    if state != "done":  # the damage is kept aside, with the reason
        assert list((run / "quarantine").glob("*/why.txt")) or list(run.parent.glob(f"{run.name}.damaged-*.why.txt"))


@pytest.mark.parametrize("name,table,experiment", [
    ("../../escaped", "../../t_escaped", "../e_escaped"),
    ("/tmp/abs_escaped", "/tmp/t_abs_escaped", "/e_abs_escaped"),
])
def test_names_from_a_suite_never_write_outside_the_results_and_tables_folders(finished, capsys, tmp_path,
                                                                             name, table, experiment):
    """Suite, table and experiment names become safe file names: everything the sweep writes
    (its default tables folder, tables, figures, report) stays under --results-dir."""
    doc = copy.deepcopy(SUITE)
    doc["name"], doc["tables"][0]["id"], doc["experiments"][0]["id"] = name, table, experiment
    doc["tables"][0]["experiment"], doc["claims"][0]["table"] = experiment, table
    doc["experiments"][0]["figure"] = True
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    suite = work / "suite.yaml"
    suite.write_text(yaml.safe_dump(doc))
    results = work / "results"
    shutil.copytree(finished["results"], results)
    before = {p for p in tmp_path.rglob("*")} | set(Path("/tmp").glob("*escaped*")) | set(Path("/").glob("*escaped*"))
    code, text = cli(capsys, "--suite", str(suite), "--profile", "smoke", "--results-dir", str(results))
    assert code == 0, text
    written = {p for p in tmp_path.rglob("*")} - before
    assert written and all(p.is_relative_to(results) for p in written), sorted(map(str, written))
    assert not set(Path("/tmp").glob("*escaped*")) - before and not list(Path("/").glob("*escaped*"))
    assert list(results.glob("tables/*/figures/*.png")) and list(results.glob("tables/*/report.md"))


def caltech_folder(root: Path, per_class: int = 3) -> Path:
    """101_ObjectCategories with two classes of small PNGs (the layout caltech101 falls back to)."""
    from PIL import Image

    folder = root / "caltech101" / "101_ObjectCategories"
    for c in ("ant", "bee"):
        (folder / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / c / f"{i}.png")
    return folder


IMAGE_FOLDER_CASES = [
    ("corrupt JPEG", lambda f: (f / "ant" / "9.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"x" * 50), "9.jpg: cannot be read"),
    ("empty PNG", lambda f: (f / "bee" / "8.png").write_bytes(b""), "8.png: cannot be read"),
    ("no class folders", lambda f: [shutil.rmtree(f / c) for c in ("ant", "bee")], "cannot be loaded"),
    ("one image in a class", lambda f: [p.unlink() for p in sorted((f / "bee").iterdir())[1:]],
     "every class folder needs at least 2 images (one to train on, one to test); these have fewer: bee (1)"),
    ("an empty class folder", lambda f: [p.unlink() for p in (f / "ant").iterdir()], "these have fewer: ant (0)"),
    ("image is a link loop", lambda f: (f / "ant" / "loop.png").symlink_to(f / "ant" / "loop.png"),
     "loop.png: cannot be read"),
]


@pytest.mark.parametrize("name,damage,message", IMAGE_FOLDER_CASES, ids=[c[0] for c in IMAGE_FOLDER_CASES])
def test_damaged_image_folders_stop_the_sweep_up_front(tmp_path, name, damage, message):
    from bench.data.base import load_raw
    from bench.errors import UserError
    from bench.run.checks import check_data
    from bench.run.execution import Execution
    from tests.conftest import make_spec

    damage(caltech_folder(tmp_path / "data"))
    load_raw.cache_clear()
    with pytest.raises(UserError, match=re.escape(message)):
        check_data([make_spec("teacher", "cnn8", {}, dataset="caltech101")],
                   Execution(results=str(tmp_path / "r"), data_root=str(tmp_path / "data")))


def test_every_missing_dataset_is_named_at_once(tmp_path):
    from bench.errors import UserError
    from bench.run.checks import check_data
    from bench.run.execution import Execution
    from tests.conftest import make_spec

    specs = [make_spec("teacher", "cnn8", {}, dataset=d) for d in ("mnist", "fashion_mnist", "usps")]
    with pytest.raises(UserError) as err:
        check_data(specs, Execution(results=str(tmp_path / "r"), data_root=str(tmp_path / "nothing")))
    assert str(err.value).startswith("3 datasets cannot be loaded")
    assert all(f"'{d}'" in str(err.value) for d in ("mnist", "fashion_mnist", "usps"))


@pytest.mark.parametrize("name,expected", [
    ("digits", "digits"), ("kdgan_table1", "kdgan_table1"), ("csv:/data/magic.csv#class", "magic-"),
    ("../../x", "x-"), ("/etc/passwd", "passwd-"), ("a/../../b", "b-"), (".hidden", "hidden-"), ("..", "name-"),
    ("resnet34>resnet18", "resnet34-resnet18-"), ("csv:", "csv-"),
])
def test_names_become_one_safe_file_name_component(name, expected):
    from bench.plan.schema import file_name

    safe = file_name(name)
    assert safe == expected if not expected.endswith("-") else (safe.startswith(expected) and len(safe) == len(expected) + 8)
    assert "/" not in safe and not safe.startswith(".") and ".." not in safe
    assert file_name("csv:/a/magic.csv") != file_name("csv:/b/magic.csv")  # same stem, other file: no collision
