"""The ``poqw_`` methods: what a PoQW node has that an Ethereum node has not (proofs of quantum
work, difficulty, the miner, peers).

Hashes and byte strings are hex data; numbers that may pass 2**53 (work, ticket targets) are hex
quantities; small counts and energies are JSON integers. A solution is a string of bits, one per
variable of the topology in order, ``1`` for spin -1 and ``0`` for spin +1.
"""

from __future__ import annotations

from typing import Any

from poqw.api.backend import BlockData, NodeBackend
from poqw.api.eth import LATEST
from poqw.api.formatting import hex_data, hex_quantity
from poqw.api.jsonrpc import MethodRegistry, Param, RpcContext
from poqw.api.params import BlockId
from poqw.chain import (
    block_work,
    derive_instance,
    derive_seed,
    instance_energies,
    next_difficulty,
    pairwise_distances,
    ticket_work,
    unpack_spins,
)

__all__ = ["proof_json", "register"]


def proof_json(backend: NodeBackend, data: BlockData) -> dict[str, Any]:
    """The block's proof of quantum work, re-derived from its header: seed, solutions, their
    energies on the block's instance, pairwise distances, and the bound they had to meet."""
    genesis = backend.node.genesis
    header = data.header
    out: dict[str, Any] = {
        "number": data.number, "hash": hex_data(data.block_hash), "miner": hex_data(header.miner),
        "energyBound": int(header.energy_bound), "ticketTarget": hex_quantity(
            header.ticket_target), "salt": hex_data(header.salt), "k": genesis.k,
        "dMin": genesis.d_min, "topology": {"family": genesis.topology.family,
                                            "numNodes": genesis.topology.num_nodes},
        "work": hex_quantity(block_work(genesis, header) if data.number else 0),
        "seed": None, "solutions": [], "energies": [], "distances": [], "bestEnergy": None,
        "margin": None,
    }
    solutions = data.block.proof.solutions
    if data.number == 0 or not solutions:
        return out  # the genesis block proves nothing
    seed = derive_seed(header.parent_hash, header.miner, header.salt)
    instance = derive_instance(genesis.topology, seed)
    spins = unpack_spins(solutions, instance.num_variables)
    energies = [int(e) for e in instance_energies(instance, spins)]
    best = min(energies)
    out.update(
        seed=hex_data(seed),
        solutions=["".join("1" if s < 0 else "0" for s in row) for row in spins.tolist()],
        energies=energies, distances=pairwise_distances(spins).tolist(), bestEnergy=best,
        margin=int(header.energy_bound) - best)
    return out


def register(registry: MethodRegistry) -> None:
    """Add this module's methods to ``registry``."""

    @registry.method("poqw_getProof", Param("block", BlockId))
    def get_proof(ctx: RpcContext, params: list[Any]) -> Any:
        data = ctx.backend.block(params[0])
        return None if data is None else proof_json(ctx.backend, data)

    @registry.method("poqw_difficulty", Param("block", BlockId, LATEST))
    def difficulty(ctx: RpcContext, params: list[Any]) -> Any:
        """What the child of the given block (default: the tip) must meet."""
        backend = ctx.backend
        stored = backend.require_block(params[0])
        header = backend.header(stored.block_hash)
        assert header is not None
        genesis = backend.node.genesis
        following = next_difficulty(genesis, header, backend.node.chain)
        return {
            "number": stored.number + 1, "parentHash": hex_data(stored.block_hash),
            "energyBound": following.energy_bound,
            "ticketTarget": hex_quantity(following.ticket_target),
            "work": hex_quantity(ticket_work(genesis.difficulty, following.energy_bound,
                                             following.ticket_target)),
            "parentEnergyBound": int(header.energy_bound),
            "totalWork": hex_quantity(stored.total_work), "policy": genesis.difficulty.policy,
            "targetInterval": genesis.target_interval,
            "hardestBound": genesis.difficulty.hardest_bound,
            "easiestBound": genesis.difficulty.easiest_bound,
        }

    @registry.method("poqw_miningStatus")
    def mining_status(ctx: RpcContext, params: list[Any]) -> dict[str, Any]:
        status = ctx.backend.mining_status()
        address = status.get("address")
        return {
            "status": status["status"], "mining": status["mining"], "sampler": status["sampler"],
            "address": None if address is None else hex_data(address),
            "blocksMined": status.get("blocks", 0), "saltsTried": status.get("salts_tried", 0),
            "secondsSolving": status.get("seconds_solving", 0.0),
            "attemptsPerSecond": status.get("attempts_per_second", 0.0),
        }

    @registry.method("poqw_peers", on_loop=True)
    def peers(ctx: RpcContext, params: list[Any]) -> list[dict[str, Any]]:
        return [{"nodeId": hex_data(p["node_id"]),
                 "address": None if p["address"] is None else f"{p['address'][0]}:"
                 f"{p['address'][1]}",
                 "height": p["height"], "head": None if p["head"] is None
                 else hex_data(p["head"]),
                 "totalWork": None if p["work"] is None else hex_quantity(p["work"]),
                 "capability": p.get("capability")}
                for p in ctx.backend.peers()]

    @registry.method("poqw_nodeInfo", on_loop=True)
    def node_info(ctx: RpcContext, params: list[Any]) -> dict[str, Any]:
        backend = ctx.backend
        node = backend.node
        tip = backend.tip()
        return {"name": node.config.global_.node_name, "client": backend.client_version,
                "genesis": node.genesis.name, "chainId": backend.chain_id,
                "genesisHash": hex_data(node.genesis_hash()), "height": tip.number,
                "head": hex_data(tip.block_hash), "totalWork": hex_quantity(tip.total_work),
                "p2pPort": backend.p2p_port(), "rpc": backend.rpc_url,
                "peerCount": len(backend.peers()), "mempool": len(node.mempool),
                "mining": node.mining,
                "safeDepth": backend.confirmation_depth("safe"),
                "finalizedDepth": backend.confirmation_depth("finalized"),
                "marketAddress": node.config.global_.market_address or None}
