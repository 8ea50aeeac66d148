"""The miner loop: solve this node's own puzzle on the tip, build a block around it, sign, import.

For each attempt the miner draws a fresh salt, derives its instance (parent hash, own address,
salt), asks the configured sampler for candidate spin vectors and looks among the valid proofs they
give (``k`` diverse plateau representatives under the bound) for one whose ticket meets the ticket
target (:func:`poqw.chain.mining.winning_proof`); otherwise the next salt follows, with a check for
a new head between attempts, so every attempt is an independent draw. A found proof becomes a
block: mempool transactions executed on the parent's state (invalid ones skipped), the roots and
reward filled in, sealed with the hybrid signer (whose one-time index is reserved on disk before
signing), then imported like any peer's block.
Samplers: ``simulated-annealing`` (default), ``qaoa`` (match-strike with local-search polish) or
any name in :func:`poqw.samplers.available_samplers`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from poqw.chain import (
    Block,
    Difficulty,
    Genesis,
    Header,
    Instance,
    WorkProof,
    derive_instance,
    derive_seed,
    next_difficulty,
)
from poqw.chain.instance import instance_energies
from poqw.chain.mining import seal_block, unsealed_header, winning_proof
from poqw.crypto.hybrid import HybridSigner
from poqw.errors import InvalidBlock, KeyStateBehind, UnknownSampler
from poqw.node.blockchain import Blockchain, ImportResult
from poqw.node.mempool import Mempool
from poqw.node.onetime import check_signer, exhaustion_warning

__all__ = ["BatchPuzzleSolver", "Miner", "MiningProgress", "PuzzleSolver", "make_solver"]

PuzzleSolver = Callable[[Instance, int], npt.NDArray[np.int64]]
"""``solve(instance, seed) -> (shots, n)`` candidate spins."""


@runtime_checkable
class BatchPuzzleSolver(Protocol):
    """A solver that is fastest on many puzzles at once (a GPU): the miner hands it
    ``batch_size`` fresh salts' puzzles per call and checks the answers in salt order."""

    batch_size: int

    def __call__(self, instance: Instance, seed: int) -> npt.NDArray[np.int64]: ...

    def solve_many(self, instances: list[Instance],
                   seeds: list[int]) -> list[npt.NDArray[np.int64]]: ...

log = logging.getLogger("poqw.node.miner")
_PROGRESS_EVERY_S = 30.0


def make_solver(name: str = "simulated-annealing", *, num_reads: int = 64,
                num_sweeps: int = 16, num_threads: int = 1, k: int = 4) -> PuzzleSolver:
    """A puzzle solver built on the sampler registered as ``name``."""
    from poqw.samplers import available_samplers, get_sampler, sampleset_spins

    if name == "qaoa":
        from poqw.samplers import polish
        from poqw.strike import solve as strike_solve

        def solve_qaoa(instance: Instance, seed: int) -> npt.NDArray[np.int64]:
            model = instance.to_model()
            result = strike_solve(model, p=1, shots=num_reads, max_strikes=4, seed=seed,
                                  keep=min(num_reads, 4 * k))
            spins: npt.NDArray[np.int64] = polish(model, result.samples).astype(np.int64)
            return spins

        return solve_qaoa
    if name not in available_samplers():
        raise UnknownSampler(f"no sampler named {name!r}; available: "
                             f"{', '.join(available_samplers())}")
    if name == "simulated-annealing":
        sampler = get_sampler(name, num_threads=num_threads)
        params: dict[str, int] = {"num_sweeps": num_sweeps}
    else:
        sampler = get_sampler(name)
        params = {}

    def solve(instance: Instance, seed: int) -> npt.NDArray[np.int64]:
        model = instance.to_model()
        sampleset = sampler.sample(model, num_reads=num_reads, seed=seed, **params)
        spins: npt.NDArray[np.int64] = sampleset_spins(sampleset, model.num_variables).astype(
            np.int64)
        return spins

    return solve


def _winning_proof(genesis: Genesis, instance: Instance, spins: npt.NDArray[np.int64],
                   difficulty: Difficulty) -> WorkProof | None:
    """:func:`winning_proof` on the candidates under the bound only: the same answer (rows above
    the bound never enter a proof, and canonicalizing a row keeps its energy), without the
    plateau search on every read, which costs more than a GPU's annealing of the puzzle."""
    rows = np.atleast_2d(spins)
    under = rows[instance_energies(instance, rows) <= difficulty.energy_bound]
    if len(under) < genesis.k:
        return None
    return winning_proof(genesis, instance, under, difficulty)


@dataclass
class MiningProgress:
    """What this miner did since it started (in memory; the chain stores the lasting record,
    see :class:`poqw.node.storage.MinerStats`)."""

    blocks: int = 0
    salts_tried: int = 0
    seconds_solving: float = 0.0
    last_block: bytes | None = None

    def attempts_per_second(self) -> float:
        """Salts tried per second spent solving (0 before the first attempt)."""
        return self.salts_tried / self.seconds_solving if self.seconds_solving > 0 else 0.0


class Miner:
    """Mines on the current tip of ``chain``; :meth:`run` loops until ``stop`` is set."""

    def __init__(self, chain: Blockchain, mempool: Mempool | None, signer: HybridSigner,
                 solver: PuzzleSolver, *, clock: Callable[[], float] = time.time,
                 salt_source: Callable[[int], bytes] = os.urandom,
                 on_block: Callable[[Block, ImportResult], None] | None = None,
                 key_label: str = "(in memory)",
                 on_key_warning: Callable[[str], None] | None = None,
                 kind: str = "simulated-annealing") -> None:
        self.chain = chain
        self.kind = kind
        """What solves the puzzles (the sampler's name): the label of its attempts in metrics."""
        self.mempool = mempool
        self.signer = signer
        self.solver = solver
        self.clock = clock
        self.salt_source = salt_source
        self.on_block = on_block
        self.address = signer.address()
        self.public_key = signer.public_key.to_bytes()
        self.stats = MiningProgress()
        self.key_label = key_label
        self.on_key_warning = on_key_warning or (lambda message: log.warning("%s", message))
        self._key_checked = False

    def check_key(self) -> None:
        """Refuse to mine (:class:`KeyExhausted`, :class:`KeyStateBehind`) when the signing key
        has no one-time signature left or its state file is behind the chain; warn when few are
        left. Cheap (one indexed query), so it runs before every block."""
        check_signer(self.signer, self.chain.store, self.key_label,
                     starting=not self._key_checked)
        if not self._key_checked:
            self._key_checked = True
            self._warn_if_low(starting=True)

    def _warn_if_low(self, *, starting: bool = False) -> None:
        counter = self.signer.counter
        if counter is None:
            return
        message = exhaustion_warning(counter.remaining(), counter.capacity, self.key_label,
                                     starting=starting)
        if message is not None:
            self.on_key_warning(message)

    def mine_block(self, stop: threading.Event | None = None) -> Block | None:
        """Mine and import one block on the tip; None if ``stop`` was set first."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.check_key()
            parent = self.chain.tip_header()
            found = self.find_proof(parent, stop)
            if found is None:
                continue  # stopped, or the tip moved under us
            timestamp = self._timestamp(int(parent.timestamp), stop)
            if timestamp is None or self.chain.tip().block_hash != parent.hash():
                continue
            block = self.build_block(parent, *found, timestamp)
            self._warn_if_low()
            outcome = self._import_own(block)
            self.stats.blocks += 1
            self.stats.last_block = bytes(block.hash())
            log.info("mined block %d 0x%s (%s, %d txs, bound %d, ticket odds 1 in %.0f; "
                     "%d attempts so far, %.1f attempts/s)", block.header.number,
                     block.hash().hex()[:16], outcome.status, len(block.transactions),
                     block.header.energy_bound, 2.0 ** 256 / (block.header.ticket_target + 1),
                     self.stats.salts_tried, self.stats.attempts_per_second())
            if self.on_block is not None:
                self.on_block(block, outcome)
            return block
        return None

    def _import_own(self, block: Block) -> ImportResult:
        try:
            return self.chain.import_block(block, int(self.clock()))
        except InvalidBlock as exc:
            if "one-time key was already used" not in exc.reason:
                raise
            raise KeyStateBehind(
                f"refusing to mine: block {block.header.number} just signed with miner key "
                f"{self.key_label} was refused because its one-time key was already used on "
                "this chain; the key is in use on another machine or its state file was "
                "restored from a backup. Stop every other node using this key and mine with a "
                "new key (poqw keys new, then set key_file).") from exc

    def build_block(self, parent: Header, salt: bytes, proof: WorkProof,
                    timestamp: int) -> Block:
        """The signed block for this proof on ``parent``, with mempool transactions executed
        on the parent's state (invalid ones left out)."""
        genesis = self.chain.genesis
        # execution needs only the header's number, time and miner: roots are filled in after
        draft = unsealed_header(genesis, parent, self.chain, self.address, timestamp, salt,
                                proof, bytes(32), bytes(32))
        txs: list[bytes] = []
        if self.mempool is not None:
            txs = self.mempool.select(self.chain.state_root(parent.hash()),
                                      self.chain.base_fee_after(parent), int(parent.gas_limit),
                                      genesis.max_transactions, genesis.max_block_bytes // 2)
        result = self.chain.execute(parent, draft, tuple(txs), skip_invalid=True)
        header = unsealed_header(genesis, parent, self.chain, self.address, timestamp, salt,
                                 proof, result.state_root, result.receipts_root,
                                 result.gas_used, result.transactions)
        return seal_block(header, proof, result.transactions, self.public_key,
                          lambda message: self.signer.sign(message).to_bytes())

    def find_proof(self, parent: Header, stop: threading.Event | None = None, *,
                   follow_tip: bool = True) -> tuple[bytes, WorkProof] | None:
        """A salt and proof for a child of ``parent``, trying fresh salts until one works;
        None when ``stop`` is set or (with ``follow_tip``) the tip moves off ``parent``."""
        difficulty = next_difficulty(self.chain.genesis, parent, self.chain)
        return self._search(parent.hash(), difficulty, stop or threading.Event(), follow_tip)

    def _search(self, parent_hash: bytes, difficulty: Difficulty, stop: threading.Event,
                follow_tip: bool) -> tuple[bytes, WorkProof] | None:
        genesis = self.chain.genesis
        next_report = time.monotonic() + _PROGRESS_EVERY_S
        batch = self.solver.batch_size if isinstance(self.solver, BatchPuzzleSolver) else 1
        while not stop.is_set():
            salts = [self.salt_source(32) for _ in range(batch)]
            instances = [derive_instance(genesis.topology,
                                         derive_seed(parent_hash, self.address, salt))
                         for salt in salts]
            seeds = [int.from_bytes(salt[:4], "big") >> 1 for salt in salts]
            start = time.perf_counter()
            if isinstance(self.solver, BatchPuzzleSolver):
                answers = self.solver.solve_many(instances, seeds)
            else:
                answers = [self.solver(instances[0], seeds[0])]
            seconds = time.perf_counter() - start
            self.stats.seconds_solving += seconds
            self.stats.salts_tried += batch
            for salt, instance, spins in zip(salts, instances, answers, strict=True):
                proof = _winning_proof(genesis, instance, spins, difficulty)
                self.chain.telemetry.mining_attempt(self.kind, seconds / batch,
                                                    proof is not None)
                if proof is not None:
                    return salt, proof
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + _PROGRESS_EVERY_S
                log.info("mining on 0x%s: %d attempts, %.1f attempts/s (bound %d, ticket odds "
                         "1 in %.0f)", parent_hash.hex()[:16], self.stats.salts_tried,
                         self.stats.attempts_per_second(), difficulty.energy_bound,
                         2.0 ** 256 / (difficulty.ticket_target + 1))
            if follow_tip and self.chain.tip().block_hash != parent_hash:
                return None
        return None

    def _timestamp(self, parent_timestamp: int, stop: threading.Event) -> int | None:
        """The block time: now, but after the parent's and within the allowed future drift
        (waits when the chain has run ahead of the clock)."""
        drift = self.chain.genesis.max_future_drift
        while not stop.is_set():
            now = int(self.clock())
            timestamp = max(now, parent_timestamp + 1)
            if timestamp <= now + drift:
                return timestamp
            stop.wait(0.1)
        return None

    def run(self, stop: threading.Event, max_blocks: int | None = None) -> int:
        """Mine until ``stop`` is set or ``max_blocks`` blocks are mined; return the count."""
        mined = 0
        while not stop.is_set() and (max_blocks is None or mined < max_blocks):
            if self.mine_block(stop) is not None:
                mined += 1
        return mined
