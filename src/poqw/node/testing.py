"""Helpers for tests and simulations of nodes: a genesis with funded test accounts,
deterministic signers, and block building on any parent (to make forks).

Everything here is deterministic given its labels, so a failing scenario can be replayed.
The keys are test keys: never use them for anything of value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poqw.chain import Block, Genesis, Header, parse_genesis
from poqw.crypto.ecdsa import EcdsaPrivateKey
from poqw.crypto.hashing import hash32, shake_stream
from poqw.crypto.hybrid import HybridPrivateKey, HybridSigner
from poqw.crypto.keystate import IndexCounter
from poqw.crypto.mldsa import MlDsaPrivateKey
from poqw.crypto.xmss import XmssPrivateKey
from poqw.execution import ExecutionEngine
from poqw.node.blockchain import Blockchain
from poqw.node.mempool import Mempool
from poqw.node.miner import Miner, PuzzleSolver, make_solver
from poqw.node.storage import ChainStore

if TYPE_CHECKING:
    from poqw.node.config import NodeConfig

__all__ = [
    "account_key",
    "build_block_on",
    "dev_node_config",
    "funded_genesis",
    "genesis_document",
    "make_chain",
    "mldsa_signer",
    "salt_stream",
    "signed_transfer",
    "xmss_signer",
]


def account_key(label: str) -> bytes:
    """A deterministic secp256k1 secret for a test account."""
    return hash32(b"poqw/test-account", label.encode())


def genesis_document(alloc: dict[bytes, int] | None = None,
                     **changes: object) -> dict[str, Any]:
    """The devnet genesis document with ``alloc`` (address -> balance) and top-level
    ``changes`` (write it with ``json.dumps`` to get a genesis file).

    Its difficulty anchor is cheap (the easiest bound's work, no ticket lottery: a block takes
    one or two annealing runs) instead of the devnet's 10 s of one core, so tests mine quickly."""
    doc: dict[str, Any] = json.loads(
        (resources.files("poqw") / "data" / "genesis" / "devnet.json").read_bytes())
    difficulty = doc["difficulty"]
    calibration = difficulty["calibration"]
    difficulty["initial_work"] = calibration["work"][-1]
    if alloc is not None:
        doc["alloc"] = {"0x" + a.hex(): str(v) for a, v in alloc.items()}
    doc.update(changes)
    return doc


def dev_node_config(folder: Path, alloc: dict[bytes, int] | None = None,
                    overrides: dict[str, object] | None = None) -> NodeConfig:
    """A node config on :func:`genesis_document` with ``alloc`` (written to
    ``folder/genesis.json``), its data in ``folder/node``, one-time keys of height 6, then
    ``overrides`` (dotted keys, as :func:`~poqw.node.load_config` takes them)."""
    from poqw.node.config import load_config

    genesis = folder / "genesis.json"
    genesis.write_text(json.dumps(genesis_document(alloc)))
    return load_config(None, {"global.datadir": str(folder / "node"),
                              "global.genesis": str(genesis), "global.key_height": 6,
                              **(overrides or {})})


def signed_transfer(key: bytes, nonce: int, to: bytes, value: int,
                    chain_id: int = 7357) -> bytes:
    """A signed type-2 transfer of ``value`` from ``key``'s account (the devnet's chain id and
    fees that any test block takes)."""
    from eth_account import Account

    tx: dict[str, Any] = {"type": 2, "chainId": chain_id, "nonce": nonce, "gas": 21000,
                          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9,
                          "to": "0x" + to.hex(), "value": value}
    return bytes(Account.from_key(key).sign_transaction(tx).raw_transaction)


def funded_genesis(alloc: dict[bytes, int] | None = None, **changes: object) -> Genesis:
    """The devnet genesis with ``alloc`` and ``changes`` (see :func:`genesis_document`)."""
    return parse_genesis(genesis_document(alloc, **changes))


def mldsa_signer(label: str) -> HybridSigner:
    """A stateless ECDSA + ML-DSA-44 signer derived from ``label``."""
    ecdsa = EcdsaPrivateKey(hash32(b"poqw/test-miner/ecdsa", label.encode()))
    return HybridSigner(HybridPrivateKey(ecdsa, MlDsaPrivateKey(
        hash32(b"poqw/test-miner/mldsa", label.encode()))))


def xmss_signer(label: str, state_dir: Path, height: int = 6) -> HybridSigner:
    """An ECDSA + XMSS signer derived from ``label`` whose one-time state lives in
    ``state_dir`` (created on first use, reused afterwards)."""
    ecdsa = EcdsaPrivateKey(hash32(b"poqw/test-miner/ecdsa", label.encode()))
    xmss = XmssPrivateKey.from_seed(shake_stream(b"poqw/test-miner/xmss", label.encode(), 96),
                                    height)
    key = HybridPrivateKey(ecdsa, xmss)
    path = Path(state_dir) / f"{label}.state"
    key_id = key.public_key.key_id()
    counter = (IndexCounter(path, key_id, xmss.capacity) if path.exists()
               else IndexCounter.create(path, key_id, xmss.capacity))
    return HybridSigner(key, counter)


def salt_stream(label: str) -> Callable[[int], bytes]:
    """A deterministic ``salt_source`` for :class:`Miner` (32-byte salts from a counter)."""
    counter = [0]

    def next_salt(size: int) -> bytes:
        counter[0] += 1
        return hash32(b"poqw/test-salt", label.encode(), counter[0].to_bytes(8, "big"))[:size]

    return next_salt


def make_chain(datadir: Path, genesis: Genesis) -> tuple[Blockchain, Mempool]:
    """A blockchain and mempool over ``datadir`` (chain.sqlite and state.sqlite)."""
    Path(datadir).mkdir(parents=True, exist_ok=True)
    store = ChainStore(Path(datadir) / "chain.sqlite", genesis.genesis_id)
    engine = ExecutionEngine(Path(datadir) / "state.sqlite", genesis.chain_id,
                             dict(genesis.alloc))
    return Blockchain(store, engine, genesis), Mempool(engine)


def build_block_on(chain: Blockchain, parent: Header, signer: HybridSigner, timestamp: int, *,
                   mempool: Mempool | None = None, solver: PuzzleSolver | None = None,
                   label: str = "salts") -> Block:
    """A valid signed block on any stored ``parent`` (not imported)."""
    miner = Miner(chain, mempool, signer, solver or make_solver(num_sweeps=16),
                  salt_source=salt_stream(f"{label}/{parent.hash().hex()}"))
    found = miner.find_proof(parent, follow_tip=False)
    assert found is not None
    return miner.build_block(parent, *found, timestamp)
