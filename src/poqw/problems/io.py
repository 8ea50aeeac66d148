"""Reading and writing problems: a JSON form and the Gset MaxCut edge-list format.

Gset files (Helmberg & Rendl's MaxCut benchmark) are plain text: a first line ``n m``, then
``m`` lines ``i j w`` with 1-based node indices. The JSON form is
``{"format": "poqw-ising", "version": 1, "num_variables": n, "h": [...],
"J": [[i, j, w], ...], "offset": c}``. Readers refuse files over a size limit.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from poqw.errors import ProblemFormatError
from poqw.problems.convert import maxcut_to_ising
from poqw.problems.model import IsingModel

__all__ = [
    "MAX_FILE_BYTES",
    "ising_from_json",
    "ising_to_json",
    "read_gset",
    "read_gset_graph",
    "read_ising_json",
    "write_gset",
    "write_ising_json",
]

MAX_FILE_BYTES = 64 * 1024 * 1024


def _read_text(path: str | os.PathLike[str], limit: int) -> str:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ProblemFormatError(f"{p}: cannot read ({exc.strerror})") from exc
    if size > limit:
        raise ProblemFormatError(f"{p}: {size} bytes is over the limit of {limit}")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemFormatError(f"{p}: not UTF-8 text ({exc.reason})") from exc


def read_gset_graph(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> Any:
    """The weighted networkx graph (0-based nodes) of a Gset file."""
    import networkx as nx

    text = _read_text(path, limit)
    lines = [(no, ln.split()) for no, ln in enumerate(text.splitlines(), 1)]
    lines = [(no, parts) for no, parts in lines if parts and not parts[0].startswith(("#", "%"))]
    if not lines:
        raise ProblemFormatError(f"{path}: empty file; expected a first line 'n m'")
    no, head = lines[0]
    if len(head) != 2:
        raise ProblemFormatError(f"{path}:{no}: expected 'n m', got {' '.join(head)!r}")
    try:
        n, m = int(head[0]), int(head[1])
    except ValueError:
        raise ProblemFormatError(f"{path}:{no}: 'n m' must be integers") from None
    if n <= 0 or m < 0:
        raise ProblemFormatError(f"{path}:{no}: n must be positive and m non-negative")
    if len(lines) - 1 != m:
        raise ProblemFormatError(f"{path}: header says {m} edges but the file has "
                                 f"{len(lines) - 1} edge lines")
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for no, parts in lines[1:]:
        if len(parts) not in (2, 3):
            raise ProblemFormatError(f"{path}:{no}: expected 'i j w', got {' '.join(parts)!r}")
        try:
            i, j = int(parts[0]), int(parts[1])
            w = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            raise ProblemFormatError(f"{path}:{no}: cannot read numbers in "
                                     f"{' '.join(parts)!r}") from None
        if not (1 <= i <= n and 1 <= j <= n):
            raise ProblemFormatError(f"{path}:{no}: node index out of range 1..{n}: {i} {j}")
        if i == j:
            raise ProblemFormatError(f"{path}:{no}: self-loop on node {i}")
        if not math.isfinite(w):
            raise ProblemFormatError(f"{path}:{no}: weight {parts[2]} is not finite")
        if g.has_edge(i - 1, j - 1):
            raise ProblemFormatError(f"{path}:{no}: duplicate edge {i} {j}")
        g.add_edge(i - 1, j - 1, weight=w)
    return g


def read_gset(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> IsingModel:
    """The MaxCut Ising model (energy = -cut) of a Gset file."""
    return maxcut_to_ising(read_gset_graph(path, limit))


def write_gset(graph: Any, path: str | os.PathLike[str]) -> None:
    """Write a graph (nodes 0..n-1) as a Gset file, 1-based."""
    edges = sorted((min(a, b), max(a, b), d.get("weight", 1.0)) for a, b, d in
                   graph.edges(data=True))
    out = [f"{graph.number_of_nodes()} {len(edges)}"]
    out += [f"{a + 1} {b + 1} {w:g}" for a, b, w in edges]
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")


def ising_to_json(model: IsingModel) -> dict[str, Any]:
    """The JSON-able dict form of a model."""
    return {
        "format": "poqw-ising",
        "version": 1,
        "num_variables": model.num_variables,
        "h": [float(v) for v in model.h],
        "J": [[int(a), int(b), float(w)] for (a, b), w in zip(model.edges, model.J, strict=True)],
        "offset": model.offset,
    }


def ising_from_json(doc: Any) -> IsingModel:
    """Build a model from its dict form, with errors that name the bad field."""
    if not isinstance(doc, dict):
        raise ProblemFormatError("a poqw-ising document must be a JSON object")
    if doc.get("format") != "poqw-ising":
        raise ProblemFormatError(f"format must be 'poqw-ising', got {doc.get('format')!r}")
    if doc.get("version") != 1:
        raise ProblemFormatError(f"unsupported poqw-ising version {doc.get('version')!r}")
    n = doc.get("num_variables")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ProblemFormatError("num_variables must be a non-negative integer")
    h = doc.get("h", [0.0] * n)
    if not isinstance(h, list) or len(h) != n:
        raise ProblemFormatError(f"h must be a list of {n} numbers")
    raw_j = doc.get("J", [])
    if not isinstance(raw_j, list):
        raise ProblemFormatError("J must be a list of [i, j, w] triples")
    J: dict[tuple[int, int], float] = {}
    for k, t in enumerate(raw_j):
        if (not isinstance(t, list) or len(t) != 3 or not all(isinstance(x, int | float) and
                                                               not isinstance(x, bool) for x in t)
                or not float(t[0]).is_integer() or not float(t[1]).is_integer()):
            raise ProblemFormatError(f"J[{k}] must be [i, j, w] with integer i and j, got {t!r}")
        key = (int(t[0]), int(t[1]))
        if key in J or key[::-1] in J:
            raise ProblemFormatError(f"J[{k}]: duplicate coupling {key}")
        J[key] = float(t[2])
    offset = doc.get("offset", 0.0)
    if not isinstance(offset, int | float) or isinstance(offset, bool):
        raise ProblemFormatError("offset must be a number")
    for k, v in enumerate(h):
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise ProblemFormatError(f"h[{k}] must be a number, got {v!r}")
    for a, b in J:
        if not (0 <= a < n and 0 <= b < n):
            raise ProblemFormatError(f"coupling ({a}, {b}) is out of range for {n} variables")
    return IsingModel.from_dicts([float(v) for v in h], J, offset=float(offset), num_variables=n)


def write_ising_json(model: IsingModel, path: str | os.PathLike[str]) -> None:
    """Write a model as JSON."""
    Path(path).write_text(json.dumps(ising_to_json(model)), encoding="utf-8")


def read_ising_json(path: str | os.PathLike[str], limit: int = MAX_FILE_BYTES) -> IsingModel:
    """Read a model from a JSON file."""
    text = _read_text(path, limit)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    try:
        return ising_from_json(doc)
    except ProblemFormatError as exc:
        raise ProblemFormatError(f"{path}: {exc}") from exc
