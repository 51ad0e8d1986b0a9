"""Aggregation: mean ± std over seeds, the papers' numbers beside ours, claims."""
from __future__ import annotations

import pandas as pd
import pytest

from bench.report.markdown import claim_lines, render_report
from bench.report.tables import write_tables
from bench.plan.grid import load_plan
from bench.registry import DATASETS
from bench.report.reference import paper_values
from bench.results.provenance import spec_columns
from bench.results.store import Store


def test_reference_values_come_from_the_paper_csv():
    ref = paper_values("dfad", "Table 2", "accuracy")
    row = ref[(ref["dataset"] == "MNIST") & (ref["method"] == "DFAD")].iloc[0]
    assert row["value"] == pytest.approx(0.983) and row["std"] == pytest.approx(0.002)
    mad = paper_values("mad", "Table 2", "accuracy")
    row = mad[(mad["dataset"] == "CIFAR-10") & (mad["method"] == "MAD")].iloc[0]
    assert row["value"] == pytest.approx(0.9264)  # printed 92.64 (%), read as a fraction


@pytest.mark.slow
def test_paper_profile_table_shows_paper_numbers_deltas_and_claims(tmp_path):
    plan = load_plan("dfkd_small", "paper")
    store = Store(tmp_path)
    accs = {"Teacher": 0.99, "KD-ORI": 0.985, "KD-REL": 0.95, "KD-UNR": 0.9, "RANDOM": 0.7, "DFAD": 0.98,
            "DAFL": 0.9, "ABM": 0.85, "ZSKT": 0.8, "DFKD-Mem": 0.85, "MAD": 0.9, "Student": 0.95,
            "ZSKT (own code)": 0.8}
    for i, job in enumerate(plan.runs):
        acc = accs[job.label] + 0.001 * job.spec.seed
        train, test = DATASETS.get(job.spec.dataset).meta.get("official_sizes", (800, 200))
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": acc, "status": "done",
                                              "error": "", "train_size": train, "test_size": test})
    results, frame = write_tables(plan, store, tmp_path / "tables")
    cells = results[0].cells.set_index(["label", "dataset"])
    assert cells.loc[("DFAD", "mnist"), "n"] == 5
    assert cells.loc[("DFAD", "mnist"), "mean"] == pytest.approx(0.982)
    assert cells.loc[("DFAD", "mnist"), "paper"] == pytest.approx(0.983)
    assert cells.loc[("DFAD", "cifar10"), "paper"] == pytest.approx(0.933)
    table1 = next(r for r in results if r.table.id == "mad_table1").cells.set_index(["label", "dataset", "pair"])
    assert table1.loc[("MAD", "cifar10", "wrn"), "paper"] == pytest.approx(0.9264)
    assert table1.loc[("MAD", "cifar10", "resnet"), "paper"] == pytest.approx(0.9490)
    assert "cifar10 wrn" in (tmp_path / "tables" / "mad_table1.md").read_text()
    md = (tmp_path / "tables" / "dfad_table2.md").read_text()
    assert "| DFAD | 134K (paper 139K) | 0.982 ± 0.002 | 0.983 ± 0.002 | -0.001 |" in md  # sample std 0.0016
    assert "| Teacher | 417K (paper 433K) | 0.990 |" in md  # one shared teacher: no ±
    assert "mnist (paper)" in md
    verdicts = {v.claim.text: v for r in results for v in r.verdicts}
    assert verdicts["DFAD > RANDOM"].verdict == "holds"  # 0.28 apart, sd 0.0016 over 5 seeds
    assert verdicts["MAD >= ABM - 0.005"].verdict == "holds"
    assert verdicts["DFAD > KD-UNR"].verdict == "holds"
    table2 = next(r for r in results if r.table.id == "dfad_table2")
    mnist = next(line for line in claim_lines(verdicts["DFAD > RANDOM"], table2) if line.startswith("  | mnist |"))
    assert mnist.endswith("| +0.2360 |")  # the paper's own difference beside ours: 0.983 - 0.747


MNIST_SIZES = {"train_size": 60000, "test_size": 10000}


def test_quick_profile_table_shows_paper_numbers_only_as_context_and_counts_missing_runs(tmp_path):
    plan = load_plan("dfkd_small", "quick")
    store = Store(tmp_path)
    job = next(j for j in plan.runs if j.label == "DFAD")
    store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.9, "status": "done"})
    results, _ = write_tables(plan, store, tmp_path / "t")
    md = (tmp_path / "t" / "dfad_table2.md").read_text()
    assert "(paper)" not in md and "| 0.900 (1/3) |" in md  # digits: the paper has no number; one run: no spread
    assert all(v.verdict == "not checked" for v in results[0].verdicts)
    assert results[0].comparability() == "no paper number to compare with"

    mnist = load_plan("dfkd_small", "quick", datasets=["mnist"], overrides=["dfad.epochs=1"])
    job = next(j for j in mnist.runs if j.label == "DFAD")
    store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.9, "status": "done", **MNIST_SIZES})
    results, _ = write_tables(mnist, store, tmp_path / "m")
    line = next(r for r in results if r.table.id == "dfad_table2").comparability()
    assert line.startswith("no, the paper's numbers are context: ")
    dfad = next(part for part in line.split(": ", 1)[1].split("); ") if part.startswith("DFAD "))
    assert "profile quick" in dfad and "--set dfad.epochs=1" in dfad and "1 of the paper's 5 runs" in dfad, line
    report = render_report(mnist, results, _, [], "cmd", tmp_path)
    assert "- Comparable to the papers' numbers: no — profile `quick`" in report
    assert "mnist (paper)" in (tmp_path / "m" / "dfad_table2.md").read_text()


def test_paper_profile_cell_is_comparable_only_at_the_papers_setting_and_runs(tmp_path):
    plan = load_plan("dfkd_small", "paper", datasets=["mnist"])
    store = Store(tmp_path)
    dfad = [j for j in plan.runs if j.experiment == "dfad_table2" and j.label == "DFAD"]
    for job in dfad[:2]:
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.98, "status": "done",
                                              **MNIST_SIZES})
    results, frame = write_tables(plan, store, tmp_path / "t")
    line = next(r for r in results if r.table.id == "dfad_table2").comparability()
    assert "DFAD mnist (2 of the paper's 5 runs)" in line, line
    for job in dfad:
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.98, "status": "done",
                                              **MNIST_SIZES})
    results, frame = write_tables(plan, store, tmp_path / "t")
    line = next(r for r in results if r.table.id == "dfad_table2").comparability()
    assert "DFAD mnist" not in line, line


def test_report_lists_the_papers_rows_we_do_not_reproduce(tmp_path):
    from bench.report.markdown import not_reproduced

    plan = load_plan("dfkd_small", "paper")
    store = Store(tmp_path)
    job = next(j for j in plan.runs if j.experiment == "mad_table1" and j.label == "MAD")
    store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.9, "status": "done"})
    results, _ = write_tables(plan, store, tmp_path / "t")
    missing = not_reproduced(next(r for r in results if r.table.id == "mad_table1"))
    assert set(missing) == {"ADI", "DDAD", "DFQ", "CMI"}
    assert ("cifar10 resnet", pytest.approx(0.9484)) in missing["CMI"]


def test_a_subset_of_cifar10_is_flagged_and_never_shown_beside_the_paper(tmp_path):
    """cifar10_head (4,660 / 932 images) read by the cifar10 loader in the paper profile."""
    from bench.report.markdown import render_report

    plan = load_plan("dfkd_small", "paper")
    store = Store(tmp_path)
    for job in plan.runs:
        sizes = (4_660, 932) if job.spec.dataset == "cifar10" else \
            DATASETS.get(job.spec.dataset).meta.get("official_sizes", (800, 200))
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.5, "status": "done",
                                              "error": "", "train_size": sizes[0], "test_size": sizes[1]})
    results, frame = write_tables(plan, store, tmp_path / "t")
    cells = results[0].cells.set_index(["label", "dataset"])
    assert pd.isna(cells.loc[("DFAD", "cifar10"), "paper"])
    assert cells.loc[("DFAD", "mnist"), "paper"] == pytest.approx(0.983)
    report = render_report(plan, results, frame, [], "cmd", tmp_path / "t")
    assert "**except cifar10**" in report
    assert "cifar10: 4,660 train / 932 test — **not the official 50,000 / 10,000" in report
    assert "mnist: 60,000 train / 10,000 test (official sizes)" in report
    assert "## Known departures from the papers" in report and "Caltech101: training images" in report


def test_magic_as_the_code_splits_it_shows_the_teacher_and_the_papers_number_in_the_students_column(tmp_path):
    """The teacher trains on every row (n_train unset) and sits in the column of the students
    sized to all 13,312 rows; the paper's MAGIC number, printed for the 10k setting that
    magic_npz's 13,312 rows also stand for, is shown beside both."""
    plan = load_plan("gantsc_tabular", "paper", datasets=["magic_npz"], seeds=[0, 1],
                     only=["gantsc_single_tree"])
    store = Store(tmp_path)
    assert any(job.spec.n_train is None for job in plan.runs)   # the teacher
    for job in plan.runs:
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc": 0.9, "accuracy": 0.8,
                                              "status": "done", "error": "", "train_size": 13_312,
                                              "test_size": 5_707})
    results, frame = write_tables(plan, store, tmp_path / "t")
    single = next(r for r in results if r.table.id == "gantsc_single_tree")
    assert single.cols == ["magic_npz n=13312"]
    cells = single.cells.set_index("label")
    assert cells.loc["Teacher", "column"] == "magic_npz n=13312"
    assert cells.loc["GAN-TSC", "paper"] == pytest.approx(0.918) and cells.loc["MUNGE", "paper"] == pytest.approx(0.909)
    # the tables the paper prints no number for (accuracy, excess error) leave the verdict to this one
    report = render_report(plan, results, frame, [], "cmd", tmp_path / "t")
    assert "- Comparable to the papers' numbers: yes, with the known departures listed below" in report


def test_a_teacher_on_every_row_joins_its_students_figure_instead_of_overwriting_it(tmp_path):
    from bench.report.figures import plot_curves

    plan = load_plan("gantsc_tabular", "paper", datasets=["magic_npz"], seeds=[0], only=["gantsc_fig1"])
    store = Store(tmp_path)
    for job in plan.runs:
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc": 0.9, "status": "done", "error": "",
                                              "train_size": 13_312, "test_size": 5_707})
    _, frame = write_tables(plan, store, tmp_path / "t")
    figures = plot_curves(plan, store, frame, tmp_path / "t")
    # one figure, drawn from the swept students with the teacher as its reference line
    assert [p.name for p in figures] == ["gantsc_fig1_magic_npz.png"]


def test_departures_come_from_the_profile_the_datasets_and_the_config_docstrings():
    from bench.report.departures import collect_departures

    found = collect_departures(load_plan("dfkd_small", "paper"))
    assert any("CIFAR-100 is normalised" in d for d in found.departures)       # the profile's list
    assert any(d.startswith("Caltech101: training images") for d in found.departures)  # the registry
    assert any(c.startswith("`mad.delta = 20.0`") and "unconfirmed" in c for c in found.choices)
    assert any("KD-REL / KD-UNR alternative data" in c for c in found.choices)


def test_figure_bands_are_one_std_clipped_to_the_unit_range_and_say_so():
    """MNIST's band reached 1.03: an accuracy band stops at 1; the legend names each line's
    number of runs and the panel says what the band is."""
    import matplotlib.pyplot as plt

    from bench.report.figures import BAND, mean_band

    data = pd.DataFrame({"run_id": ["a", "b", "c"] * 2, "epoch": [1] * 3 + [2] * 3,
                         "acc": [0.98, 1.0, 1.0, 0.5, 0.6, 0.7], "label": "DFAD"})
    fig, ax = plt.subplots()
    mean_band(ax, data, "epoch", "acc", "label")
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.max() == 1.0  # 0.9933 + 0.0115 clipped
    assert round(band.min(), 4) == 0.5  # the sample std (ddof=1) of 0.5, 0.6, 0.7 is 0.1
    assert ax.get_legend_handles_labels()[1] == ["DFAD (n=3)"] and ax.get_title() == BAND
    plt.close(fig)
    loss = data.assign(loss=[1.0, 3.0, 5.0, 0, 0, 0])
    fig, ax = plt.subplots()
    mean_band(ax, loss, "epoch", "loss", "label")  # a loss is not clipped
    assert ax.collections[0].get_paths()[0].vertices[:, 1].max() > 4.6
    plt.close(fig)


def test_curves_are_also_drawn_against_wall_time_at_each_epochs_mean():
    """Methods count epochs differently (a DFAD "epoch" is 50 iterations): the second axis
    puts each epoch's mean accuracy at the mean wall time its runs had spent."""
    import matplotlib.pyplot as plt

    from bench.report.figures import mean_band

    data = pd.DataFrame({"run_id": ["a", "b"] * 2, "epoch": [1, 1, 2, 2], "acc": [0.4, 0.6, 0.7, 0.9],
                         "wall_s": [10.0, 14.0, 20.0, 30.0], "label": "AFD"})
    fig, ax = plt.subplots()
    mean_band(ax, data, "epoch", "acc", "label", place_at="wall_s")
    x, y = ax.lines[0].get_data()
    assert list(x) == [12.0, 25.0] and list(y) == pytest.approx([0.5, 0.8])
    plt.close(fig)


def test_every_logged_curve_row_records_the_wall_time_so_far(tmp_path):
    import torch

    from bench.context import RunContext
    from bench.results.store import Store
    from tests.conftest import make_spec

    ctx = RunContext(make_spec("teacher", "cnn8"), Store(tmp_path), tmp_path, torch.device("cpu"))
    ctx.elapsed_before = 100.0   # a run resumed after 100 s in earlier sessions
    ctx.log(1, acc=0.5)
    ctx.log(2, acc=0.6, wall_s=99.0)   # a method's own value is kept
    curve = pd.read_csv(ctx.dir / "curve.csv")
    assert 100.0 <= curve["wall_s"].iloc[0] < 110.0 and curve["wall_s"].iloc[1] == 99.0


def test_a_table_over_two_training_sizes_names_both_and_says_why_a_claim_has_no_column(tmp_path):
    """KDGAN Table 1 at n = 100 and 1,000 without KDGAN: the data line names both sizes (it
    printed the larger alone); a claim about n = 50,000 is not in the report, one naming KDGAN
    lacks its row; each claim says where the paper makes it."""
    from bench.report.markdown import render_report

    plan = load_plan("kdgan_compression", "paper", datasets=["mnist"], seeds=[0, 1], n_train=[100, 1000],
                     only=["kdgan_table1"])
    store = Store(tmp_path)
    for job in plan.runs:
        if job.label != "KDGAN":
            store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.9, "status": "done",
                                                  "error": "", "train_size": job.spec.n_train,
                                                  "test_size": 10_000})
    results, frame = write_tables(plan, store, tmp_path / "t")
    report = render_report(plan, results, frame, [], "cmd", tmp_path / "t")
    assert "Data: mnist: 100 and 1,000 train / 10,000 test (official sizes, training subset)" in report
    assert ("- `NaGAN > DISTN`: **not checked**\n\n"
            "  Source: P:kdgan §4.1: NaGAN performs better with 50,000 CIFAR-10 images\n\n"
            "  (the columns it is about are not in this report)") in report
    assert ("- `KDGAN > NaGAN, the gain larger in n=1000 than in n=10000`: **not checked**\n\n"
            "  Source: P:kdgan §4.1\n\n  (the columns it is about are not in this report)") in report


def test_a_claim_whose_row_did_not_run_names_that_row():
    from types import SimpleNamespace

    from bench.plan.claims import Verdict, claim_from
    from bench.report.markdown import unchecked_reason

    claim = claim_from({"claim": "KDGAN > NaGAN", "table": "t"})
    assert unchecked_reason(Verdict(claim, "not checked", []), SimpleNamespace(rows=["NaGAN"])) == \
        "KDGAN did not run in this profile"
    both_metrics = claim_from({"claim": "mlp100:teacher > mlp100:classifier", "table": "t"})
    assert unchecked_reason(Verdict(both_metrics, "not checked", []), SimpleNamespace(rows=["kdgan"])) == \
        "mlp100 did not run in this profile"  # named once, though both sides read it


def test_the_runs_table_gives_each_cell_its_own_row_never_a_mean_over_sizes_or_variants(tmp_path):
    """KDGAN at n = 100 and 1,000, and Fig. 3a's KDGAN (with the Gumbel-Max trick) beside Table 1's
    under the same label: three rows with their own means; one row over all of them read 0.820,
    between two numbers that no table shows. The same runs in two tables under one label: one row."""
    plan = load_plan("kdgan_compression", "paper", datasets=["mnist"], seeds=[0, 1], n_train=[100, 1000],
                     only=["kdgan_table1", "kdgan_fig3a"])
    store = Store(tmp_path)
    for job in plan.runs:
        if job.spec.method in ("kdgan", "distn"):
            gumbel = job.experiment == "kdgan_fig3a" and job.label == "KDGAN"
            acc = 0.8 if gumbel else {100: 0.7, 1000: 0.9}[job.spec.n_train]
            store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": acc + job.spec.seed / 100,
                                                  "status": "done", "error": "", "train_size": job.spec.n_train,
                                                  "test_size": 10_000})
    results, frame = write_tables(plan, store, tmp_path / "t")
    runs = render_report(plan, results, frame, [], "cmd", tmp_path / "t").split("## Runs")[1]
    rows = [line.split(" | ")[:5] + [line.split(" | ")[7]] for line in runs.splitlines() if "| kdgan |" in line]
    assert rows == [["| KDGAN", "kdgan_table1", "kdgan", "mnist", "100", "0.705"],
                    ["| KDGAN", "kdgan_table1", "kdgan", "mnist", "1,000", "0.905"],
                    ["| KDGAN-WO-GM", "kdgan_fig3a", "kdgan", "mnist", "100", "0.705"],
                    ["| KDGAN", "kdgan_fig3a", "kdgan", "mnist", "100", "0.805"]]
    assert "| DISTN | kdgan_table1, kdgan_fig3a | distn | mnist | 100 |" in runs  # one cell of two tables: one row


def test_an_unfinished_run_reads_as_its_state_in_the_report_not_todo(tmp_path):
    from bench.report.tables import collect
    from bench.results.states import PARTIAL, RUNNING, RunState

    plan = load_plan("kdgan_compression", "paper", datasets=["mnist"], seeds=[0], n_train=[100],
                     only=["kdgan_table1"])
    kdgan, nagan = (next(j.spec.run_id for j in plan.runs if j.label == label) for label in ("KDGAN", "NaGAN"))
    frame = collect(plan, Store(tmp_path), {kdgan: RunState(PARTIAL), nagan: RunState(RUNNING)})
    assert frame.set_index("run_id")["status"][[kdgan, nagan]].tolist() == ["partial", "running"]
    assert (frame[~frame["run_id"].isin([kdgan, nagan])]["status"] == "todo").all()
