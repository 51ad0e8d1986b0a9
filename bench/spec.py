"""RunSpec: the complete, hashable description of one run, and its stable run_id.

A run is a pure function of its RunSpec. The run_id is the SHA-256 of the spec's
canonical JSON, so the same spec gives the same id in any process on any machine,
and runs are shared across suites that ask for the same thing.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any


def freeze(value: Any) -> Any:
    """Turn lists/dicts into tuples so a value can live in a frozen dataclass."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class RunSpec:
    """What to run: method, data, seed, nets and the fully resolved method config.

    ``student`` is the architecture this run trains (for ``method: teacher`` it is the
    teacher's own architecture); ``teacher`` is the spec of the teacher run it distils
    from, so a different teacher recipe gives a different run_id.
    """

    method: str
    dataset: str
    seed: int
    student: str
    params: tuple[tuple[str, Any], ...] = ()
    teacher: RunSpec | None = None
    n_train: int | None = None
    pretrained: tuple[tuple[str, RunSpec], ...] = ()
    """Other nets this run starts from, by role (KDGAN's pretrained classifier and
    discriminator): ``(("classifier", spec), ...)``, each the spec of a ``pretrain`` run."""

    @property
    def dependencies(self) -> list[RunSpec]:
        """Runs whose published models this run loads: its teacher, then its pretrained nets."""
        return ([self.teacher] if self.teacher else []) + [spec for _, spec in self.pretrained]

    def roles(self) -> list[tuple[str, RunSpec]]:
        """(role, spec) of every dependency; the teacher's role is ``teacher``."""
        return ([("teacher", self.teacher)] if self.teacher else []) + list(self.pretrained)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "method": self.method,
            "dataset": self.dataset,
            "seed": self.seed,
            "student": self.student,
            "params": {k: _jsonable(v) for k, v in self.params},
            "teacher": self.teacher.to_dict() if self.teacher else None,
            "n_train": self.n_train,
        }
        if self.pretrained:  # absent when empty, so specs without it keep their run ids
            out["pretrained"] = {role: spec.to_dict() for role, spec in self.pretrained}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        return cls(
            method=d["method"],
            dataset=d["dataset"],
            seed=int(d["seed"]),
            student=d["student"],
            params=freeze(d.get("params", {})),
            teacher=cls.from_dict(d["teacher"]) if d.get("teacher") else None,
            n_train=d.get("n_train"),
            pretrained=tuple((role, cls.from_dict(v)) for role, v in sorted(d.get("pretrained", {}).items())),
        )

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @functools.cached_property
    def run_id(self) -> str:
        """Computed once per instance (a spec is frozen): a sweep asks for it thousands of times."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
