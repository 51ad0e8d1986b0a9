"""Suite loading: expansion, teacher sharing, and validation errors (exit code 2)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.errors import UserError
from bench.plan.grid import load_plan, suite_names, suite_path
from bench.plan.schema import SUITES_DIR
from bench.run.scheduler import phases, with_teachers
from tests.conftest import run_cli

SUITE = SUITES_DIR / "dfkd_small.yaml"


def test_every_suite_and_profile_loads():
    for name in suite_names():
        for profile in yaml.safe_load((SUITES_DIR / f"{name}.yaml").read_text())["profiles"]:
            assert load_plan(name, profile).runs


def test_quick_profile_shares_one_teacher_per_seed():
    plan = load_plan("dfkd_small", "quick")
    teachers, students = phases(with_teachers(plan.specs))
    assert len(teachers) == 3  # 3 seeds, not one per method
    assert {s.method for s in students} == {"kd", "dfad", "dafl", "abm", "dfkd_mem", "mad", "scratch",
                                            "dafl_cmi", "zskt_cmi", "dfad_cmi"}
    assert {j.label for j in plan.runs} == {"Teacher", "KD-ORI", "RANDOM", "DAFL", "DFAD", "ABM",
                                            "DFKD-Mem", "MAD", "Student", "ZSKT"}
    for s in students:
        if s.method == "scratch":
            assert s.teacher is None  # the student from scratch needs no teacher
        else:
            assert s.teacher.run_id in {t.run_id for t in teachers}


def test_paper_profile_is_dfad_table2_mnist():
    plan = load_plan("dfkd_small", "paper")
    assert plan.matches_paper
    dfad = [j.spec for j in plan.runs if j.label == "DFAD" and j.experiment == "dfad_table2"
            and j.spec.dataset == "mnist"]
    assert len(dfad) == 5
    cfg = dfad[0].config
    assert (cfg["batch_size"], cfg["epochs"], cfg["iters_per_epoch"]) == (512, 40, 50)
    assert (cfg["lr_student"], cfg["lr_generator"], cfg["student_steps"]) == (0.01, 1e-3, 5)
    assert (dfad[0].student, dfad[0].teacher.student) == ("lenet5_half", "lenet5")
    assert {j.label for j in plan.runs} >= {"KD-REL", "KD-UNR"}


def test_paper_profile_pairs_and_per_pair_settings():
    plan = load_plan("dfkd_small", "paper")
    by = lambda exp, label, ds: {(j.pair, j.spec.student) for j in plan.runs  # noqa: E731
                                 if j.experiment == exp and j.label == label and j.spec.dataset == ds}
    assert by("dfad_table2", "DFAD", "cifar10") == {("resnet", "resnet18_8x")}
    assert by("mad_table2", "MAD", "cifar10") == {("wrn", "wrn16_2")}
    assert by("mad_table2", "MAD", "tiny_imagenet") == {("resnet", "resnet18_tiny")}
    assert by("mad_table1", "MAD", "cifar100") == {("resnet", "resnet18_8x"), ("wrn", "wrn16_2")}
    mad = {j.pair: j.spec.config for j in plan.runs if j.label == "MAD" and j.spec.dataset == "cifar10"}
    assert mad["wrn"]["student_steps"] == 60 and mad["resnet"]["student_steps"] == 30  # P:mad Table 5
    abm = next(j.spec for j in plan.runs if j.experiment == "mad_table2" and j.label == "ABM")
    assert abm.method == "abm" and abm.config["generator"] == "mad_generator"  # ABM in MAD's setting
    own = next(j.spec.config for j in plan.runs if j.label == "ZSKT (own code)")
    assert own["at_beta"] == 250 and own["generator"] == "zskt_generator"
    cmi = next(j.spec for j in plan.runs if j.label == "ZSKT")  # MAD Table 1's row: CMI's re-run
    assert cmi.method == "zskt_cmi" and "at_beta" not in cmi.config


def test_dataset_override_uses_the_profile_pairs():
    plan = load_plan("dfkd_small", "quick", datasets=["mnist"])
    assert {j.spec.dataset for j in plan.runs} == {"mnist"}
    assert not plan.matches_paper


def broken_suite(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(SUITE.read_text())
    edit(doc)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(bogus=1), r"unknown key 'bogus'; accepted: .*experiments"),
    (lambda d: d["experiments"][0]["methods"].append({"method": "nope"}),
     r"methods\[\d+\]\.method: unknown method 'nope'; accepted: .*dfad"),
    (lambda d: d["profiles"]["quick"].update(datasets=["imagenet21k"]),
     r"profiles.quick.datasets: unknown dataset 'imagenet21k'; accepted: .*digits"),
    (lambda d: d["profiles"]["quick"]["pairs"]["digits"].update(student="vgg99"),
     r"pairs.digits.student: unknown net 'vgg99'; accepted: .*cnn8_half"),
    (lambda d: d["profiles"]["quick"]["params"]["dfad"].update(lr_studnet=0.1),
     r"unknown parameter 'lr_studnet' for DFADConfig; accepted: .*lr_student"),
    (lambda d: d["profiles"]["quick"]["params"]["dfad"].update(epochs="ten"),
     r"profiles.quick.params.dfad.epochs: expected int, got 'ten'"),
    (lambda d: d["experiments"][0]["methods"][1]["params"].update(transfer="sideways"),
     r"transfer must be one of original, noise"),
    (lambda d: d["claims"].append({"claim": "DFAD >> X", "table": "dfad_table2"}),
     r"cannot read claim"),
    (lambda d: d["claims"].append({"claim": "DFAD > ADI", "table": "dfad_table2"}),
     r"claim 'DFAD > ADI' names 'ADI', which is not a row"),
    (lambda d: d["claims"].append({"claim": "DFAD:top5 > KD-ORI:top5", "table": "dfad_table2"}),
     r"names the metric 'top5', which is not a metric header of table 'dfad_table2'; headers: none"),
])
def test_validation_errors_name_file_key_and_choices(tmp_path, edit, message):
    path = broken_suite(tmp_path, edit)
    with pytest.raises(UserError, match=message) as info:
        load_plan(str(path), "quick")
    assert str(path) in str(info.value)


def test_unknown_profile_and_suite():
    with pytest.raises(UserError, match=r"profile 'huge' is not defined; accepted: smoke, quick, paper"):
        load_plan("dfkd_small", "huge")
    with pytest.raises(UserError, match=r"unknown suite 'nosuch'; accepted: .*dfkd_small"):
        load_plan("nosuch", "quick")


def test_cli_user_error_exits_2_without_traceback(tmp_path):
    path = broken_suite(tmp_path, lambda d: d["profiles"]["quick"]["params"]["dfad"].update(bad=1))
    out = run_cli("--suite", str(path), "--results-dir", str(tmp_path / "r"), timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "unknown parameter 'bad' for DFADConfig" in out.stderr and str(path) in out.stderr
    assert not (tmp_path / "r").exists()  # validated before anything ran


def test_sweeps_expand_to_rows_and_override_profile_budgets():
    plan = load_plan("dfkd_ablations", "quick")
    batch = {j.label: j.spec.config["batch_size"] for j in plan.runs if j.experiment == "dfad_batch"}
    assert batch == {f"DFAD[batch_size={b}]": b for b in (32, 64, 128, 256)}
    loss = {j.spec.config["batch_size"] for j in plan.runs if j.experiment == "dfad_loss"}
    assert loss == {256}  # the profile's budget where nothing is swept
    alpha = {j.label: j.spec.config["alpha"] for j in plan.runs if j.experiment == "mad_alpha"}
    assert alpha["MAD[alpha=1.0]"] == 1.0 and len(alpha) == 5


def test_a_dataset_override_without_its_own_budgets_is_noted(tmp_path):
    """A dataset on another dataset's budgets (declared with ``budgets_from``, or given none):
    the plan, hence the report and the terminal, says the budgets were set for another dataset."""
    assert load_plan("dfkd_small", "quick").notes == []
    for measured in ("mnist", "fashion_mnist"):  # each has quick budgets of its own
        assert load_plan("dfkd_small", "quick", datasets=[measured]).notes == []
    suite = tmp_path / "borrowed.yaml"
    suite.write_text(suite_path("dfkd_small").read_text().replace(
        "      mnist: &quick_mnist\n", "      usps: {budgets_from: mnist}\n      mnist: &quick_mnist\n", 1).replace(
        "      fashion_mnist: {name: lenet,", "      usps: {name: lenet, teacher: lenet5, student: lenet5_half}\n"
        "      fashion_mnist: {name: lenet,", 1))
    notes = load_plan(str(suite), "quick", datasets=["usps"]).notes  # declared: MNIST's
    assert len(notes) == 1 and notes[0].startswith("usps: ") and "set for mnist" in notes[0]
    notes = load_plan("gantsc_images", "quick", datasets=["digits"]).notes  # nothing of its own: the profile's
    assert len(notes) == 1 and "digits: the quick profile's budgets were set for cifar10" in notes[0]
    assert load_plan("kdgan_compression", "quick", datasets=["cifar10"]).notes == []  # it has dataset_params


def test_every_smoke_profile_runs_without_data():
    """A fresh clone runs every suite's smoke profile with no --data-root: its datasets are
    embedded, or the profile runs on generated examples that exist for each of them."""
    from bench.api import EXAMPLE_DATA, data_root_for
    from bench.data.examples import EXAMPLES
    from bench.registry import DATASETS
    from bench.run.checks import data_names
    from bench.run.scheduler import with_teachers

    for name in suite_names():
        plan = load_plan(name, "smoke")
        absent = sorted(d for d in data_names(with_teachers(plan.specs)) if not DATASETS.get(d).meta.get("embedded"))
        if absent:
            assert plan.example_data and set(absent) <= set(EXAMPLES), (name, absent)
            assert data_root_for(plan, None, "r") == str(Path("r") / EXAMPLE_DATA)
        assert data_root_for(plan, "mine", "r") == "mine"  # real folders when the user names them
