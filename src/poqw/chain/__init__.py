"""Consensus as an executable spec: pure functions over frozen dataclasses, no I/O or clock.

Proof of Quantum Work v1: every block solves its own Ising spin glass on the genesis topology,
derived from (parent hash, miner address, salt); the proof is ``k`` diverse spin vectors under an
energy bound that every node computes from the parent chain. See the module docstrings of
``instance``, ``proof``, ``difficulty``, ``block``, ``validation`` and ``environment`` (base fee,
PREVRANDAO, BLOCKHASH window, reward) for the exact rules.
"""

from poqw.chain.block import (
    Block,
    BlockLimits,
    Header,
    decode_block,
    decode_header,
    decode_proof,
    transactions_root,
)
from poqw.chain.difficulty import (
    asert_work,
    bound_for_work,
    next_energy_bound,
    pow2_fixed16,
    work_of_bound,
)
from poqw.chain.environment import BlockEnvironment, block_environment
from poqw.chain.forkchoice import Tip, block_work, is_better_tip, is_deep_reorg, tip_after
from poqw.chain.genesis import (
    DifficultyParams,
    Genesis,
    RewardSchedule,
    builtin_genesis,
    genesis_header,
    load_genesis,
    parse_genesis,
)
from poqw.chain.instance import (
    Instance,
    derive_instance,
    derive_instance_reference,
    derive_seed,
    instance_energies,
)
from poqw.chain.proof import (
    WorkProof,
    greedy_diverse_selection,
    make_proof,
    pack_spins,
    pairwise_distances,
    unpack_spins,
    verify_proof,
)
from poqw.chain.rewards import block_reward, issued_until, miner_reward, streak_length
from poqw.chain.topology import Topology, build_topology, topology_hash
from poqw.chain.types import (
    I64,
    U64,
    U256,
    ZERO_HASH,
    Address,
    Amount,
    Bytes32,
    Hash32,
    Height,
)
from poqw.chain.validation import (
    ExecutionOutcome,
    seal_message,
    validate_block,
    validate_header,
    validate_header_work,
)
from poqw.chain.view import ChainView, MemoryChainView, ancestors

__all__ = [
    "I64",
    "U64",
    "U256",
    "ZERO_HASH",
    "Address",
    "Amount",
    "Block",
    "BlockEnvironment",
    "BlockLimits",
    "Bytes32",
    "ChainView",
    "DifficultyParams",
    "ExecutionOutcome",
    "Genesis",
    "Hash32",
    "Header",
    "Height",
    "Instance",
    "MemoryChainView",
    "RewardSchedule",
    "Tip",
    "Topology",
    "WorkProof",
    "ancestors",
    "asert_work",
    "block_environment",
    "block_reward",
    "block_work",
    "bound_for_work",
    "build_topology",
    "builtin_genesis",
    "decode_block",
    "decode_header",
    "decode_proof",
    "derive_instance",
    "derive_instance_reference",
    "derive_seed",
    "genesis_header",
    "greedy_diverse_selection",
    "instance_energies",
    "is_better_tip",
    "is_deep_reorg",
    "issued_until",
    "load_genesis",
    "make_proof",
    "miner_reward",
    "next_energy_bound",
    "pack_spins",
    "pairwise_distances",
    "parse_genesis",
    "pow2_fixed16",
    "seal_message",
    "streak_length",
    "tip_after",
    "topology_hash",
    "transactions_root",
    "unpack_spins",
    "validate_block",
    "validate_header",
    "validate_header_work",
    "verify_proof",
    "work_of_bound",
]
