"""The node as the API sees it: one object through which every JSON-RPC method reads the chain
and state and submits transactions.

:class:`NodeBackend` wraps a running :class:`~poqw.node.Node` (and, when the node is networked,
its :class:`~poqw.node.network.NetworkService`). Its methods are synchronous and safe to call from
worker threads: the chain and state databases serialise access behind their own locks, state is
content-addressed (a root, once read, never changes under the reader) and the mempool has its own
lock. Block tags resolve here: ``latest`` and ``pending`` are the tip, ``safe`` and ``finalized``
the canonical block a fixed confirmation depth below it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poqw import __version__
from poqw.api.callcache import CallKey, CallResults
from poqw.api.params import BlockRef
from poqw.chain import Block, Header, Tip
from poqw.errors import RpcError
from poqw.execution import BlockEnv, Receipt, TransactionInfo

if TYPE_CHECKING:
    from poqw.api.config import RpcConfig
    from poqw.node import ImportResult, Node, StoredBlock
    from poqw.node.network import NetworkService

__all__ = ["CLIENT_NAME", "BlockData", "NodeBackend", "TransactionLocation"]

CLIENT_NAME = f"poqw/v{__version__}"
_SERVER_ERROR = -32000
_CALL_ENVS_KEPT = 64
_HEAD_TAGS = ("latest", "pending")

log = logging.getLogger("poqw.api")


@dataclass(frozen=True)
class BlockData:
    """A stored block with what the API shows of it: header, base fee, the block itself (its
    transactions and proof) and its canonical status."""

    stored: StoredBlock
    header: Header
    block: Block
    canonical: bool

    @property
    def number(self) -> int:
        return self.stored.number

    @property
    def block_hash(self) -> bytes:
        return self.stored.block_hash


@dataclass(frozen=True)
class TransactionLocation:
    """Where a mined transaction sits on the canonical chain, with its receipt."""

    block: BlockData
    index: int
    receipt: Receipt


class NodeBackend:
    """Reads and writes of the node for the API (see the module docstring)."""

    def __init__(self, node: Node, config: RpcConfig,
                 network: NetworkService | None = None) -> None:
        self.node = node
        self.config = config
        self.network = network
        self.rpc_url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._head_callbacks: list[Callable[[ImportResult], None]] = []
        self._tip = node.tip()  # then kept by _on_head: no database read per eth_blockNumber
        # a block's call environment is a function of the block (its hash) alone: never stale
        self._call_envs: OrderedDict[bytes, BlockEnv] = OrderedDict()
        self._call_envs_lock = threading.Lock()
        self._head_block: StoredBlock | None = None  # the tip's stored block, read once a head
        self.call_results = CallResults()
        node.subscribe(self._on_head)

    # --- identity ------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return int(self.node.genesis.chain_id)

    @property
    def client_version(self) -> str:
        return CLIENT_NAME

    # --- blocks --------------------------------------------------------------------------------

    def tip(self) -> Tip:
        """The head of the canonical chain (as of the last head change)."""
        return self._tip

    def confirmation_depth(self, tag: str) -> int:
        """How many blocks below the tip the ``safe`` / ``finalized`` tags point."""
        if tag == "safe":
            return self.config.safe_depth
        if tag == "finalized":
            return self.config.finalized_depth or int(self.node.genesis.reorg_depth_limit)
        return 0

    def block_number(self, ref: BlockRef) -> int | None:
        """The height ``ref`` names on the canonical chain (None: a hash not stored)."""
        if ref.tag is not None:
            if ref.tag == "earliest":
                return 0
            return max(0, self.tip().number - self.confirmation_depth(ref.tag))
        if ref.number is not None:
            return ref.number
        assert ref.block_hash is not None
        stored = self.node.store.get(ref.block_hash)
        return None if stored is None else stored.number

    def stored_block(self, ref: BlockRef) -> StoredBlock | None:
        """The stored block ``ref`` names, or None when there is none (yet)."""
        store = self.node.store
        if ref.block_hash is not None:
            stored = store.get(ref.block_hash)
            if stored is None:
                return None
            if ref.require_canonical and store.canonical_hash(stored.number) != \
                    stored.block_hash:
                raise RpcError(_SERVER_ERROR, f"block 0x{ref.block_hash.hex()} is not "
                               "canonical (requireCanonical)")
            return stored
        if ref.tag in _HEAD_TAGS:
            return self._head_stored()
        number = self.block_number(ref)
        if number is None or number >= 2**63:
            return None
        block_hash = store.canonical_hash(number)
        return None if block_hash is None else store.get(block_hash)

    def _head_stored(self) -> StoredBlock | None:
        """The stored block of :meth:`tip` (what ``latest`` names), read once per head."""
        tip = self.tip()
        head = self._head_block
        if head is not None and head.block_hash == tip.block_hash:
            return head
        head = self.node.store.get(tip.block_hash)
        if head is not None:
            self._head_block = head
        return head

    def require_block(self, ref: BlockRef) -> StoredBlock:
        """As :meth:`stored_block`, but a missing block is geth's -32000 ``header not found``."""
        stored = self.stored_block(ref)
        if stored is None:
            raise RpcError(_SERVER_ERROR, "header not found")
        return stored

    def block_data(self, stored: StoredBlock) -> BlockData:
        block = self.node.chain.block(stored.block_hash)
        assert block is not None
        canonical = self.node.store.canonical_hash(stored.number) == stored.block_hash
        return BlockData(stored, block.header, block, canonical)

    def block(self, ref: BlockRef) -> BlockData | None:
        stored = self.stored_block(ref)
        return None if stored is None else self.block_data(stored)

    def canonical_hash(self, number: int) -> bytes | None:
        """The hash at height ``number`` on the canonical chain (None: above the tip)."""
        return self.node.store.canonical_hash(number)

    def header(self, block_hash: bytes) -> Header | None:
        return self.node.chain.header(block_hash)

    def receipts(self, block_hash: bytes) -> tuple[Receipt, ...]:
        return self.node.engine.block_receipts(block_hash) or ()

    def find_transaction(self, tx_hash: bytes) -> TransactionLocation | None:
        """The canonical block holding ``tx_hash`` (None: not mined on the canonical chain)."""
        height = self.tip().number  # a block above the head this API serves is not mined yet
        for block_hash, receipt in self.node.engine.find_receipts(tx_hash):
            stored = self.node.store.get(block_hash)
            if stored is None or stored.number > height or \
                    self.node.store.canonical_hash(stored.number) != block_hash:
                continue
            return TransactionLocation(self.block_data(stored), receipt.tx_index, receipt)
        return None

    def pending_transaction(self, tx_hash: bytes) -> TransactionInfo | None:
        for info in self.node.mempool.transactions():
            if info.tx_hash == tx_hash:
                return info
        return None

    # --- state ---------------------------------------------------------------------------------

    def balance(self, ref: BlockRef, address: bytes) -> int:
        return self.node.engine.balance(self.require_block(ref).state_root, address)

    def nonce(self, ref: BlockRef, address: bytes) -> int:
        """The account nonce; at ``pending`` also counting its consecutive mempool nonces.

        ``pending`` reads the head transactions are admitted against (the node's
        :class:`~poqw.node.admission.AdmissionHead`, moved before the mempool is), not
        :meth:`tip`: the node drops a block's transactions from the mempool before this backend
        hears of the new head, so the last head's nonce plus the mempool would hand out a used
        nonce."""
        if ref.tag == "pending":
            state_root = self.node.admission.current().state_root
            nonce = self.node.engine.nonce(state_root, address)
            pending = {i.nonce for i in self.node.mempool.transactions() if i.sender == address}
            while nonce in pending:
                nonce += 1
            return int(nonce)
        return int(self.node.engine.nonce(self.require_block(ref).state_root, address))

    def code(self, ref: BlockRef, address: bytes) -> bytes:
        return self.node.engine.code(self.require_block(ref).state_root, address)

    def storage(self, ref: BlockRef, address: bytes, slot: int) -> int:
        return self.node.engine.storage(self.require_block(ref).state_root, address, slot)

    def call_env(self, stored: StoredBlock) -> BlockEnv:
        """The environment ``stored`` executed in (what eth_call at that block sees); the last
        :data:`_CALL_ENVS_KEPT` are remembered by block hash."""
        with self._call_envs_lock:
            env = self._call_envs.get(stored.block_hash)
            if env is not None:
                self._call_envs.move_to_end(stored.block_hash)
                return env
        env = self._build_call_env(stored)
        with self._call_envs_lock:
            self._call_envs[stored.block_hash] = env
            while len(self._call_envs) > _CALL_ENVS_KEPT:
                self._call_envs.popitem(last=False)
        return env

    def _build_call_env(self, stored: StoredBlock) -> BlockEnv:
        header = self.node.chain.header(stored.block_hash)
        assert header is not None
        if stored.number == 0:
            return BlockEnv(number=0, timestamp=int(header.timestamp),
                            coinbase=bytes(header.miner), gas_limit=int(header.gas_limit),
                            base_fee_per_gas=stored.base_fee)
        parent = self.node.chain.header(stored.parent_hash)
        assert parent is not None
        return self.node.chain.block_env(parent, int(header.timestamp), bytes(header.miner))

    def call(self, ref: BlockRef, to: bytes | None, data: bytes, sender: bytes | None,
             value: int, gas: int) -> bytes:
        """Run a message read-only on the state after ``ref`` (raises ExecutionError; one
        running past ``evm_timeout_s`` is stopped)."""
        stored = self.require_block(ref)
        key: CallKey = (stored.block_hash, to, data, sender, value, gas)
        output = self.call_results.get(key)
        if output is not None:
            return output
        env = self.call_env(stored)
        output = self.node.engine.call(stored.state_root, to, data, sender=sender, value=value,
                                       gas=gas, env=env, should_stop=self._deadline())
        self.call_results.put(key, output)
        return output

    def cached_call(self, ref: BlockRef, to: bytes | None, data: bytes, sender: bytes | None,
                    value: int, gas: int) -> bytes | None:
        """What :meth:`call` answered for the same message at the head, if it is remembered
        (``ref`` a head tag; None otherwise): no database read, so the event loop may ask."""
        if ref.tag not in _HEAD_TAGS:
            return None
        return self.call_results.get((self.tip().block_hash, to, data, sender, value, gas))

    def estimate_gas(self, ref: BlockRef, to: bytes | None, data: bytes,
                     sender: bytes | None, value: int, gas_cap: int) -> int:
        stored = self.require_block(ref)
        env = self.call_env(stored)
        capped = BlockEnv(number=env.number, timestamp=env.timestamp, coinbase=env.coinbase,
                          gas_limit=min(env.gas_limit, gas_cap),
                          base_fee_per_gas=env.base_fee_per_gas, prev_randao=env.prev_randao,
                          ancestor_hashes=env.ancestor_hashes)
        return self.node.engine.estimate_gas(stored.state_root, to, data, sender=sender,
                                             value=value, env=capped,
                                             should_stop=self._deadline())

    def _deadline(self) -> Callable[[], bool]:
        """True once a call has run ``evm_timeout_s`` (checked every thousand opcodes)."""
        deadline = time.monotonic() + self.config.evm_timeout_s
        return lambda: time.monotonic() > deadline

    def next_base_fee(self) -> int:
        """The base fee per gas of the next block."""
        return self.node.chain.base_fee_after(self.node.chain.tip_header())

    # --- transactions --------------------------------------------------------------------------

    def send_raw_transaction(self, raw: bytes) -> TransactionInfo:
        """Admit ``raw`` to the mempool (the network gossips it on its next tick)."""
        info = self.node.submit_transaction(raw)
        if self.network is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self.network.mark_changed)
        return info

    # --- node ----------------------------------------------------------------------------------

    def mining_status(self) -> dict[str, Any]:
        node = self.node
        miner = node.miner
        out: dict[str, Any] = {"status": node.mining, "mining": node.mining == "mining",
                               "sampler": node.config.global_.sampler}
        if miner is not None:
            stats = miner.stats
            out.update(address=bytes(miner.address), blocks=stats.blocks,
                       salts_tried=stats.salts_tried, seconds_solving=stats.seconds_solving,
                       attempts_per_second=stats.attempts_per_second())
        return out

    def peers(self) -> list[dict[str, Any]]:
        """The connected peers (call on the event loop: the network lives there)."""
        if self.network is None:
            return []
        out = []
        for node_id, session in list(self.network.peers.items()):
            tip = session.protocol.peer_tip
            out.append({"node_id": bytes(node_id), "address": session.remote_address,
                        "height": None if tip is None else tip.height,
                        "head": None if tip is None else bytes(tip.tip),
                        "work": None if tip is None else tip.work,
                        "capability": self.network.capabilities.json_of(bytes(node_id))})
        return out

    def highest_peer_height(self) -> int | None:
        heights = [p["height"] for p in self.peers() if p["height"] is not None]
        return max(heights) if heights else None

    def p2p_port(self) -> int | None:
        return None if self.network is None else self.network.port

    # --- head notifications --------------------------------------------------------------------

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop on which :meth:`subscribe_heads` callbacks run (the server's)."""
        self._loop = loop

    def subscribe_heads(self, callback: Callable[[ImportResult], None]) -> Callable[[], None]:
        """Call ``callback(result)`` on the event loop after every head change; returns a
        function that unsubscribes."""
        self._head_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._head_callbacks:
                self._head_callbacks.remove(callback)
        return unsubscribe

    def _on_head(self, result: ImportResult) -> None:
        # listeners of two imports may run out of order; each new head has more work
        if result.tip.total_work > self._tip.total_work:
            self._tip = result.tip
        loop = self._loop
        if loop is None or loop.is_closed() or not self._head_callbacks:
            return
        loop.call_soon_threadsafe(self._dispatch_head, result)

    def _dispatch_head(self, result: ImportResult) -> None:
        for callback in list(self._head_callbacks):
            try:
                callback(result)
            except Exception as exc:  # one subscriber's bug must not stop the others
                log.error("head subscriber %r failed: %s", callback, exc, exc_info=exc)
