"""Block and header validity: each rule is one check that raises with its reason, in reading order.

Order: parent link, topology, difficulty (energy bound and ticket target), proof (hash, count,
sizes, order, energies, plateau, diversity, ticket: :func:`verify_work`), signature, timestamp,
transaction root, gas limits, then the execution results (state root, receipt root, gas used), so
the costly execution runs last. Nothing here reads a clock or a disk: ``now`` comes in as an
argument, the chain is read through a :class:`~poqw.chain.view.ChainView`, and the state root is
computed by the caller's execution layer (passed as an :class:`ExecutionOutcome`, or a callable
evaluated only after every cheaper rule has passed). Signatures are checked by the functions passed
in (by default the hybrid ECDSA + post-quantum scheme of :mod:`poqw.crypto`).
:func:`validate_header_work` checks a header and its work proof without the body, for
headers-first sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from poqw.chain.block import Block, Header, transactions_root
from poqw.chain.difficulty import next_difficulty
from poqw.chain.genesis import Genesis
from poqw.chain.instance import derive_instance, derive_seed
from poqw.chain.proof import WorkProof, solution_bytes, verify_proof
from poqw.chain.types import Hash32
from poqw.chain.view import ChainView
from poqw.errors import InvalidBlock, InvalidHeader, InvalidProof, InvalidTransaction

__all__ = [
    "AddressOf",
    "ExecutionOutcome",
    "SignatureVerifier",
    "check_seal",
    "check_topology",
    "seal_message",
    "validate_block",
    "validate_header",
    "validate_header_work",
    "verify_work",
]

SignatureVerifier = Callable[[bytes, bytes, bytes], bool]
"""``verify(public_key, message, signature) -> bool``."""
AddressOf = Callable[[bytes], bytes]
"""``address_of(public_key) -> 20-byte address`` of the key's owner."""


@dataclass(frozen=True)
class ExecutionOutcome:
    """What executing the block's transactions on the parent state gave."""

    state_root: Hash32
    receipt_root: Hash32
    gas_used: int


def seal_message(header: Header) -> bytes:
    """The 32 bytes the miner signs: the block hash (it commits to the proof and the roots)."""
    return header.hash()


def _check_link(header: Header, parent: Header, block: object) -> None:
    if header.parent_hash != parent.hash():
        raise InvalidHeader("parent hash does not name the given parent", block)
    if header.number != parent.number + 1:
        raise InvalidHeader(f"number {header.number} is not parent's {parent.number} + 1", block)


def _check_difficulty(header: Header, parent: Header, view: ChainView, genesis: Genesis,
                      block: object) -> None:
    expected = next_difficulty(genesis, parent, view)
    if header.energy_bound != expected.energy_bound:
        raise InvalidHeader(f"energy bound {header.energy_bound} differs from the bound "
                            f"{expected.energy_bound} computed from the parent chain", block)
    if header.ticket_target != expected.ticket_target:
        raise InvalidHeader(f"ticket target 0x{header.ticket_target:064x} differs from the "
                            f"target 0x{expected.ticket_target:064x} computed from the parent "
                            "chain", block)


def verify_work(header: Header, proof: WorkProof, genesis: Genesis, block: object = None) -> None:
    """The work rules of a header with its proof (after :func:`validate_header`): the proof
    hash, then :func:`~poqw.chain.proof.verify_proof` on the header's own puzzle, energy bound
    and ticket target. Block import and headers-with-proofs sync both call this."""
    if proof.hash() != header.proof_hash:
        raise InvalidProof("proof does not match the header's proof hash", block)
    instance = derive_instance(genesis.topology,
                               derive_seed(header.parent_hash, header.miner, header.salt))
    verify_proof(instance, proof, genesis.k, genesis.d_min, int(header.energy_bound),
                 int(header.ticket_target), block)


def _check_timestamp(header: Header, parent: Header, now: int, genesis: Genesis,
                     block: object) -> None:
    if header.timestamp <= parent.timestamp:
        raise InvalidHeader(f"timestamp {header.timestamp} is not after the parent's "
                            f"{parent.timestamp}", block)
    if header.timestamp > now + genesis.max_future_drift:
        raise InvalidHeader(f"timestamp {header.timestamp} is more than "
                            f"{genesis.max_future_drift} s in the future (now {now})", block)


def _check_gas(header: Header, parent: Header, block: object) -> None:
    step = int(parent.gas_limit) // 1024
    if abs(int(header.gas_limit) - int(parent.gas_limit)) > step:
        raise InvalidHeader(f"gas limit {header.gas_limit} moves more than {step} from the "
                            f"parent's {parent.gas_limit}", block)
    if header.gas_used > header.gas_limit:
        raise InvalidHeader(f"gas used {header.gas_used} exceeds the gas limit "
                            f"{header.gas_limit}", block)


def check_topology(proof: WorkProof, genesis: Genesis, block: object) -> None:
    """The proof does not name a graph: each solution must have the genesis graph's row size."""
    topology = genesis.topology
    row = solution_bytes(topology.num_nodes)
    for i, sol in enumerate(proof.solutions):
        if len(sol) != row:
            raise InvalidProof(f"proof is not on the genesis topology {topology.family}-"
                               f"{topology.size}: solution {i} is {len(sol)} bytes, expected "
                               f"{row}", block)


def check_seal(block: Block, verify_signature: SignatureVerifier | None = None,
               address_of: AddressOf | None = None) -> None:
    """The miner's key owns the header's address and its signature over the block hash
    verifies (by default with the hybrid ECDSA + post-quantum scheme)."""
    if verify_signature is None or address_of is None:
        default_verify, default_address = _default_signature_scheme()
        verify_signature = verify_signature or default_verify
        address_of = address_of or default_address
    if address_of(block.public_key) != block.header.miner:
        raise InvalidBlock("bad signature: the public key does not belong to the miner", block)
    if not verify_signature(block.public_key, seal_message(block.header), block.signature):
        raise InvalidBlock("bad signature: the miner's signature does not verify", block)


def validate_header(header: Header, parent: Header, view: ChainView, now: int,
                    genesis: Genesis) -> None:
    """The rules a header can be checked on alone (headers-first sync); raise or return."""
    _check_link(header, parent, header)
    _check_difficulty(header, parent, view, genesis, header)
    _check_timestamp(header, parent, now, genesis, header)
    _check_gas(header, parent, header)


def validate_header_work(header: Header, proof: WorkProof, parent: Header, view: ChainView,
                         now: int, genesis: Genesis) -> None:
    """A header with its work proof, checked without the block body (headers-first sync): the
    header rules, then the proof against the puzzle of (parent, miner, salt) at the difficulty
    computed from the parent, so an invented header chain costs as much work as a real one."""
    validate_header(header, parent, view, now, genesis)
    check_topology(proof, genesis, header)
    verify_work(header, proof, genesis, header)


def _default_signature_scheme() -> tuple[SignatureVerifier, AddressOf]:
    from poqw.chain import signing

    return signing.default_scheme()


def validate_block(
    block: Block,
    parent: Header,
    view: ChainView,
    now: int,
    genesis: Genesis,
    execution: ExecutionOutcome | Callable[[Block], ExecutionOutcome],
    verify_signature: SignatureVerifier | None = None,
    address_of: AddressOf | None = None,
    one_time_key_reused: Callable[[bytes, bytes], bool] | None = None,
) -> None:
    """Raise the precise :class:`InvalidBlock` subclass of the first broken rule, or return.

    ``one_time_key_reused(public_key, signature)`` is the node's lookup of whether an ancestor
    block already used this signature's one-time key (see
    :func:`poqw.chain.signing.one_time_key_use`); without it that rule is not checked.
    """
    header = block.header
    _check_link(header, parent, block)
    check_topology(block.proof, genesis, block)
    _check_difficulty(header, parent, view, genesis, block)
    verify_work(header, block.proof, genesis, block)
    check_seal(block, verify_signature, address_of)
    if one_time_key_reused is not None and one_time_key_reused(block.public_key, block.signature):
        raise InvalidBlock("bad signature: its one-time key was already used on this chain",
                           block)
    _check_timestamp(header, parent, now, genesis, block)
    if header.tx_root != transactions_root(block.transactions):
        raise InvalidBlock("transaction root does not match the transactions", block)
    first_seen: dict[bytes, int] = {}
    for i, tx in enumerate(block.transactions):
        if tx in first_seen:
            raise InvalidTransaction(f"transaction {i} repeats transaction {first_seen[tx]}",
                                     block)
        first_seen[tx] = i
    _check_gas(header, parent, block)
    outcome = execution(block) if callable(execution) else execution
    if header.state_root != outcome.state_root:
        raise InvalidBlock("state root does not match the executed state", block)
    if header.receipt_root != outcome.receipt_root:
        raise InvalidBlock("receipt root does not match the executed receipts", block)
    if header.gas_used != outcome.gas_used:
        raise InvalidBlock(f"gas used {header.gas_used} differs from the executed "
                           f"{outcome.gas_used}", block)
