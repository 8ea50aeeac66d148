"""Genesis: the JSON document that fixes every consensus parameter of a chain.

It names the chain, the puzzle topology (family, size and the hash of its edge list, rebuilt and
checked on load), the proof shape (``k``, ``d_min``), the difficulty policy and its calibrated
bound range and work table, the block interval, the reward schedule, limits and the initial
balances. :func:`load_genesis` checks each of them and raises :class:`InvalidGenesis` naming the
field; big integers may be written as decimal strings. The genesis id, which block 0 carries as
its salt, is ``hash32(b"poqw/genesis/v1", json.dumps(doc, sort_keys=True, separators=(",", ":")))``
so key order and whitespace do not matter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from poqw.chain.block import BlockLimits, Header, transactions_root
from poqw.chain.proof import MAX_PROOF_SOLUTIONS, solution_bytes
from poqw.chain.topology import FAMILIES, Topology, build_topology
from poqw.chain.types import I64, U64, ZERO_HASH, Address, Amount, Bytes32, Hash32, Height
from poqw.crypto.hashing import hash32
from poqw.errors import InvalidGenesis, PoqwError

__all__ = [
    "GENESIS_FORMAT",
    "POLICIES",
    "DifficultyParams",
    "Genesis",
    "RewardSchedule",
    "builtin_genesis",
    "genesis_header",
    "load_genesis",
    "parse_genesis",
]

GENESIS_FORMAT = "poqw-genesis/v1"
POLICIES = ("target-time", "inverted")
MAX_GENESIS_BYTES = 4 << 20


@dataclass(frozen=True)
class DifficultyParams:
    """The policy and its calibrated range; ``work[i]`` is the work of bound ``hardest + i``.

    ``lottery_bound`` is the hardest bound the target-time policy asks for (finer steps come from
    the ticket target); ``initial_work`` (0: the work of ``initial_bound``) anchors its schedule.
    """

    policy: str
    initial_bound: int
    hardest_bound: int
    easiest_bound: int
    work: tuple[int, ...]
    halflife: int = 3600
    ease_step: int = 1
    harden_step: int = 1
    streak_cap: int = 5
    lottery_bound: int | None = None
    initial_work: int = 0

    @property
    def anchor_work(self) -> int:
        """The target-time policy's work at genesis."""
        if self.initial_work:
            return self.initial_work
        return self.work[self.initial_bound - self.hardest_bound]

    @property
    def lottery(self) -> int:
        """The lottery bound (the hardest calibrated bound unless genesis names one)."""
        return self.hardest_bound if self.lottery_bound is None else self.lottery_bound


@dataclass(frozen=True)
class RewardSchedule:
    """``initial >> (height // halving_interval)``, never below ``tail`` (tail emission)."""

    initial: int
    halving_interval: int
    tail: int


@dataclass(frozen=True)
class Genesis:
    """Every consensus parameter of one chain (build it with :func:`parse_genesis`)."""

    name: str
    chain_id: int
    timestamp: int
    topology: Topology
    k: int
    d_min: int
    difficulty: DifficultyParams
    target_interval: int
    max_future_drift: int
    reorg_depth_limit: int
    gas_limit: int
    rewards: RewardSchedule
    alloc: tuple[tuple[Address, Amount], ...]
    max_block_bytes: int
    max_transactions: int
    max_transaction_bytes: int
    genesis_id: Hash32

    def block_limits(self) -> BlockLimits:
        return BlockLimits(self.max_block_bytes, self.max_transactions, self.max_transaction_bytes,
                           self.k, solution_bytes(self.topology.num_nodes))


def _get(doc: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise InvalidGenesis(f"genesis is missing {where}{key}")
    return doc[key]


def _int(doc: dict[str, Any], key: str, where: str = "", lo: int = 0, hi: int = (1 << 63) - 1,
         default: int | None = None) -> int:
    if default is not None and isinstance(doc, dict) and key not in doc:
        return default
    v = _get(doc, key, where)
    if isinstance(v, str) and v.lstrip("-").isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidGenesis(f"genesis {where}{key} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise InvalidGenesis(f"genesis {where}{key} = {v} is outside [{lo}, {hi}]")
    return v


def _hex(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidGenesis(f"genesis {what} must be a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise InvalidGenesis(f"genesis {what} is not valid hex") from exc
    if len(raw) != size:
        raise InvalidGenesis(f"genesis {what} must be {size} bytes, got {len(raw)}")
    return raw


def _difficulty(doc: dict[str, Any], topology: Topology) -> DifficultyParams:
    where = "difficulty."
    policy = _get(doc, "policy", where)
    if policy not in POLICIES:
        raise InvalidGenesis(f"unknown difficulty policy {policy!r}; choose one of {POLICIES}")
    calib = _get(doc, "calibration", where)
    cw = "difficulty.calibration."
    max_e = 2 * (topology.num_nodes + topology.num_edges)
    hardest = _int(calib, "hardest_bound", cw, -max_e, max_e)
    easiest = _int(calib, "easiest_bound", cw, hardest, max_e)
    work_raw = _get(calib, "work", cw)
    if not isinstance(work_raw, list) or len(work_raw) != easiest - hardest + 1:
        raise InvalidGenesis(f"genesis {cw}work must list one work value per bound from "
                             f"{hardest} to {easiest} ({easiest - hardest + 1} values)")
    work = tuple(_int({"w": w}, "w", f"{cw}work[{i}] ", 1, 1 << 200)
                 for i, w in enumerate(work_raw))
    for i in range(1, len(work)):
        if work[i] >= work[i - 1]:
            raise InvalidGenesis(f"genesis {cw}work must strictly decrease as the bound eases: "
                                 f"work[{i}] = {work[i]} >= work[{i - 1}] = {work[i - 1]}")
    return DifficultyParams(
        policy=policy,
        initial_bound=_int(doc, "initial_bound", where, hardest, easiest),
        hardest_bound=hardest,
        easiest_bound=easiest,
        work=work,
        halflife=_int(doc, "halflife", where, 1, 1 << 32, default=3600),
        ease_step=_int(doc, "ease_step", where, 0, max_e, default=1),
        harden_step=_int(doc, "harden_step", where, 0, max_e, default=1),
        streak_cap=_int(doc, "streak_cap", where, 1, 5, default=5),
        lottery_bound=(_int(doc, "lottery_bound", where, hardest, easiest)
                       if isinstance(doc, dict) and "lottery_bound" in doc else None),
        initial_work=_int(doc, "initial_work", where, 1, 1 << 200, default=0),
    )


def parse_genesis(doc: Any) -> Genesis:
    """Validate a decoded genesis document and build a :class:`Genesis`."""
    if not isinstance(doc, dict):
        raise InvalidGenesis("genesis must be a JSON object")
    if doc.get("format") != GENESIS_FORMAT:
        got = doc.get("format")
        raise InvalidGenesis(f"genesis format must be {GENESIS_FORMAT!r}, got {got!r}")
    name = _get(doc, "name", "")
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise InvalidGenesis("genesis name must be a string of 1 to 64 characters")
    topo = _get(doc, "topology", "")
    family = _get(topo, "family", "topology.")
    if family not in FAMILIES:
        raise InvalidGenesis(f"unknown topology family {family!r}; choose one of {FAMILIES}")
    size = _int(topo, "size", "topology.", 1, 1 << 16)
    try:
        topology = build_topology(family, size)
    except PoqwError as exc:
        raise InvalidGenesis(f"genesis topology cannot be built: {exc}") from exc
    committed = _hex(_get(topo, "hash", "topology."), 32, "topology.hash")
    if committed != topology.hash:
        raise InvalidGenesis(f"genesis topology.hash 0x{committed.hex()} does not match the "
                             f"{family}-{size} graph (0x{topology.hash.hex()})")
    proof = _get(doc, "proof", "")
    k = _int(proof, "k", "proof.", 1, MAX_PROOF_SOLUTIONS)
    d_min = _int(proof, "d_min", "proof.", 0, topology.num_nodes // 2)
    rewards_doc = _get(doc, "rewards", "")
    rewards = RewardSchedule(
        initial=_int(rewards_doc, "initial", "rewards.", 0, (1 << 128) - 1),
        halving_interval=_int(rewards_doc, "halving_interval", "rewards.", 1),
        tail=_int(rewards_doc, "tail", "rewards.", 0, (1 << 128) - 1),
    )
    alloc_doc = _get(doc, "alloc", "")
    if not isinstance(alloc_doc, dict):
        raise InvalidGenesis("genesis alloc must be an object of address -> balance")
    alloc = []
    for addr in alloc_doc:
        a = Address(_hex(addr, 20, f"alloc address {addr!r}"))
        alloc.append((a, Amount(_int(alloc_doc, addr, "alloc ", 0, (1 << 256) - 1))))
    limits = _get(doc, "limits", "")
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return Genesis(
        name=name,
        chain_id=_int(doc, "chain_id", "", 1, (1 << 64) - 1),
        timestamp=_int(doc, "timestamp", "", 0, (1 << 64) - 1),
        topology=topology,
        k=k,
        d_min=d_min,
        difficulty=_difficulty(_get(doc, "difficulty", ""), topology),
        target_interval=_int(doc, "target_interval", "", 1, 1 << 32),
        max_future_drift=_int(doc, "max_future_drift", "", 0, 1 << 32),
        reorg_depth_limit=_int(doc, "reorg_depth_limit", "", 1, 1 << 32),
        gas_limit=_int(doc, "gas_limit", "", 5000, (1 << 63) - 1),
        rewards=rewards,
        alloc=tuple(sorted(alloc)),
        max_block_bytes=_int(limits, "max_block_bytes", "limits.", 1024, 1 << 30),
        max_transactions=_int(limits, "max_transactions", "limits.", 0, 1 << 20),
        max_transaction_bytes=_int(limits, "max_transaction_bytes", "limits.", 1, 1 << 24),
        genesis_id=Hash32(hash32(b"poqw/genesis/v1", canonical)),
    )


def load_genesis(source: str | Path | bytes) -> Genesis:
    """Load a genesis from a path or from JSON bytes (at most 4 MiB)."""
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            if path.stat().st_size > MAX_GENESIS_BYTES:
                raise InvalidGenesis(f"genesis file {path} is over {MAX_GENESIS_BYTES} bytes")
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidGenesis(f"cannot read genesis file {path}: {exc}") from exc
    if len(data) > MAX_GENESIS_BYTES:
        raise InvalidGenesis(f"genesis is {len(data)} bytes, over {MAX_GENESIS_BYTES}")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidGenesis(f"genesis is not valid JSON: {exc}") from exc
    return parse_genesis(doc)


def builtin_genesis(name: str = "devnet") -> Genesis:
    """A genesis shipped with poqw: ``devnet`` (regular3, n=24) or ``zephyr-testnet``."""
    files = resources.files("poqw") / "data" / "genesis"
    target = files / f"{name}.json"
    if not target.is_file():
        known = sorted(p.name.removesuffix(".json") for p in files.iterdir())
        raise InvalidGenesis(f"no built-in genesis {name!r}; choose one of {known}")
    return load_genesis(target.read_bytes())


def genesis_header(genesis: Genesis, state_root: bytes, receipt_root: bytes) -> Header:
    """Block 0: its salt is the genesis id, so its hash commits to every parameter.

    The state root (of ``alloc``) and the empty receipt root come from the execution layer.
    """
    return Header(
        parent_hash=ZERO_HASH, number=Height(0), timestamp=U64(genesis.timestamp),
        miner=Address(bytes(20)), state_root=Hash32(state_root),
        tx_root=transactions_root(()), receipt_root=Hash32(receipt_root),
        gas_limit=U64(genesis.gas_limit), gas_used=U64(0),
        energy_bound=I64(genesis.difficulty.initial_bound), salt=Bytes32(genesis.genesis_id),
        proof_hash=Hash32(hash32(b"poqw/proof/v1")),
    )
