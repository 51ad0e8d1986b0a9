"""Fingerprints of what a run's numbers depend on besides its spec: code, data, numerics.

The run id hashes the spec only. A cached result is reused only when these match too
(benchopt keys its cache on the solver's code in the same spirit):

- **code**: every project module a run executes: the runner that every executor calls
  (seeding, the device, the results it writes), the method's module, the module of every
  net and dataset the spec names (its student, its teacher's and pretrained players' specs,
  nets named in its config), with every project module they import, transitively
  (``bench``, ``methods``, ``baselines`` or a plugin's own file). Each is hashed as its
  syntax tree without docstrings, so comments, docstrings and formatting do not make a
  result stale but any change to what executes does. No module is exempt by hand: one that
  looks like bookkeeping still runs inside the run and could change a number. Two kinds of
  module are outside because no run executes them: planning, scheduling and reporting, and
  the nets and loaders a registry package imports only to register them (``bench.nets``
  imports every architecture; a KDGAN run builds LeNets and an MLP, so a change to the
  AC-GAN leaves it valid). tests/test_code_fingerprint.py traces what runs execute and
  fails if the closure misses one.
- **data**: SHA-256 of the raw tensors a run loaded (content, not file dates), plus the
  tensors' shapes for a readable reason; for a streamed image-folder dataset (ImageNet),
  of every image's path and size in bytes.
- **numerics**: the torch thread count and determinism flags the run was pinned to.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import sys
from pathlib import Path

import torch

from bench.results.store import atomic_write_text, file_stamp, stamped_sha256

PROJECT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("bench", "methods", "baselines")
RUN_ENTRIES = ("bench.run.runner", "bench.run.task")
"""What executes a run: the runner inline, the task around it in a worker or a SLURM job."""


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _module_file(name: str) -> Path | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if path is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        path = spec.origin if spec else None
    return Path(path) if path and path.endswith(".py") else None


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Project modules named by the import statements of module ``name``."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in found if m.split(".")[0] in PROJECT_PACKAGES}


@functools.lru_cache(maxsize=None)
def _module_digest(name: str) -> tuple[str, frozenset[str]] | None:
    path = _module_file(name)
    if path is None:
        return None
    tree = _strip_docstrings(ast.parse(path.read_text(), str(path)))
    digest = hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()
    return digest, frozenset(_imports(tree, name, path.name == "__init__.py"))


def _strings(value) -> set[str]:
    """Every string in a spec's nested dicts and lists."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*map(_strings, value)) if value else set()
    return set()


def run_roots(spec) -> tuple[str, ...]:
    """The modules a run of ``spec`` starts from: the run entries, the method's module and
    the module of every net and dataset the spec names anywhere (a plugin's file when a
    plugin registered them)."""
    from bench.errors import UserError
    from bench.registry import DATASETS, METHODS, NETS

    roots = list(RUN_ENTRIES)
    try:
        roots.append(METHODS.get(spec.method).obj.__module__)
    except UserError:  # not registered here: the run cannot execute it either
        pass
    names = _strings(spec.to_dict())
    roots += sorted({registry.get(name).obj.__module__ for registry in (NETS, DATASETS)
                     for name in names & set(registry.names())})
    return tuple(roots)


def registering_modules() -> frozenset[str]:
    """Modules that register nets, datasets or methods: a registry package imports them to
    fill the registry, which executes none of their code a run could depend on."""
    from bench.registry import DATASETS, METHODS, NETS

    return frozenset(entry.obj.__module__ for registry in (NETS, DATASETS, METHODS) for entry in registry.entries())


def code_closure(*roots: str) -> dict[str, str]:
    """Module name -> digest for ``roots`` and the project modules they import, transitively;
    a package's own imports of its registering submodules are not followed (a module that
    imports one directly reaches it)."""
    registering = registering_modules()
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        found = _module_digest(name)
        if found is None:
            continue
        seen[name], deps = found
        if _module_file(name).name == "__init__.py":
            deps = {d for d in deps if not (d.startswith(name + ".") and d in registering)}
        todo.extend(sorted(deps))
    return dict(sorted(seen.items()))


def run_code(spec) -> dict[str, str]:
    """Module name -> digest of every project module a run of ``spec`` executes."""
    return code_closure(*run_roots(spec))


def code_fingerprint(spec) -> str:
    """16 hex digits identifying the code a run of ``spec`` executes."""
    return digest_of(run_code(spec))


def digest_of(closure: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(closure, sort_keys=True).encode()).hexdigest()[:16]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 (16 hex digits) of tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def file_digest(path: str | Path) -> str:
    """sha256 (16 hex) of an input file (a teacher's weights), once per (path, size, mtime)."""
    return stamped_sha256(Path(path))[:16]


def fingerprint_cache() -> Path:
    """Where data fingerprints are remembered across processes ($BENCH_CACHE, else ~/.cache)."""
    base = os.environ.get("BENCH_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                         os.path.expanduser("~/.cache"), "advkd-bench")
    return Path(base) / "data_fingerprints.json"


@functools.lru_cache(maxsize=16)
def data_fingerprint(name: str, root: str, download: bool = False) -> str:
    """Digest of dataset ``name``'s raw tensors as loaded from ``root`` (once per process).

    A dataset that names the files its loader reads (``sources`` in its registration) is
    loaded again only when one of them changed (path, size or modification time): the
    digest is remembered in ``fingerprint_cache()`` under those stamps, so a rerun or a
    ``--status`` does not load the data (or scikit-learn) to learn it is the same."""
    from bench.registry import DATASETS

    entry = DATASETS.get(name)
    sources = entry.meta.get("sources")
    declared = [Path(f) for f in sources(Path(root))] if sources else []
    if not declared or not all(f.is_file() for f in declared):
        return _data_digest(name, root, download)
    files = declared + [Path(inspect.getsourcefile(entry.obj))]  # the loader's own code too
    stamp = json.dumps([name] + [(str(f.resolve()), file_stamp(f)) for f in files])
    cache = fingerprint_cache()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if stamp not in known:
        known[stamp] = _data_digest(name, root, download)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, json.dumps(known))
        except OSError:  # a read-only home: compute it each time, as without sources
            pass
    return known[stamp]


def _data_digest(name: str, root: str, download: bool) -> str:
    from bench.data.base import load_raw
    from bench.registry import DATASETS

    streaming = DATASETS.get(name).meta.get("streaming")
    if streaming:  # too many images to hash their bytes: each file's path (under the root) and size
        data = streaming(Path(root), 1)
        files = [(os.path.relpath(p, root), os.path.getsize(p), y) for p, y in data.train + data.test]
        return hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
    raw = load_raw(name, root, download)
    return tensor_digest(raw.x_train, raw.y_train, raw.x_test, raw.y_test)


def numerics(threads: int, device: str) -> dict[str, object]:
    """Pin what changes float results besides the spec; return what was pinned.

    The thread count changes the order of reductions on CPU, so every executor runs a
    run with the count bench.run.threads chose for it instead of torch's default.
    Denormal floats are flushed to zero on CPU: weights and Adam moments that decay towards
    zero over a long run turn denormal, and every operation that touches them then runs
    several times slower (a KDGAN LeNet step after 175 pretraining epochs: 212 ms, 58 ms
    flushed), while zero differs from them by less than float32 resolves in any sum.
    """
    torch.set_num_threads(threads)
    flushed = torch.set_flush_denormal(True)  # False where the CPU cannot (then nothing changes)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return {"threads": threads, "deterministic": True, "device_type": torch.device(device).type,
            "flush_denormal": flushed}
