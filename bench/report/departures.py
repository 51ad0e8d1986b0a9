"""What a profile that claims to match a paper knows it does differently, gathered so the
report can print it beside the numbers ("comparable" is earned, not declared).

Three sources: the suite profile's own ``departures`` and ``choices`` lists; each
dataset's registered ``departures`` (e.g. how Caltech101 is prepared); and the method
configs' field docstrings. A field whose docstring says *departure* is listed when the
run keeps that field's default; one whose docstring says *unconfirmed* or *harness*
(a value the papers leave open) is listed among the choices.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from bench.config import config_class, field_docs
from bench.plan.grid import Plan
from bench.registry import DATASETS, METHODS

DEPARTURE_WORDS = ("departure",)
CHOICE_WORDS = ("unconfirmed", "harness")


@dataclass
class Departures:
    departures: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)


def config_notes(plan: Plan) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(departure text -> labels, choice text -> labels) from the runs' method configs."""
    departures: dict[str, list[str]] = {}
    choices: dict[str, list[str]] = {}
    for job in plan.runs:
        cls = config_class(METHODS.get(job.spec.method), job.spec.student)
        docs = field_docs(cls)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for name, value in job.spec.params:
            doc = docs.get(name, "")
            shown = list(value) if isinstance(value, tuple) else value
            text = f"`{job.spec.method}.{name} = {shown}`: {doc}"
            lower = doc.lower()
            if any(w in lower for w in DEPARTURE_WORDS) and value == _plain(defaults.get(name)):
                departures.setdefault(text, []).append(job.label)
            elif any(w in lower for w in CHOICE_WORDS):
                choices.setdefault(text, []).append(job.label)
    return departures, choices


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def collect_departures(plan: Plan, frame: pd.DataFrame | None = None) -> Departures:
    """``frame`` (the plan's collected summaries) adds what the runs found in their data."""
    out = Departures(list(plan.departures), list(plan.choices))
    for name in dict.fromkeys(j.spec.dataset for j in plan.runs):
        out.departures += list(DATASETS.get(name).meta.get("departures", ()))
    if frame is not None and "data_departures" in frame:
        for text in frame["data_departures"].dropna().unique():
            out.departures += [t for t in str(text).split(" | ") if t not in out.departures]
    departures, choices = config_notes(plan)
    label = lambda labels: " (" + ", ".join(dict.fromkeys(labels)) + ")"  # noqa: E731
    out.departures += [text + label(labels) for text, labels in departures.items()]
    out.choices += [text + label(labels) for text, labels in choices.items()]
    return out
