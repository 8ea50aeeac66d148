"""Pure helpers for producing a block: the header a miner must fill in, and a salt search.

:func:`search_proof` tries salts in order, derives each puzzle, asks ``solve`` for candidate spin
vectors and keeps the first salt with a proof that wins the lottery: :func:`winning_proof` looks
through the tickets of one run (:func:`~poqw.chain.proof.lead_proofs`) for one under the target.
:func:`sa_solver` is a ready ``solve`` built on dwave-samplers' simulated annealing; a real miner
plugs in any sampler of :mod:`poqw.samplers`. Nothing here signs: :func:`seal_block` takes the
signature the caller made over the seal message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from poqw.chain.block import Block, Header, transactions_root
from poqw.chain.difficulty import Difficulty, next_difficulty
from poqw.chain.genesis import Genesis
from poqw.chain.instance import Instance, derive_instance, derive_seed
from poqw.chain.proof import WorkProof, lead_proofs, proof_ticket
from poqw.chain.types import I64, U64, U256, Address, Bytes32, Hash32, Height
from poqw.chain.view import ChainView

__all__ = ["Solver", "sa_solver", "seal_block", "search_proof", "unsealed_header", "winning_proof"]

Solver = Callable[[Instance], npt.NDArray[np.int64]]
"""``solve(instance) -> (shots, n)`` candidate spins."""


def search_proof(genesis: Genesis, parent: Header, view: ChainView, miner: bytes,
                 salts: Iterable[bytes], solve: Solver) -> tuple[Bytes32, WorkProof] | None:
    """The first salt whose puzzle ``solve`` cracks with a winning ticket, with its proof;
    None if none does."""
    difficulty = next_difficulty(genesis, parent, view)
    for salt in salts:
        seed = derive_seed(parent.hash(), miner, salt)
        instance = derive_instance(genesis.topology, seed)
        proof = winning_proof(genesis, instance, solve(instance), difficulty)
        if proof is not None:
            return Bytes32(salt), proof
    return None


def winning_proof(genesis: Genesis, instance: Instance, candidates: npt.ArrayLike,
                  difficulty: Difficulty) -> WorkProof | None:
    """A proof from these candidate spins that meets ``difficulty`` (bound and ticket), or None.

    It tries every vector of the run that can lead a proof, so this miner draws as many tickets
    from one annealing run as any miner could from the same samples."""
    for lead, proof in lead_proofs(instance, candidates, genesis.k, genesis.d_min,
                                   difficulty.energy_bound):
        if proof_ticket(instance.seed, lead) <= difficulty.ticket_target:
            return proof
    return None


def sa_solver(num_reads: int = 64, num_sweeps: int = 16, seed: int = 0) -> Solver:
    """Simulated annealing (dwave-samplers) as a ``solve`` function, seeded per call."""
    from dwave.samplers import SimulatedAnnealingSampler

    sampler = SimulatedAnnealingSampler()
    calls = [seed]

    def solve(instance: Instance) -> npt.NDArray[np.int64]:
        h = {v: int(x) for v, x in enumerate(instance.h)}
        J = {(int(a), int(b)): int(w) for (a, b), w in zip(instance.edges, instance.J,
                                                            strict=True)}
        ss = sampler.sample_ising(h, J, num_reads=num_reads, num_sweeps=num_sweeps,
                                  seed=calls[0] % (1 << 31))
        calls[0] += 1
        out: npt.NDArray[np.int64] = ss.record.sample.astype(np.int64)
        return out

    return solve


def unsealed_header(genesis: Genesis, parent: Header, view: ChainView, miner: bytes,
                    timestamp: int, salt: bytes, proof: WorkProof, state_root: bytes,
                    receipt_root: bytes, gas_used: int = 0,
                    transactions: tuple[bytes, ...] = ()) -> Header:
    """The header for these contents, with the energy bound and ticket target the chain
    requires."""
    difficulty = next_difficulty(genesis, parent, view)
    return Header(
        parent_hash=parent.hash(), number=Height(parent.number + 1), timestamp=U64(timestamp),
        miner=Address(miner), state_root=Hash32(state_root),
        tx_root=transactions_root(transactions), receipt_root=Hash32(receipt_root),
        gas_limit=parent.gas_limit, gas_used=U64(gas_used),
        energy_bound=I64(difficulty.energy_bound), salt=Bytes32(salt),
        proof_hash=proof.hash(), ticket_target=U256(difficulty.ticket_target),
    )


def seal_block(header: Header, proof: WorkProof, transactions: tuple[bytes, ...],
               public_key: bytes, sign: Callable[[bytes], bytes]) -> Block:
    """The block, signed by ``sign(seal_message)`` (see :func:`poqw.chain.seal_message`)."""
    from poqw.chain.validation import seal_message

    block = Block(header, proof, transactions, public_key, b"")
    return replace(block, signature=sign(seal_message(header)))
