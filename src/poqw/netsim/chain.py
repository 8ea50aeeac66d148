"""The simulated chain: real consensus headers, difficulty and fork choice, with opaque bodies.

A simulated block is a real :class:`~poqw.chain.block.Header` (parent, height, timestamp, miner,
energy bound, ticket target, a random salt) followed by zero padding up to the configured block
size, so it costs real bytes on the wire. Its difficulty comes from
:func:`poqw.chain.next_difficulty` (the genesis target-time policy, run on the simulated
timestamps), and heads are chosen with :func:`poqw.chain.forkchoice.is_better_tip` (most work,
then first seen). Only the proof is left out: mining is a run of independent attempts (one
annealing run each) that succeed with the real per-attempt probability ``attempt_work / work``.
"""

from __future__ import annotations

import struct
from dataclasses import replace

from poqw.chain.block import Header, decode_header
from poqw.chain.difficulty import Difficulty, next_difficulty, ticket_work
from poqw.chain.forkchoice import Tip, tip_after
from poqw.chain.genesis import Genesis, builtin_genesis, genesis_header
from poqw.chain.types import I64, U64, U256, ZERO_HASH, Address, Bytes32, Hash32, Height
from poqw.chain.view import MemoryChainView
from poqw.errors import ConfigError, DecodeError
from poqw.p2p.messages import MAX_BLOCK_BYTES

__all__ = [
    "BLOCK_MAGIC",
    "MIN_BLOCK_BYTES",
    "SimChain",
    "decode_sim_block",
    "encode_sim_block",
    "simulation_genesis",
]

BLOCK_MAGIC = b"PQSB"
_PREFIX = struct.Struct(">4sH")
MIN_BLOCK_BYTES = 256  # room for the prefix and a header
_MAX_HEADER_BYTES = 1024
ATTEMPT_SWEEPS = 16
ATTEMPT_READS = 64


def simulation_genesis(target_interval: int = 10, halflife: int = 600) -> Genesis:
    """The devnet genesis (its real work table, lottery bound and anchor work) with the given
    interval and halflife; the ticket target gives the policy its fine steps."""
    if target_interval < 1:
        raise ConfigError(f"target interval must be at least 1 s, got {target_interval}")
    if halflife < 1:
        raise ConfigError(f"difficulty halflife must be at least 1 s, got {halflife}")
    base = builtin_genesis("devnet")
    params = replace(base.difficulty, policy="target-time", halflife=halflife)
    return replace(base, name="netsim", difficulty=params, target_interval=target_interval)


def encode_sim_block(header: Header, size: int) -> bytes:
    """Prefix, header and zero padding: exactly ``size`` bytes."""
    encoded = header.encode()
    body = _PREFIX.pack(BLOCK_MAGIC, len(encoded)) + encoded
    if size < len(body):
        raise ConfigError(f"block size {size} is too small for the {len(body)}-byte header")
    return body + bytes(size - len(body))


def decode_sim_block(data: bytes, max_bytes: int = MAX_BLOCK_BYTES) -> Header:
    """The header inside a simulated block (size-limited; refuses anything else)."""
    if len(data) > max_bytes:
        raise DecodeError(f"simulated block is {len(data)} bytes, over the limit of {max_bytes}")
    if len(data) < _PREFIX.size:
        raise DecodeError(f"simulated block is {len(data)} bytes, shorter than its prefix")
    magic, length = _PREFIX.unpack_from(data)
    if magic != BLOCK_MAGIC:
        raise DecodeError(f"simulated block has magic {magic.hex()}, expected "
                          f"{BLOCK_MAGIC.hex()}")
    if length > _MAX_HEADER_BYTES or _PREFIX.size + length > len(data):
        raise DecodeError(f"simulated block header length {length} does not fit the block")
    return decode_header(data[_PREFIX.size:_PREFIX.size + length], _MAX_HEADER_BYTES)


class SimChain:
    """Every block any simulated node made: headers, cumulative-work tips, and child bounds.

    Shared by all nodes because these are pure functions of the block (what each node *has* is
    tracked per node); caching them keeps a 1000-node run from recomputing each one per node.
    """

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.genesis_header = genesis_header(genesis, bytes(32), bytes(32))
        self.genesis_hash = bytes(self.genesis_header.hash())
        self.view = MemoryChainView([self.genesis_header])
        self.headers: dict[bytes, Header] = {self.genesis_hash: self.genesis_header}
        self.tips: dict[bytes, Tip] = {self.genesis_hash: Tip(Hash32(self.genesis_hash), 0, 0)}
        self._child: dict[bytes, Difficulty] = {}
        # One attempt is one run of the node miner's default annealing budget (16 sweeps of 64
        # reads over every spin), the devnet calibration's work unit.
        self.attempt_work = ATTEMPT_SWEEPS * ATTEMPT_READS * genesis.topology.num_nodes

    def child_difficulty(self, parent_hash: bytes) -> Difficulty:
        """What every child of ``parent_hash`` must carry (the consensus rule)."""
        difficulty = self._child.get(parent_hash)
        if difficulty is None:
            difficulty = next_difficulty(self.genesis, self.headers[parent_hash], self.view)
            self._child[parent_hash] = difficulty
        return difficulty

    def child_bound(self, parent_hash: bytes) -> int:
        return self.child_difficulty(parent_hash).energy_bound

    def child_work(self, parent_hash: bytes) -> int:
        d = self.child_difficulty(parent_hash)
        return ticket_work(self.genesis.difficulty, d.energy_bound, d.ticket_target)

    def attempt_success(self, parent_hash: bytes) -> float:
        """The chance that one attempt on ``parent_hash`` yields a block (proof and ticket)."""
        return min(1.0, self.attempt_work / self.child_work(parent_hash))

    def make_header(self, parent_hash: bytes, timestamp: int, miner: bytes, salt: bytes
                    ) -> Header:
        parent = self.headers[parent_hash]
        difficulty = self.child_difficulty(parent_hash)
        return Header(
            parent_hash=Hash32(parent_hash), number=Height(int(parent.number) + 1),
            timestamp=U64(timestamp), miner=Address(miner), state_root=ZERO_HASH,
            tx_root=ZERO_HASH, receipt_root=ZERO_HASH, gas_limit=U64(self.genesis.gas_limit),
            gas_used=U64(0), energy_bound=I64(difficulty.energy_bound),
            salt=Bytes32(salt), proof_hash=ZERO_HASH,
            ticket_target=U256(difficulty.ticket_target),
        )

    def add(self, header: Header) -> bytes:
        """Record a new block (its parent must be known); returns its hash."""
        block_hash = bytes(header.hash())
        if block_hash not in self.headers:
            parent_tip = self.tips[bytes(header.parent_hash)]
            self.headers[block_hash] = header
            self.view.add(header)
            self.tips[block_hash] = tip_after(self.genesis, parent_tip, header)
        return block_hash

    def main_chain(self, tip_hash: bytes) -> list[bytes]:
        """Hashes from genesis (excluded) up to ``tip_hash``."""
        chain = []
        h = tip_hash
        while h != self.genesis_hash:
            chain.append(h)
            h = bytes(self.headers[h].parent_hash)
        chain.reverse()
        return chain
