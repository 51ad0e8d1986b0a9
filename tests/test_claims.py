"""Claims are tested on distributions over seeds (Welch), and every suite's claims hold
on the papers' own published numbers."""
from __future__ import annotations

import math

import pytest

from bench.report.tables import claim_columns, reference_samples
from bench.plan.claims import (CONTRADICTED, HOLDS, MEANS_ONLY, NOISE, UNCHECKED, Sample, check_claim, claim_from,
                               parse_claim, side)
from bench.errors import UserError
from bench.plan.grid import load_plan, suite_names


def cells(**rows: tuple[float, float, int]) -> dict[tuple[str, str], Sample]:
    return {(label, "c"): Sample(*v) for label, v in rows.items()}


def test_parsing():
    claim = parse_claim("DFAD >= KD-ORI - 0.03")
    assert (claim.lhs, claim.op, claim.rhs, claim.offset) == ("DFAD", ">=", "KD-ORI", -0.03)
    with pytest.raises(UserError):
        parse_claim("DFAD beats KD")
    with pytest.raises(UserError, match="non-inferiority test and needs its margin, e.g. 'MAD >= ABM - 0.005'"):
        parse_claim("MAD >= ABM")


def test_a_row_against_a_constant_is_tested_on_the_rows_spread():
    claim = parse_claim("GAN-TSC > 25")
    assert claim.bound == 25.0 and claim.rhs == "25"
    assert check_claim(claim, cells(**{"GAN-TSC": (60.0, 5.0, 5)}), ["c"]).verdict == HOLDS
    assert check_claim(claim, cells(**{"GAN-TSC": (26.0, 5.0, 5)}), ["c"]).verdict == NOISE
    v = check_claim(parse_claim("GAN-TSC < 0.012"), cells(**{"GAN-TSC": (0.03, 0.005, 5)}), ["c"])
    assert v.verdict == CONTRADICTED and v.columns[0].diff == pytest.approx(-0.018)


def test_a_gain_claim_compares_the_difference_between_two_columns():
    claim = claim_from({"claim": "K > N", "gain_larger_in": ["n=100", "n=1000"]})
    data = {("K", "m n=100"): Sample(0.77, 0.01, 5), ("N", "m n=100"): Sample(0.65, 0.01, 5),
            ("K", "m n=1000"): Sample(0.96, 0.01, 5), ("N", "m n=1000"): Sample(0.94, 0.01, 5)}
    v = check_claim(claim, data, ["m n=100", "m n=1000"])
    assert v.verdict == HOLDS and v.columns[0].column == "m n=100 vs m n=1000"
    assert v.columns[0].diff == pytest.approx(0.10)  # 0.12 at n = 100 against 0.02 at n = 1,000
    data[("N", "m n=1000")] = Sample(0.80, 0.01, 5)  # the gain at n = 1,000 is now 0.16
    assert check_claim(claim, data, ["m n=100", "m n=1000"]).verdict == CONTRADICTED
    with pytest.raises(UserError, match="gain_larger_in: expected two column endings"):
        claim_from({"claim": "K > N", "gain_larger_in": "n=100"})


def test_sides_naming_metric_headers_compare_two_metrics_in_each_column():
    """KDGAN Fig. 7: one run's two gradient variances; Table 3: the teacher's lead over the
    classifier, smaller at the larger n."""
    data = {("K", "m n=100 adv"): Sample(5.0, 0.5, 3), ("K", "m n=100 ds"): Sample(1.0, 0.5, 3),
            ("K", "m n=1000 adv"): Sample(4.0, 0.5, 3), ("K", "m n=1000 ds"): Sample(6.0, 0.5, 3),
            ("N", "m n=100 adv"): Sample(0.0, 0.5, 3)}
    cols = ["m n=100 adv", "m n=100 ds", "m n=1000 adv", "m n=1000 ds"]
    v = check_claim(parse_claim("K:ds < K:adv"), data, cols)
    assert [c.column for c in v.columns] == ["m n=100", "m n=1000"]
    assert [c.verdict for c in v.columns] == [HOLDS, CONTRADICTED] and v.verdict == CONTRADICTED
    assert v.columns[0].diff == pytest.approx(4.0)
    gain = claim_from({"claim": "K:adv > K:ds", "gain_larger_in": ["n=100", "n=1000"]})
    v = check_claim(gain, data, cols)
    assert v.verdict == HOLDS and v.columns[0].diff == pytest.approx(4.0 - (-2.0))
    assert check_claim(parse_claim("K:adv > N:adv"), data, cols).columns[0].diff == pytest.approx(5.0)


def test_a_difference_beyond_noise_holds():
    v = check_claim(parse_claim("A > B"), cells(A=(0.90, 0.01, 5), B=(0.80, 0.01, 5)), ["c"])
    assert v.verdict == HOLDS and v.columns[0].p < 1e-6 and v.columns[0].diff == pytest.approx(0.10)


def test_a_difference_inside_the_noise_is_within_noise_for_both_directions():
    data = cells(A=(0.81, 0.05, 3), B=(0.80, 0.05, 3))
    assert check_claim(parse_claim("A > B"), data, ["c"]).verdict == NOISE
    assert check_claim(parse_claim("A >= B - 0.001"), data, ["c"]).verdict == NOISE  # >= needs evidence too
    assert check_claim(parse_claim("B > A"), data, ["c"]).verdict == NOISE


def test_the_reverse_beyond_noise_contradicts_and_offsets_shift_the_test():
    data = cells(A=(0.80, 0.01, 5), B=(0.90, 0.01, 5))
    assert check_claim(parse_claim("A > B"), data, ["c"]).verdict == CONTRADICTED
    assert check_claim(parse_claim("A < B"), data, ["c"]).verdict == HOLDS
    assert check_claim(parse_claim("A >= B - 0.2"), data, ["c"]).verdict == HOLDS


def test_welch_p_value_matches_a_hand_computation():
    # d = 0.02, se = sqrt(0.01^2/4 + 0.02^2/4) = 0.01118, t = 1.789, Welch df = 4.41
    v = check_claim(parse_claim("A > B"), cells(A=(0.52, 0.01, 4), B=(0.50, 0.02, 4)), ["c"])
    assert v.columns[0].p == pytest.approx(0.0716, abs=2e-3) and v.verdict == NOISE


def test_single_values_are_read_on_means_and_say_so():
    v = check_claim(parse_claim("A > B"), cells(A=(0.9, math.nan, 1), B=(0.8, math.nan, 1)), ["c"])
    assert v.verdict == "holds on means only" and "means only" in v.columns[0].note
    v = check_claim(parse_claim("A < B"), cells(A=(0.9, math.nan, 1), B=(0.8, math.nan, 1)), ["c"])
    assert v.verdict == "contradicted on means only"


def test_a_failed_row_is_reported_not_skipped():
    data = {("A", "x"): Sample(0.9, 0.01, 3), ("B", "x"): Sample(0.5, 0.01, 3),
            ("A", "y"): Sample(0.9, 0.01, 3), ("B", "y"): Sample(math.nan, math.nan, 0, 3)}
    v = check_claim(parse_claim("A > B"), data, ["x", "y"])
    assert v.verdict == HOLDS
    assert [c.column for c in v.columns] == ["x", "y"]
    assert v.columns[1].verdict == UNCHECKED and "3 failed" in v.columns[1].note


def test_any_contradicted_column_contradicts_the_claim():
    data = {("A", "x"): Sample(0.9, 0.01, 3), ("B", "x"): Sample(0.5, 0.01, 3),
            ("A", "y"): Sample(0.4, 0.01, 3), ("B", "y"): Sample(0.5, 0.01, 3)}
    assert check_claim(parse_claim("A > B"), data, ["x", "y"]).verdict == CONTRADICTED


def paper_claim_cases():
    for suite in suite_names():
        plan = load_plan(suite, "paper")
        for claim in plan.claims:
            table = next(t for t in plan.tables if t.id == claim["table"])
            if table.reference:
                yield pytest.param(plan, table, claim, id=f"{suite}:{claim['claim']}")


@pytest.mark.parametrize("plan,table,claim", list(paper_claim_cases()))
def test_every_claim_holds_on_the_papers_own_numbers(plan, table, claim):
    """A claim that fails on the paper's own table misstates the paper (where the paper
    prints no std, e.g. MAD, it can only hold on the means)."""
    samples, columns = reference_samples(table)
    parsed = claim_from(claim)
    absent = {side(parsed.lhs)[0]} | ({side(parsed.rhs)[0]} if parsed.bound is None else set())
    absent -= {label for label, _ in samples}
    if absent:  # e.g. AFD's Adv-only against Vanilla: Table 2 prints no Vanilla row, §4.2's text the gain
        pytest.skip(f"the paper's {table.reference['table']} prints no {', '.join(sorted(absent))} row; "
                    "the claim rests on the text its source quotes")
    v = check_claim(parsed, samples, claim_columns(claim, columns))
    assert v.verdict in (HOLDS, HOLDS + MEANS_ONLY), v.detail
