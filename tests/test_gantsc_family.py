"""GAN-TSC's synthetic-data family: MUNGE, AUC, the CSV loader, the AC-GAN and its losses,
forest and network students through the ordinary run context, the TSC Score through a run,
the inferior AC-GAN's dependency chain, and the gantsc_tabular and gantsc_images suites."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.families.compression import compression_set
from bench.data import load_data
from bench.errors import UserError
from bench.plan.grid import load_plan
from bench.metrics import roc_auc, scored_metrics
from bench.nets.forests import class_scores, regression_targets
from baselines.munge import munge
from tests.conftest import make_spec, run, run_cli


# ------------------------------------------------------------------ MUNGE
def test_munge_hand_worked_example_bucila_and_the_code():
    """Three 1-d rows 0, 1, 3 with p = 1 and s = inf (sd = 0: every draw is its mean).

    Bucila: row 0's neighbour is row 1 -> swap -> [1, 0, 3]; row 1 (now 0) has neighbour
    row 0 (now 1) -> swap -> [0, 1, 3]; row 2 (3) has neighbour row 1 (1) -> swap -> [0, 3, 1].
    The code draws the neighbour around the example's new value: row 0 takes 1 and row 1
    stays at 1 -> [1, 1, 3]; row 1 with row 0 -> [1, 1, 3]; row 2 takes 1 and row 0 stays
    1 -> [1, 1, 1]: the rows collapse onto each other."""
    x = np.array([[0.0], [1.0], [3.0]])
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    assert munge(x, 1, 1.0, float("inf"), rng()).ravel().tolist() == [0.0, 3.0, 1.0]
    assert munge(x, 1, 1.0, float("inf"), rng(), "code").ravel().tolist() == [1.0, 1.0, 1.0]
    assert munge(x, 2, 1.0, float("inf"), rng()).ravel().tolist() == [0.0, 3.0, 1.0] * 2  # each pass from T


def test_munge_distance_uses_scaled_attributes_only_in_bucila():
    """Rows (0, 0), (0, 5), (1, 0), (0, 100), p = 1, sd = 0. Bucila scales attributes to
    [0, 1] (the second by 100): row 0's neighbour is row 1; the pass then swaps 1 with 0,
    2 with 0 and 3 with 1 -> (1, 0), (0, 100), (0, 0), (0, 5). The code measures raw
    distances (row 0's neighbour is row 2) and draws around new values: every row ends (1, 0)."""
    x = np.array([[0.0, 0.0], [0.0, 5.0], [1.0, 0.0], [0.0, 100.0]])
    one_pass = lambda variant: munge(x, 1, 1.0, float("inf"), np.random.default_rng(0), variant)  # noqa: E731
    assert one_pass("bucila").tolist() == [[1.0, 0.0], [0.0, 100.0], [0.0, 0.0], [0.0, 5.0]]
    assert one_pass("code").tolist() == [[1.0, 0.0]] * 4


def test_munge_p0_copies_the_rows_and_code_2019_compounds():
    x = np.random.default_rng(1).normal(size=(50, 4))
    assert np.array_equal(munge(x, 3, 0.0, 1.5, np.random.default_rng(0)), np.tile(x, (3, 1)))
    old = munge(x, 3, 0.5, 1.5, np.random.default_rng(0), "code_2019")
    parts = np.split(old, 3)
    assert all(np.array_equal(parts[0], p) for p in parts)  # k references to one array
    once = munge(x, 1, 0.5, 1.5, np.random.default_rng(0), "code")
    assert not np.array_equal(parts[0], once)  # three passes of munging, not one
    new = munge(x, 3, 0.5, 1.5, np.random.default_rng(0))
    assert not np.array_equal(*np.split(new, 3)[:2])  # bucila: each pass starts again from T


# ------------------------------------------------------------------ metrics
def test_auc_hand_values_and_ties():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]) == 1) == 0.75
    assert roc_auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5  # a tie counts one half
    assert roc_auc(np.array([0.2, 0.9, 0.9, 0.1]), np.array([0, 1, 0, 0]) == 1) == pytest.approx(5 / 6)
    with pytest.raises(ValueError):
        roc_auc(np.array([0.1, 0.2]), np.array([True, True]))


def test_scores_of_k_classes_give_accuracy_by_the_top_class_and_the_mean_one_vs_rest_auc():
    """Three classes, four rows: rows 0-2 are ranked first for their own class, row 3 (class 2)
    scores highest for class 0. Accuracy 3/4; AUC per class: class 0 ranks its one positive
    (0.7) below row 3's 0.8 and above the other two: 2/3; class 1: 1; class 2: positives rows 2
    (0.6) and 3 (0.1) against rows 0 (0.2) and 1 (0.1): (1 + 1 + 0 + 0.5) / 4 = 0.625."""
    scores = np.array([[0.7, 0.1, 0.2], [0.2, 0.7, 0.1], [0.1, 0.3, 0.6], [0.8, 0.1, 0.1]])
    out = scored_metrics(scores, np.array([0, 1, 2, 2]))
    assert out["accuracy"] == 0.75
    assert out["auc"] == pytest.approx((2 / 3 + 1 + 0.625) / 3)
    # two classes: the class-1 column's AUC, class 1 where its score beats the other's
    binary = scored_metrics(np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45]]), np.array([0, 1, 1]))
    assert binary == {"auc": 1.0, "accuracy": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="two classes"):
        scored_metrics(scores, np.array([1, 1, 1, 1]))


def test_forest_scores_have_a_column_per_class_and_binary_students_fit_class_1():
    """A teacher that never saw class 2 scores it 0; on binary data the student regresses
    P(y = 1 | x) alone (P:gantsc §3) and its scores are (1 - s, s); with more classes every column."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    teacher = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    three = class_scores(teacher, x[:5], 3)
    assert three.shape == (5, 3) and (three[:, 2] == 0).all() and np.allclose(three.sum(axis=1), 1)
    p = class_scores(teacher, x, 2)
    assert np.array_equal(regression_targets(p), p[:, 1]) and np.array_equal(regression_targets(three), three)
    one = RandomForestRegressor(n_estimators=3, random_state=1).fit(x, regression_targets(p))
    assert np.allclose(class_scores(one, x, 2), np.stack([1 - one.predict(x), one.predict(x)], 1))
    with pytest.raises(ValueError, match="must predict 3 class scores"):
        class_scores(one, x, 3)


# ------------------------------------------------------------------ CSV data
def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, column, message", [
    ("", "", "is empty"),
    ("a,b,label\n", "", "no data rows"),
    ("a,b,y\n1,2,0\n3,4,1\n", "#target", "no label column 'target'"),
    ("a,b,label\n1,2,0\n3,x,1\n", "", "line 3, column 'b': 'x' is not a finite number"),
    ("a,b,label\n1,2,0\n3,,1\n", "", "line 3, column 'b'"),
    ("a,b,label\n1,2,yes\n3,4,yes\n", "", "one class only"),
    ("1,2,0\n3,4,1\n5,6,0\n", "", "is data, not a header"),
    ("a,b,label\n1,2,0\n3,4, \n", "", "line 3, label column 'label' is blank"),
    ("a,b,label\n1,2,0.5\n3,4,1\n", "", "line 2, label '0.5' in column 'label' is not a whole number"),
    ("a,b,label\n" + "".join(f"{i},1,{i}\n" for i in range(150)), "", "holds 150 distinct values"),
])
def test_csv_loader_errors_name_the_file_and_the_fix(tmp_path, text, column, message):
    path = write(tmp_path / "data.csv", text)
    with pytest.raises(UserError, match=message) as err:
        load_data(f"csv:{path}{column}", tmp_path, 0)
    assert str(path) in str(err.value)


def test_numeric_labels_are_classes_by_value_in_numeric_order(tmp_path):
    from bench.data.tabular import read_table

    path = write(tmp_path / "n.csv", "a,label\n" + "".join(f"{i},{c}\n" for i, c in
                                                          enumerate(["10", "2", "1.0", "1", "2.0", "10"])))
    _, y, classes = read_table(path)
    assert classes == ["1", "2", "10"] and y.tolist() == [2, 1, 0, 0, 1, 2]


@pytest.mark.parametrize("where", ["folder", "empty"])
def test_a_csv_dataset_that_names_a_folder_is_refused(tmp_path, where):
    name = f"csv:{tmp_path}" if where == "folder" else "csv:"
    with pytest.raises(UserError, match="a folder"):
        load_data(name, tmp_path, 0)


def test_csv_loader_reads_labels_and_splits_by_seed(tmp_path):
    rows = "\n".join(f"{i},{i % 7},{'b' if i % 3 else 'a'}" for i in range(30))
    path = write(tmp_path / "d.tsv", "f1\tf2\tkind\n" + rows.replace(",", "\t") + "\n")
    data = load_data(f"csv:{path}", tmp_path, 0, n_train=20, seed=0)  # the last column is the label
    assert data.x_train.shape == (20, 2) and data.x_test.shape == (10, 2) and data.num_classes == 2
    assert int(data.y_train.sum() + data.y_test.sum()) == 20  # 'b' (20 rows) is class 1
    other = load_data(f"csv:{path}", tmp_path, 0, n_train=20, seed=1)
    assert not torch.equal(data.x_train, other.x_train)  # each seed its own split
    assert set(map(tuple, data.x_train.tolist())) | set(map(tuple, data.x_test.tolist())) == \
        {(float(i), float(i % 7)) for i in range(30)}
    with pytest.raises(UserError, match="leaves no test rows"):
        load_data(f"csv:{path}", tmp_path, 0, n_train=30)


# ------------------------------------------------------------------ compression set, AC-GAN
def test_compression_sets_pool_training_and_sampled_rows():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    sample = lambda n: (torch.ones(n, 2), torch.ones(n, dtype=torch.long))  # noqa: E731
    assert compression_set(x, y, "train", 9, None)[0].shape == (4, 2)
    assert compression_set(x, y, "synthetic", 9, sample)[0].sum() == 36 * 2
    mixed, labels = compression_set(x, y, "mixture", 9, sample)
    assert mixed.shape == (40, 2) and labels[:4].tolist() == [0, 1, 0, 1]


def blobs(tmp_path, n=400, k=2):
    """k classes of 2-d Gaussian rows around points of a circle of radius 2 sqrt(2), easy to
    separate (two classes: around (-2, -2) and (2, 2))."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    angle = 2 * np.pi * y / k + np.pi / 4
    x = rng.normal(0.0, 0.6 if k == 2 else 0.3, (n, 2)) + 2 * np.sqrt(2) * np.stack([np.cos(angle), np.sin(angle)], 1)
    path = tmp_path / f"blobs{k}.csv"
    pd.DataFrame({"u": x[:, 0], "v": x[:, 1], "label": y}).to_csv(path, index=False)
    return f"csv:{path}"


@pytest.mark.slow
def test_acgan_learns_class_conditional_rows_and_gan_tsc_compresses_with_them(tmp_path):
    dataset = blobs(tmp_path)
    results = tmp_path / "results"
    gan = make_spec("acgan", "acgan_tabular", {"epochs": 60, "log_every": 20}, dataset=dataset)
    gan = type(gan)(**{**gan.__dict__, "n_train": 300})
    summary = run(gan, results)
    assert summary["acc_last"] > 0.9  # D's class head separates the blobs
    teacher = make_spec("teacher", "random_forest", dataset=dataset)
    teacher = type(teacher)(**{**teacher.__dict__, "n_train": 300})
    student = make_spec("gan_tsc", "regression_forest", {"data": "synthetic"}, teacher=teacher, dataset=dataset)
    student = type(student)(**{**student.__dict__, "n_train": 300, "pretrained": (("sampler", gan),)})
    run(teacher, results)
    out = run(student, results)
    assert out["compression_rows"] == 2700 and out["metric"] == "auc"
    assert out["acc"] > 0.95  # a tree fitted on GAN rows alone ranks the real test rows well
    assert out["speedup"] > 10  # one tree against 500
    # the rows are class-conditional: labelled only by the class G was asked for, no teacher
    supervised = make_spec("gan_supervised", "regression_forest", {"data": "synthetic"}, dataset=dataset)
    supervised = type(supervised)(**{**supervised.__dict__, "n_train": 300, "pretrained": (("sampler", gan),)})
    assert run(supervised, results)["acc"] > 0.9  # AUC, measured 1.0; a G that ignores its label gives 0.5


# ------------------------------------------------------------------ grid
def test_tabular_suite_plan_and_its_guards(tmp_path):
    plan = load_plan("gantsc_tabular", "paper", only=["gantsc_single_tree"])
    by_n = {(s.dataset, s.n_train) for s in plan.specs}
    assert by_n == {("higgs", 1000), ("higgs", 100000), ("evergreen", 5000), ("magic_npz", 13312), ("magic_npz", None)}
    gan_tsc = next(s for s in plan.specs if s.method == "gan_tsc")
    assert gan_tsc.teacher.n_train == gan_tsc.n_train and gan_tsc.teacher.seed == gan_tsc.seed
    (role, sampler), = gan_tsc.pretrained
    assert role == "sampler" and sampler.method == "acgan" and sampler.n_train == gan_tsc.n_train
    user = load_plan("gantsc_tabular", "quick", datasets=[f"csv:{tmp_path / 'mine.csv'}"], n_train=[100])
    assert {s.student for s in user.specs if s.method != "teacher"} == {"regression_forest"}  # `default` pair
    suite = tmp_path / "s.yaml"
    text = (load_plan("gantsc_tabular", "smoke").path.read_text()
            .replace("    seeds: [0, 1]\n", "    seeds: [0, 1]\n    teacher_seed: 0\n", 1))
    suite.write_text(text)
    with pytest.raises(UserError, match="remove teacher_seed"):
        load_plan(str(suite), "smoke")


def run_smoke(suite: str, dirs) -> None:
    """The suite's smoke profile through the CLI, into the test's folders; it must succeed."""
    out = run_cli("--suite", suite, "--profile", "smoke", "--results-dir", str(dirs["results"]),
                  "--tables-dir", str(dirs["tables"]))
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
def test_gantsc_tabular_smoke_suite_end_to_end(dirs):
    run_smoke("gantsc_tabular", dirs)
    single = pd.read_csv(dirs["tables"] / "gantsc_single_tree.csv").set_index("label")["mean"]
    assert single["Teacher"] > single["Student-only"] and single["TSC-training"] > single["Student-only"]
    assert single["MUNGE"] > single["Student-only"]
    for name in ("gantsc_fig1_breast_cancer.png", "gantsc_fig1e_breast_cancer.png",
                 "gantsc_fig1f_breast_cancer.png", "gantsc_fig4_breast_cancer.png"):
        assert (dirs["tables"] / "figures" / name).exists(), name
    report = (dirs["tables"] / "report.md").read_text()
    assert "GAN-TSC > MUNGE" in report and "TSC-training > Student-only" in report


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, 10])
def test_a_csv_of_k_classes_runs_through_the_tabular_suite(tmp_path, k):
    """Every method of gantsc_tabular on a k-class CSV: the forests regress the teacher's k class
    probabilities, and every table shows the score (mean one-vs-rest AUC) and the accuracy."""
    dataset = blobs(tmp_path, n=600, k=k)
    out = run_cli("--suite", "gantsc_tabular", "--profile", "smoke", "--dataset", dataset, "--n-train", "400",
                  "--seeds", "0", "--results-dir", str(tmp_path / "results"), "--tables-dir", str(tmp_path / "tables"))
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy = pd.read_csv(tmp_path / "tables" / "gantsc_single_tree_accuracy.csv").set_index("label")["mean"]
    auc = pd.read_csv(tmp_path / "tables" / "gantsc_single_tree.csv").set_index("label")["mean"]
    for label in ("Teacher", "Student-only", "TSC-training", "MUNGE"):  # separable blobs; chance is 1 / k
        assert accuracy[label] > 0.9 and auc[label] > 0.95, (label, accuracy[label], auc[label])
    assert accuracy.notna().all() and auc.notna().all()
    fig1 = pd.read_csv(tmp_path / "tables" / "gantsc_fig1.csv")
    assert set(fig1["metric"]) == {"acc", "accuracy"} and fig1["mean"].notna().all()


# ------------------------------------------------------------------ network students (§4)
@pytest.fixture(scope="module")
def image_players(tmp_path_factory):
    """digits at 32 x 32: a LeNet-5 teacher and a small Keras-layout AC-GAN (one epoch)."""
    results = tmp_path_factory.mktemp("players") / "results"
    teacher = make_spec("teacher", "lenet5", {"epochs": 3, "batch_size": 64, "lr": 0.05})
    gan = make_spec("acgan", "acgan_cifar_small", {"epochs": 1, "d_steps": 1, "log_every": 1})
    run(teacher, results)
    # One epoch teaches the AC-GAN little (measured: D's class head 0.12, a student fitted to its
    # samples alone 0.096): it is a sampler for the students below, whose learning is the point;
    # the AC-GAN's own learning is tested on tabular rows, where it is fast.
    run(gan, results)
    return results, teacher, gan


def with_roles(spec, roles):
    return type(spec)(**{**spec.__dict__, "pretrained": roles})


@pytest.mark.slow
def test_network_students_learn_from_the_teacher_and_from_an_image_acgan(image_players):
    """LeNet-5-half students trained by TSC on the training images, on GAN batches (p_fake = 0.5),
    with Hinton's loss, and alone."""
    results, teacher, gan = image_players
    net = {"epochs": 6, "batch_size": 32, "lr": 1e-3}  # L2 logit matching needs some hundred steps
    summaries = {}
    for name, method, params, roles in (("tsc", "tsc", {**net}, ()),
                                        ("gan", "gan_tsc", {**net, "p_fake": 0.5}, (("sampler", gan),)),
                                        ("tsc_ce", "tsc", {**net, "objective": "ce"}, ()),
                                        ("alone", "student_only", {**net}, ())):
        spec = make_spec(method, "lenet5_half", params, teacher=teacher if method != "student_only" else None)
        summaries[name] = run(with_roles(spec, roles), results)
    for name, s in summaries.items():
        assert s["acc_last"] > 0.5, name  # ten classes: chance is 0.1
        assert abs((s["acc_val"] + s["acc"]) / 2 - s["acc_last"]) < 0.02, name  # halves of the test set
    assert summaries["gan"]["cfg.p_fake"] == 0.5 and "cfg.trees" not in summaries["gan"]  # the network config


@pytest.mark.slow
def test_tsc_score_of_real_data_is_near_one_and_above_a_barely_trained_gan(image_players, tmp_path):
    """The paper's formula: the real data scored against its own reference student (another batch
    order) lands near 1; images of a one-epoch AC-GAN teach the student much less. The code's
    formula divides the same accuracy by its constant. Without Inception-v3 weights the run
    says the Inception Score was not measured."""
    results, teacher, gan = image_players
    recipe = {"batch_size": 16, "lr": 1e-3, "epochs": 2, "inception_weights": str(tmp_path / "absent.pth")}
    score = lambda params: run(with_roles(make_spec("tsc_score", "lenet5_half", {**recipe, **params}, teacher),  # noqa: E731
                                          (("sampler", gan),)), results)
    real, fake = score({"data": "train"}), score({"data": "synthetic"})
    assert real["acc_real"] > real["acc_mode"] + 0.3  # the reference student learned
    assert abs(real["tsc_score"] - 1) < 0.15
    assert fake["tsc_score"] < real["tsc_score"] - 0.2
    assert real["images"] == fake["images"] == real["train_size"]  # D as large as the training set
    assert "no Inception-v3 weights at" in real["unmeasured"] and "inception_score" not in real
    code = score({"data": "synthetic", "formula": "code"})
    assert code["tsc_score"] == pytest.approx(code["acc"] / 0.532) and "acc_real" not in code


def test_inferior_sampler_continues_the_well_trained_gan_and_runs_a_level_above_it():
    from bench.run.scheduler import levels, with_teachers

    plan = load_plan("gantsc_images", "smoke", only=["gantsc_table2"])
    by_label = {j.label: j.spec for j in plan.runs if j.spec.seed == 0}
    plain = dict(by_label["AC-GAN"].roles())["sampler"]
    inferior = dict(by_label["AC-GAN-inferior"].roles())["sampler"]
    assert dict(inferior.params)["class_only_epochs"] == 1 and not plain.pretrained
    assert dict(inferior.roles())["init"].run_id == plain.run_id  # the same GAN, continued
    depth = {s.run_id: k for k, group in enumerate(levels(with_teachers(plan.specs))) for s in group}
    assert depth[plain.run_id] == 0 and depth[inferior.run_id] == 1 and depth[by_label["AC-GAN-inferior"].run_id] == 2
    paper = {j.label: dict(j.spec.roles())["sampler"] for j in load_plan("gantsc_images", "paper", seeds=[0],
                                                                         only=["gantsc_fig2e"]).runs}
    assert dict(paper["GAN-TSC-gan10"].params)["epochs"] == 10  # a variant's sampler params beat the profile's
    assert dict(paper["GAN-TSC-gan1000"].params)["epochs"] == 1000


def test_sampler_params_on_a_method_without_a_sampler_are_refused(tmp_path):
    suite = tmp_path / "s.yaml"
    text = (Path(__file__).parents[1] / "bench/plan/suites/gantsc_images.yaml").read_text()
    suite.write_text(text.replace("{label: TSC-training, method: tsc}\n      - {label: GAN-TSC, method: gan_tsc, sweep",
                                  "{label: TSC-training, method: tsc, sampler: {epochs: 2}}\n      - {label: GAN-TSC, method: gan_tsc, sweep", 1))
    with pytest.raises(UserError, match=r"methods\[0\]\.sampler: .*'tsc' does not"):
        load_plan(str(suite), "smoke")


@pytest.mark.slow
def test_gantsc_images_smoke_suite_end_to_end(dirs):
    run_smoke("gantsc_images", dirs)
    table1 = pd.read_csv(dirs["tables"] / "gantsc_table1.csv").set_index("label")["mean"]
    assert table1["Teacher"] > 0.3 and table1["Student-only"] > 0.2  # ten digits: chance is 0.1
    scores = pd.read_csv(dirs["tables"] / "gantsc_table2.csv").set_index("label")
    assert set(scores.index) == {"Real data", "AC-GAN", "AC-GAN-inferior"} and scores["n"].min() == 2
    for name in ("gantsc_fig2a_digits.png", "gantsc_fig2c_digits.png"):
        assert (dirs["tables"] / "figures" / name).exists(), name
    report = (dirs["tables"] / "report.md").read_text()
    assert "| Real data | not measured |" in report and "Not measured: inception_score: no Inception-v3" in report
    assert "AC-GAN > AC-GAN-inferior" in report


def test_a_forest_only_method_refuses_a_network_student():
    with pytest.raises(UserError, match="cannot train a 'classifier' student"):
        make_spec("munge", "lenet5_half")


def test_gantsc_image_nets_shapes_and_the_lenet_quirk():
    from torch import nn

    from bench.nets import build_classifier

    x = torch.randn(2, 3, 32, 32)
    for arch in ("nin", "gantsc_lenet", "gantsc_lenet_relu", "cnn5", "acgan_cifar", "acgan_cifar_small"):
        assert build_classifier(arch, 10, 3, 0).eval()(x).shape == (2, 10), arch
    quirk, fixed = build_classifier("gantsc_lenet", 10, 3, 0), build_classifier("gantsc_lenet_relu", 10, 3, 0)
    assert not any(isinstance(m, nn.ReLU) for m in quirk.features)  # C:GAN-TSC: no ReLU after the convs
    assert sum(isinstance(m, nn.ReLU) for m in fixed.features) == 2
    assert sum(p.numel() for p in quirk.parameters()) == 3_497_866  # 5x5x3x64, 5x5x64x128, 3200x1024, 1024x10
    gan = build_classifier("acgan_cifar", 10, 3, 0)
    gan.fit_scale(torch.rand(8, 3, 32, 32) * 2 - 1)
    fake = gan.generate(torch.randn(4, 110), torch.arange(4))
    assert fake.shape == (4, 3, 32, 32) and gan.low.min() <= fake.min() and fake.max() <= gan.high.max()
    assert sum(p.numel() for p in gan.generator_parameters()) + sum(
        p.numel() for p in gan.discriminator_parameters()) == sum(p.numel() for p in gan.parameters())


# ------------------------------------------------------------------ the paper's tabular files
def test_paper_tabular_files_are_read_in_their_formats_and_missing_ones_named(tmp_path, monkeypatch):
    from bench.data.base import load_raw

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    for name, where in (("magic", "magic/magic04.data"), ("higgs", "higgs/HIGGS.csv"),
                        ("evergreen", "evergreen/train.tsv")):
        with pytest.raises(UserError, match=where):
            load_raw(name, str(tmp_path / "empty"))
    root = tmp_path / "data"
    (root / "magic").mkdir(parents=True)
    (root / "magic" / "magic04.data").write_text("1,2,3,4,5,6,7,8,9,10,g\n2,3,4,5,6,7,8,9,10,11,h\n" * 3)
    magic = load_raw("magic", str(root))
    assert magic.x_train.shape == (6, 10) and magic.y_train.tolist() == [0, 1] * 3  # g (signal) is 0
    (root / "evergreen").mkdir()
    header = "url\turlid\tboilerplate\talchemy_category\talchemy_category_score\tavglinksize\tis_news\tlabel\n"
    rows = 'http://a\t1\t"{}"\tbusiness\t0.5\t2.5\t1\t1\nhttp://b\t2\t"{}"\t?\t?\t3.0\t?\t0\n'
    (root / "evergreen" / "train.tsv").write_text(header + rows)
    ever = load_raw("evergreen", str(root))  # the numeric columns; '?' read as -1
    assert ever.x_train.tolist() == [[0.5, 2.5, 1.0], [-1.0, 3.0, -1.0]] and ever.y_train.tolist() == [1, 0]
    (root / "higgs").mkdir()
    (root / "higgs" / "HIGGS.csv").write_text("".join(f"{i % 2}.0" + ",0.5" * 28 + "\n" for i in range(10)))
    with pytest.raises(UserError, match="needs 100,000 rows of each class"):
        load_raw("higgs", str(root))


def test_magic_npz_reads_the_official_codes_split_as_stored(tmp_path):
    from bench.data.base import load_raw

    rng = np.random.default_rng(0)
    (tmp_path / "magic").mkdir()
    arrays = {"X_train": rng.normal(size=(40, 10)), "y_train": (np.arange(40) % 3 == 0) * 1.0,
              "X_test": rng.normal(size=(12, 10)), "y_test": np.arange(12) % 2 * 1.0}
    np.savez(tmp_path / "magic" / "magic.npz", **arrays)
    data = load_data("magic_npz", tmp_path, size=None, n_train=20, seed=1)
    assert data.x_train.shape == (20, 10) and data.x_test.shape == (12, 10)  # the fixed test rows, all of them
    assert np.allclose(data.x_test.numpy(), arrays["X_test"].astype(np.float32))  # features as stored
    assert data.y_test.tolist() == arrays["y_test"].astype(int).tolist()
    assert load_data("magic_npz", tmp_path, size=None, n_train=None, seed=0).x_train.shape == (40, 10)
    np.savez(tmp_path / "magic" / "magic.npz", X_train=arrays["X_train"][:, :9], y_train=arrays["y_train"],
             X_test=arrays["X_test"], y_test=arrays["y_test"])
    with pytest.raises(UserError, match="expected X_train / X_test of 10 features per row"):
        load_raw("magic_npz", str(tmp_path))


def test_magic_npz_val_splits_the_training_rows_once_and_never_reads_the_test_rows(tmp_path, monkeypatch):
    """The AC-GAN search's data: the official training rows alone, 3,312 of them held out as
    the validation set, the same split every time; the official test rows appear nowhere."""
    from bench.data import tabular

    rng = np.random.default_rng(0)
    (tmp_path / "magic").mkdir()
    x_train, x_test = rng.normal(size=(50, 10)), rng.normal(size=(12, 10)) + 100.0  # test rows far away
    np.savez(tmp_path / "magic" / "magic.npz", X_train=x_train, y_train=np.arange(50) % 2 * 1.0, X_test=x_test,
             y_test=np.arange(12) % 2 * 1.0)
    monkeypatch.setattr(tabular, "MAGIC_VALIDATION_ROWS", 15)
    raw = tabular.magic_npz_val(tmp_path, False)
    again = tabular.magic_npz_val(tmp_path, False)
    assert raw.x_train.shape == (35, 10) and raw.x_test.shape == (15, 10)
    assert torch.equal(raw.x_test, again.x_test)  # one fixed split
    rows = {tuple(np.round(r, 5)) for r in np.r_[raw.x_train.numpy(), raw.x_test.numpy()]}
    assert rows == {tuple(np.round(r, 5)) for r in x_train.astype(np.float32)}  # every training row, once
    assert raw.x_test.abs().max() < 50  # no official test row


def test_a_missing_released_generator_stops_the_sweep_before_anything_trains(tmp_path):
    out = run_cli("--suite", "gantsc_tabular", "--profile", "smoke", "--set", "acgan.released_generator=netG.h5",
                  "--data-root", str(tmp_path), "--results-dir", str(tmp_path / "results"),
                  "--tables-dir", str(tmp_path / "tables"))
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"acgan.released_generator: {tmp_path / 'netG.h5'} is not a file" in out.stderr
    assert "Traceback" not in out.stderr and not list((tmp_path / "results").rglob("summary.csv"))


def write_keras_generator(path: Path, rng, activation: str = "linear") -> dict[str, np.ndarray]:
    """A file laid out as GAN-TSC's released models/tabular/netG.h5 (Keras 2: model_config and
    model_weights/<layer>/<layer>/<weight>:0), with random weights."""
    import json

    import h5py

    w = {"embed": rng.normal(size=(2, 100)), "k1": rng.normal(size=(100, 50)) / 10, "b1": rng.normal(size=50),
         "k2": rng.normal(size=(50, 10)) / 10, "b2": rng.normal(size=10)}
    dense = lambda name, units, act: {"class_name": "Dense", "config": {"name": name, "units": units,  # noqa: E731
                                                                      "activation": act}}
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": "Embedding", "name": "embedding_1", "config": {"input_dim": 2, "output_dim": 100}},
        {"class_name": "Sequential", "name": "sequential_2",
         "config": [dense("dense_2", 50, "relu"), dense("dense_3", 10, activation)]}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        f["model_weights/embedding_1/embedding_1/embeddings:0"] = w["embed"].astype(np.float32)
        for name, k, b in (("dense_2", "k1", "b1"), ("dense_3", "k2", "b2")):
            f[f"model_weights/sequential_2/{name}/kernel:0"] = w[k].astype(np.float32)
            f[f"model_weights/sequential_2/{name}/bias:0"] = w[b].astype(np.float32)
    return w


def test_released_keras_generator_loads_without_keras_and_generates_its_rows(tmp_path):
    from bench.nets.acgan import TabularACGAN, load_keras_generator

    rng = np.random.default_rng(0)
    w = write_keras_generator(tmp_path / "netG.h5", rng)
    gan = TabularACGAN(2, 10)
    gan.fit_scale(torch.randn(50, 10) * 3 + 1)  # a trained module's scaling is replaced by the identity
    load_keras_generator(gan, tmp_path / "netG.h5")
    noise, labels = rng.normal(size=(5, 100)), np.array([0, 1, 1, 0, 1])
    hidden = np.maximum((noise * w["embed"][labels]) @ w["k1"] + w["b1"], 0)
    expected = hidden @ w["k2"] + w["b2"]  # Keras: Multiply(noise, Embedding(c)) -> Dense relu -> Dense linear
    got = gan.generate(torch.tensor(noise, dtype=torch.float32), torch.tensor(labels)).detach().numpy()
    assert np.allclose(got, expected, atol=1e-4)
    write_keras_generator(tmp_path / "tanh.h5", rng, activation="tanh")
    with pytest.raises(UserError, match=r"activations \['relu', 'tanh'\]; this AC-GAN needs"):
        load_keras_generator(TabularACGAN(2, 10), tmp_path / "tanh.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="junk.h5: not a Keras AC-GAN generator file"):
        load_keras_generator(TabularACGAN(2, 10), tmp_path / "junk.h5")


def test_acgan_losses_and_targets_known_values():
    """Eq. 1's terms for one batch: a source logit of 0 against target 1 costs log 2, uniform
    class logits over 4 classes cost log 4; the class term alone when the source is off.
    Keras-ACGAN's smoothed targets lie in [0.7, 1.2) for real, [0, 0.3) for fake."""
    import math

    from methods.acgan import class_prior, source_class_loss, source_targets

    class Stub:
        def discriminate(self, x):
            return torch.zeros(len(x)), torch.zeros(len(x), 4)

    x, classes = torch.zeros(8, 3), torch.arange(8) % 4
    real = source_targets(8, True, False, torch.Generator())
    assert real.tolist() == [1.0] * 8 and source_targets(8, False, False, torch.Generator()).tolist() == [0.0] * 8
    assert source_class_loss(Stub(), x, real, classes).item() == pytest.approx(math.log(2) + math.log(4))
    assert source_class_loss(Stub(), x, real, classes, source=False).item() == pytest.approx(math.log(4))
    smooth_real = source_targets(1000, True, True, torch.Generator().manual_seed(0))
    smooth_fake = source_targets(1000, False, True, torch.Generator().manual_seed(0))
    assert 0.7 <= smooth_real.min() and smooth_real.max() < 1.2 and smooth_real.std() > 0.1
    assert 0.0 <= smooth_fake.min() and smooth_fake.max() < 0.3
    assert class_prior(torch.tensor([0, 0, 0, 1]), 3).tolist() == [0.75, 0.25, 0.0]


def test_class_only_epochs_leave_the_source_head_untouched(tmp_path):
    """P:gantsc §5's inferior AC-GAN: after the normal epochs G and D follow L_class alone, so
    D's real/fake head gets no gradient (its weights equal those after the normal epochs)."""
    from bench.results.store import Store

    dataset = blobs(tmp_path, 200)
    results = tmp_path / "results"
    heads = []
    for extra in (0, 2):
        spec = make_spec("acgan", "acgan_tabular", {"epochs": 2, "log_every": 1, "class_only_epochs": extra},
                         dataset=dataset)
        spec = type(spec)(**{**spec.__dict__, "n_train": 150})
        assert len(pd.read_csv(Store(results).artefact(run(spec, results)["run_id"], "curve.csv"))) == 2 + extra
        state = torch.load(Store(results).artefact(spec.run_id, "model.pt"))
        heads.append((state["source.weight"], state["classes.weight"]))
    assert torch.equal(heads[0][0], heads[1][0])  # source head frozen in the class-only epochs
    assert not torch.equal(heads[0][1], heads[1][1])  # the class head kept learning
