"""``poqw node qpu``: block puzzles on a D-Wave QPU through Ocean, the embedding cached on disk.

The genesis graph is minor-embedded into the QPU's working graph once (minorminer) and kept in
``DATADIR/qpu/`` under the topology hash and a hash of the solver's graph, checked again on load.
Each puzzle gets a chain strength from ``uniform_torque_compensation``, is sampled through
``FixedEmbeddingComposite`` and unembedded by majority vote; strength and chain-break fraction are
logged. The API token comes from ``DWAVE_API_TOKEN``, a ``.env``-style ``token_file`` or the
config, is held as a :class:`~poqw.node.config.Secret` and masked in every log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from poqw.chain import Instance
from poqw.chain.topology import Topology
from poqw.errors import BackendUnavailable, ConfigError
from poqw.node.config import NodeConfig, QpuConfig, Secret

__all__ = ["TOKEN_ENV", "QpuPuzzleSolver", "QpuReport", "find_token", "load_embedding",
           "mask_secret_in_logs", "open_qpu", "read_token_file", "solver_graph_id"]

TOKEN_ENV = "DWAVE_API_TOKEN"
MAX_TOKEN_FILE_BYTES = 64 * 1024
MAX_EMBEDDING_BYTES = 16 * 1024 * 1024
EMBEDDING_FORMAT = "poqw-embedding/v1"
MOCK = "mock"

log = logging.getLogger("poqw.node.qpu")


def read_token_file(path: Path) -> Secret | None:
    """``DWAVE_API_TOKEN`` from a ``.env``-style file (``KEY=VALUE`` lines, ``#`` comments,
    optional ``export`` and quotes); None if the file does not set it. Errors name the file and
    line, never the value."""
    try:
        raw = path.read_bytes()[:MAX_TOKEN_FILE_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read the QPU token file {path}: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ConfigError(f"the QPU token file {path} is over {MAX_TOKEN_FILE_BYTES} bytes")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"the QPU token file {path} is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{path} line {number}: expected KEY=VALUE")
        if key.strip() != TOKEN_ENV:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if not value:
            raise ConfigError(f"{path} line {number}: {TOKEN_ENV} is empty")
        return Secret(value)
    return None


def find_token(qpu: QpuConfig, environ: Mapping[str, str] | None = None,
               base: Path | None = None) -> tuple[Secret | None, str]:
    """The API token and where it came from: ``DWAVE_API_TOKEN``, then ``[qpu] token_file``
    (relative to ``base``), then ``[qpu] api_token``; ``(None, "")`` when none is set."""
    env = os.environ if environ is None else environ
    if env.get(TOKEN_ENV):
        return Secret(env[TOKEN_ENV]), f"the environment variable {TOKEN_ENV}"
    if qpu.token_file:
        path = Path(qpu.token_file)
        if not path.is_absolute() and base is not None:
            path = base / path
        token = read_token_file(path)
        if token is not None:
            return token, f"the token file {path}"
    if qpu.api_token is not None:
        return qpu.api_token, "[qpu] api_token in the config"
    return None, ""


_masked: set[str] = set()


def mask_secret_in_logs(secret: Secret) -> None:
    """From now on every log record of this process, whichever handler writes it (Ocean's
    client logs requests at debug level), shows the secret's value as ``***``."""
    value = secret.reveal()
    if len(value) < 4 or value in _masked:
        return
    _masked.add(value)
    make_record = logging.getLogRecordFactory()

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        message = record.getMessage()
        if value in message:
            record.msg, record.args = message.replace(value, "***"), None
        return record

    logging.setLogRecordFactory(masking_factory)


def open_qpu(qpu: QpuConfig, token: Secret | None, family: str = "chimera") -> tuple[Any, str]:
    """The Ocean sampler for ``[qpu] solver`` and a label: ``mock`` is dwave-system's
    MockDWaveSampler on the genesis family's graph (a classical stand-in, no token needed)."""
    if qpu.solver == MOCK:
        from dwave.system.testing import MockDWaveSampler

        kind = family if family in ("chimera", "pegasus", "zephyr") else "pegasus"
        return MockDWaveSampler(topology_type=kind), f"MockDWaveSampler ({kind}; not a QPU)"
    if token is None:
        raise BackendUnavailable(f"no D-Wave API token: set {TOKEN_ENV}, [qpu] token_file or "
                                 "[qpu] api_token (or [qpu] solver = \"mock\" for the mock)")
    from dwave.system import DWaveSampler

    try:
        sampler = DWaveSampler(token=token.reveal(), solver=qpu.solver or None)
    except Exception as exc:  # the client's own errors: no network, bad token, no solver
        text = str(exc).replace(token.reveal(), "***")
        raise BackendUnavailable(f"cannot open the D-Wave solver: {text}") from None
    return sampler, f"D-Wave {sampler.solver.name}"


def solver_graph_id(sampler: Any) -> str:
    """A short hash of the solver's working graph (qubits and couplers)."""
    nodes = sorted(int(q) for q in sampler.nodelist)
    edges = sorted(tuple(sorted((int(a), int(b)))) for a, b in sampler.edgelist)
    digest = hashlib.sha256(json.dumps([nodes, edges]).encode()).hexdigest()
    return digest[:16]


def _embedding_path(datadir: Path, topology: Topology, graph_id: str) -> Path:
    return datadir / "qpu" / f"embedding-{bytes(topology.hash).hex()[:16]}-{graph_id}.json"


def _valid(embedding: dict[int, list[int]], topology: Topology, sampler: Any) -> bool:
    from dwave.embedding import is_valid_embedding

    source = [(int(a), int(b)) for a, b in topology.edges]
    if set(embedding) != set(range(topology.num_nodes)):
        return False
    return bool(is_valid_embedding(embedding, source, sampler.edgelist))


def native_embedding(topology: Topology, sampler: Any,
                     tries: int = 256) -> dict[int, list[int]] | None:
    """A one-qubit-per-node embedding when the genesis graph is a D-Wave graph of the QPU's own
    family (a sublattice of its working graph, dwave-graphs' sublattice mappings), else None."""
    if topology.family not in ("chimera", "pegasus", "zephyr"):
        return None
    try:
        import dwave.graphs as dg

        target = sampler.to_networkx_graph()
        if target.graph.get("family") != topology.family:
            return None
        makers = {"chimera": (dg.chimera_graph, dg.chimera_sublattice_mappings),
                  "pegasus": (dg.pegasus_graph, dg.pegasus_sublattice_mappings),
                  "zephyr": (dg.zephyr_graph, dg.zephyr_sublattice_mappings)}
        make, mappings = makers[topology.family]
        source = make(topology.size)
        order = sorted(source.nodes)  # the genesis relabels them to integers in this order
        for attempt, mapping in enumerate(mappings(source, target)):
            if attempt >= tries:
                break
            embedding = {i: [int(mapping(q))] for i, q in enumerate(order)}
            if _valid(embedding, topology, sampler):
                return embedding
    except (AttributeError, KeyError, ValueError, TypeError) as exc:
        log.info("no native embedding (%s): using minorminer", exc)
    return None


def load_embedding(datadir: Path, topology: Topology, sampler: Any,
                   seed: int = 0) -> tuple[dict[int, list[int]], str]:
    """The cached embedding of ``topology`` into ``sampler``'s graph, else a new one (native
    for a sublattice of the QPU's own family, else minorminer's), then cached. Returns it with
    how it was obtained."""
    import minorminer

    path = _embedding_path(datadir, topology, solver_graph_id(sampler))
    if path.is_file():
        try:
            if path.stat().st_size > MAX_EMBEDDING_BYTES:
                raise ValueError(f"over {MAX_EMBEDDING_BYTES} bytes")
            doc = json.loads(path.read_text())
            if doc.get("format") != EMBEDDING_FORMAT:
                raise ValueError("unknown format")
            embedding = {int(k): [int(q) for q in v] for k, v in doc["chains"].items()}
            if _valid(embedding, topology, sampler):
                return embedding, "cached"
            raise ValueError("not a valid embedding of this graph")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring the cached embedding %s (%s): computing a new one", path, exc)
    embedding = native_embedding(topology, sampler) or {}
    how = "found natively (one qubit per node)" if embedding else "computed by minorminer"
    if not embedding:
        source = [(int(a), int(b)) for a, b in topology.edges]
        found = minorminer.find_embedding(source, sampler.edgelist, random_seed=seed,
                                          timeout=120)
        embedding = {int(k): [int(q) for q in v] for k, v in found.items()}
    if not embedding or not _valid(embedding, topology, sampler):
        raise BackendUnavailable(f"minorminer found no embedding of the {topology.family} "
                                 f"genesis graph ({topology.num_nodes} nodes) into this QPU")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({
        "format": EMBEDDING_FORMAT, "topology_hash": "0x" + bytes(topology.hash).hex(),
        "graph_id": solver_graph_id(sampler),
        "chains": {str(k): v for k, v in sorted(embedding.items())}}))
    os.replace(temporary, path)
    return embedding, how


@dataclass
class QpuReport:
    """What the QPU did: puzzles sampled, the last chain strength, the mean fraction of broken
    chains per sample (repaired by majority vote)."""

    puzzles: int = 0
    last_chain_strength: float = 0.0
    chain_break_fractions: list[float] = field(default_factory=list)

    @property
    def mean_chain_break_fraction(self) -> float:
        values = self.chain_break_fractions
        return float(np.mean(values)) if values else 0.0


class QpuPuzzleSolver:
    """Samples each block puzzle on the QPU through a fixed embedding."""

    miner_kind = "qpu"  # the label its attempts carry in the node's metrics

    def __init__(self, sampler: Any, embedding: dict[int, list[int]], num_reads: int,
                 label: str) -> None:
        from dwave.system import FixedEmbeddingComposite

        self.composite = FixedEmbeddingComposite(sampler, embedding)
        self.embedding = embedding
        self.num_reads = num_reads
        self.label = label
        self.report = QpuReport()
        self.max_chain_length = max(len(chain) for chain in embedding.values())

    def __call__(self, instance: Instance, seed: int) -> npt.NDArray[np.int64]:
        import dimod
        from dwave.embedding import chain_breaks
        from dwave.embedding.chain_strength import uniform_torque_compensation

        from poqw.samplers import sampleset_spins

        h = {v: int(x) for v, x in enumerate(instance.h)}
        J = {(int(a), int(b)): int(w) for (a, b), w in zip(instance.edges, instance.J,
                                                            strict=True)}
        bqm = dimod.BinaryQuadraticModel.from_ising(h, J)
        strength = float(uniform_torque_compensation(bqm, self.embedding))
        result = self.composite.sample(bqm, num_reads=self.num_reads, chain_strength=strength,
                                       chain_break_method=chain_breaks.majority_vote,
                                       chain_break_fraction=True)
        broken = float(np.mean(result.record.chain_break_fraction))
        report = self.report
        report.puzzles += 1
        report.last_chain_strength = strength
        report.chain_break_fractions.append(broken)
        del report.chain_break_fractions[:-1000]
        if report.puzzles == 1 or report.puzzles % 100 == 0:
            log.info("%s: puzzle %d, chain strength %.3f (uniform torque compensation), "
                     "chain-break fraction %.3f (mean %.3f; majority vote)", self.label,
                     report.puzzles, strength, broken, report.mean_chain_break_fraction)
        spins: npt.NDArray[np.int64] = sampleset_spins(result, instance.num_variables).astype(
            np.int64)
        return spins


def qpu_solver(config: NodeConfig, topology: Topology, *,
               environ: Mapping[str, str] | None = None) -> QpuPuzzleSolver:
    """The QPU solver of ``config.qpu`` for the genesis ``topology`` (BackendUnavailable when
    there is no token or solver); the token is masked in the logs from here on."""
    token, source = find_token(config.qpu, environ, config.datadir)
    if token is not None:
        mask_secret_in_logs(token)
        log.info("D-Wave API token from %s", source)
    sampler, label = open_qpu(config.qpu, token, topology.family)
    embedding, how = load_embedding(config.datadir, topology, sampler)
    longest = max(len(chain) for chain in embedding.values())
    qubits = sum(len(chain) for chain in embedding.values())
    log.info("%s: embedding of the genesis graph %s (%d nodes on %d qubits, longest chain %d)",
             label, how, topology.num_nodes, qubits, longest)
    return QpuPuzzleSolver(sampler, embedding, config.qpu.num_reads, label)
