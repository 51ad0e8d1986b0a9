"""A method from outside the repository: the README's "Add a method" example, pasted into
files of their own, is listed and run in a suite of its own through worker processes; a
missing or broken plugin is a one-line error."""
from __future__ import annotations

import pytest

import re

import pandas as pd

from bench.registry import METHODS
from tests.conftest import ROOT, run_cli, run_cli_process


def readme_blocks(language: str) -> list[str]:
    """The README's ``language`` code blocks of the "Add a method" section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Add a method"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.mark.slow
def test_readme_plugin_method_is_listed_and_runs_in_its_own_suite_in_worker_processes(tmp_path):
    plugin, suite = tmp_path / "my_kd.py", tmp_path / "my_suite.yaml"
    plugin.write_text(readme_blocks("python")[0])
    suite.write_text(readme_blocks("yaml")[0])
    listed = run_cli_process("--plugin", str(plugin), "--list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert re.search(r"^\s+my_kd\s+family: offline_kd", listed.stdout, flags=re.M)
    out = run_cli_process("--plugin", "my_kd.py", "--suite", "my_suite.yaml", "--profile", "smoke",
                          "--executor", "local", "--workers", "2", cwd=tmp_path)  # workers import the plugin too
    assert out.returncode == 0, out.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "tables" / "my_suite_smoke" / "mine.csv").set_index("label")
    assert table.loc["My-KD", "n"] == 2 and table.loc["My-KD", "mean"] > 0.3  # ten digits: chance is 0.1
    again = run_cli_process("--plugin", "my_kd.py", "--suite", "my_suite.yaml", "--profile", "smoke", cwd=tmp_path)
    assert "nothing to train" in again.stdout + again.stderr  # cached, plugin code unchanged


def test_missing_or_broken_plugins_are_one_line_errors(tmp_path):
    """In this process: a plugin that fails registers nothing, so the registry is left as it was."""
    before = set(METHODS.names())
    missing = run_cli("--plugin", str(tmp_path / "absent.py"), "--list")
    assert missing.returncode == 2 and "absent.py: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written plugin')\n")
    out = run_cli("--plugin", str(broken), "--list")
    assert out.returncode == 2 and "RuntimeError: half-written plugin" in out.stderr
    unknown = run_cli("--plugin", "no_such_module_anywhere", "--list")
    assert unknown.returncode == 2 and "no module of that name" in unknown.stderr
    assert set(METHODS.names()) == before


BROKEN_PLUGINS = {
    "metrics a word": ("@dataclass\nclass C:\n    epochs: int = 1\n"
                       "@METHODS.register('p_word', config=C, family='x', paper='-', metrics='acc')\n"
                       "def m(ctx, cfg): pass\n", "method 'p_word': metrics= must be a non-empty tuple"),
    "no config": ("@METHODS.register('p_noconf', family='x', paper='-')\ndef m(ctx, cfg): pass\n",
                  "method 'p_noconf': config= must be a dataclass"),
    "config not a dataclass": ("class C: epochs = 1\n@METHODS.register('p_cls', config=C, family='x', paper='-')\n"
                               "def m(ctx, cfg): pass\n", "method 'p_cls': config= must be a dataclass"),
    "config without defaults": ("@dataclass\nclass C:\n    epochs: int\n    lr: float = 0.1\n"
                                "@METHODS.register('p_nodef', config=C, family='x', paper='-')\n"
                                "def m(ctx, cfg): pass\n", "C gives no default for epochs"),
    "exits on import": ("raise SystemExit(3)\n", "failed to import: SystemExit: 3"),
    "interrupts on import": ("raise KeyboardInterrupt\n", "failed to import: KeyboardInterrupt"),
}


@pytest.mark.parametrize("case", BROKEN_PLUGINS)
def test_a_plugin_with_a_bad_registration_is_a_one_line_error(tmp_path, case):
    body, message = BROKEN_PLUGINS[case]
    before = set(METHODS.names())
    plugin = tmp_path / f"bad_{case.replace(' ', '_')}.py"
    plugin.write_text("from dataclasses import dataclass\nfrom bench.registry import METHODS\n" + body)
    out = run_cli("--plugin", str(plugin), "--list")
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert set(METHODS.names()) == before


KILLED_METHOD = '''
import os
import signal


@METHODS.register("killed", config=MyKDConfig, family="offline_kd", paper="-", needs_teacher=True)
def killed(ctx: RunContext, cfg: MyKDConfig) -> dict[str, float]:
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer takes a worker
'''


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_that_run_in_one_line_and_the_sweep_goes_on(tmp_path):
    """A worker process that dies without a result (SIGKILL) fails its run with one line that
    names the worker's output (submitit's message is several lines of its log); the teacher,
    trained in another worker first, stays done and the sweep ends with exit 1."""
    plugin, suite = tmp_path / "my_kd.py", tmp_path / "my_suite.yaml"
    plugin.write_text(readme_blocks("python")[0] + KILLED_METHOD)
    rows = "      - {label: KD-ORI, method: kd}\n      - {label: My-KD, method: my_kd}"
    assert rows in readme_blocks("yaml")[0]
    suite.write_text(readme_blocks("yaml")[0].replace(rows, "      - {label: Killed, method: killed}"))
    out = run_cli_process("--plugin", "my_kd.py", "--suite", "my_suite.yaml", "--profile", "smoke",
                          "--executor", "local", "--workers", "2", cwd=tmp_path)
    assert out.returncode == 1, out.stderr[-3000:]
    summaries = pd.concat([pd.read_csv(f) for f in (tmp_path / "results" / "runs").glob("*/summary.csv")])
    assert sorted(summaries.groupby("method")["status"].apply(set).items()) == [
        ("killed", {"failed"}), ("teacher", {"done"})]
    for error in summaries.loc[summaries["method"] == "killed", "error"]:
        assert "\n" not in error and error.startswith("the worker process ended without a result (killed")
        assert (tmp_path / error.rsplit("its output: ", 1)[1]).exists()
    status = run_cli_process("--plugin", "my_kd.py", "--suite", "my_suite.yaml", "--profile", "smoke",
                             "--status", cwd=tmp_path)
    assert status.stdout.count("failed ") == 2 and "its output: " in status.stdout
