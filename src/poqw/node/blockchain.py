"""Chain state: import a block, validate and execute it, store it, and move the tip by fork choice.

:meth:`Blockchain.import_block` checks the block with :func:`poqw.chain.validate_block` (header,
proof, signature and its one-time key not used by an ancestor on its own branch, see
:mod:`poqw.node.onetime`, then execution of its transactions by the EVM engine on the parent's
state root under :func:`poqw.chain.environment.block_environment`), stores it, and makes it the
head when it brings strictly more cumulative work (ties: the head seen first stays), rewriting
the canonical index of a reorg of any depth in the same database transaction (past the genesis
``reorg_depth_limit`` with a loud warning). Blocks whose parent is unknown wait in an orphan pool
bounded in count, bytes and age, after a check of what they prove without the parent
(:func:`poqw.chain.orphan.validate_orphan`), and are connected when the parent arrives. The EVM
state lives beside the chain database; execution commits first, so after a crash the chain never
names a state that is missing, and :meth:`Blockchain.repair_state` re-executes canonical blocks
whose state is gone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from poqw.chain import (
    Block,
    ExecutionOutcome,
    Genesis,
    Hash32,
    Header,
    Tip,
    WorkProof,
    block_work,
    decode_block,
    decode_header,
    derive_instance,
    derive_seed,
    genesis_header,
    instance_energies,
    is_better_tip,
    is_deep_reorg,
    unpack_spins,
    validate_block,
)
from poqw.chain.environment import INITIAL_BASE_FEE, block_environment, child_base_fee
from poqw.chain.orphan import validate_orphan
from poqw.chain.signing import one_time_key_use
from poqw.chain.validation import AddressOf, SignatureVerifier
from poqw.crypto.hashing import hash32
from poqw.errors import InvalidBlock, InvalidTransaction, StorageError
from poqw.execution import BlockEnv, BlockExecutionResult, ExecutionEngine
from poqw.node.onetime import ancestor_use, sibling_uses
from poqw.node.storage import ChainStore, StoredBlock
from poqw.node.telemetry import Telemetry

__all__ = ["INITIAL_BASE_FEE", "Blockchain", "ImportResult", "OrphanPool"]

_HEADER_CACHE = 8192
_BAD_BLOCKS = 4096
_ENVIRONMENTS_KEPT = 64  # block environments by (parent, timestamp, coinbase)

log = logging.getLogger("poqw.node.chain")


@dataclass(frozen=True)
class ImportResult:
    """What importing one block did.

    ``status``: ``"new-tip"`` (the head moved, possibly by a reorg), ``"side"`` (stored off the
    canonical chain), ``"duplicate"`` or ``"orphan"`` (parent unknown: ``missing_parent`` names
    it, ``orphan_number`` is the orphan's height). ``connected``/``disconnected`` are the
    canonical blocks gained and lost, oldest first. ``imported`` lists every block stored by
    this call (orphans whose parent this was included).
    """

    status: str
    block_hash: bytes
    tip: Tip
    imported: tuple[bytes, ...] = ()
    connected: tuple[Block, ...] = ()
    disconnected: tuple[Block, ...] = ()
    missing_parent: bytes | None = None
    orphan_number: int | None = None

    @property
    def reorg_depth(self) -> int:
        return len(self.disconnected)


class OrphanPool:
    """Blocks waiting for their parent: at most ``max_blocks`` and ``max_bytes`` (encoded) at
    once, each for at most ``max_age`` seconds; the oldest go first. Blocks that leave without
    their parent ever arriving are remembered until :meth:`take_dropped`, so whoever sent them
    can be held to account."""

    def __init__(self, max_blocks: int = 256, max_bytes: int = 16 << 20,
                 max_age: float = 600.0) -> None:
        self.max_blocks = max_blocks
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._blocks: OrderedDict[bytes, tuple[Block, int, float]] = OrderedDict()
        self._bytes = 0
        self._dropped: list[bytes] = []

    def add(self, block: Block, now: float = 0.0, size: int | None = None) -> None:
        key = bytes(block.hash())
        if key in self._blocks:
            return
        size = len(block.encode()) if size is None else size
        self._blocks[key] = (block, size, now)
        self._bytes += size
        while self._blocks and (len(self._blocks) > self.max_blocks
                                or self._bytes > self.max_bytes):
            self._drop(next(iter(self._blocks)))

    def expire(self, now: float) -> None:
        """Drop orphans older than ``max_age`` at ``now``."""
        while self._blocks:
            key, (_, _, added) = next(iter(self._blocks.items()))
            if now - added < self.max_age:
                return
            self._drop(key)

    def _drop(self, key: bytes) -> None:
        _, size, _ = self._blocks.pop(key)
        self._bytes -= size
        self._dropped.append(key)
        del self._dropped[:-4 * self.max_blocks]  # nobody asking: keep the newest only

    def discard(self, block_hash: bytes) -> int:
        """Remove one orphan without reporting it as dropped; its size (0 if absent)."""
        entry = self._blocks.pop(bytes(block_hash), None)
        if entry is None:
            return 0
        self._bytes -= entry[1]
        return entry[1]

    def size_of(self, block_hash: bytes) -> int:
        """Encoded bytes of one orphan held (0 if absent)."""
        entry = self._blocks.get(bytes(block_hash))
        return 0 if entry is None else entry[1]

    def parents(self) -> set[bytes]:
        """The parent hashes the waiting blocks name (an orphan in here is continued by another
        when its hash is one of them: a chain a peer ahead of us sent, not junk)."""
        return {bytes(b.header.parent_hash) for b, _, _ in self._blocks.values()}

    def take_dropped(self) -> list[bytes]:
        """Hashes of orphans evicted or expired (never connected) since the last call."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def pop_children(self, parent_hash: bytes) -> list[Block]:
        found = [b for b, _, _ in self._blocks.values() if b.header.parent_hash == parent_hash]
        for b in found:
            _, size, _ = self._blocks.pop(bytes(b.hash()))
            self._bytes -= size
        return found

    @property
    def size_bytes(self) -> int:
        """Encoded bytes of the orphans held."""
        return self._bytes

    def __contains__(self, block_hash: bytes) -> bool:
        return bytes(block_hash) in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)


def _fingerprint(block: Block) -> bytes:
    """What identifies a rejected block: all of it, since the signature is outside the header
    hash (a forged copy must not get the real block refused)."""
    return hash32(b"poqw/node/rejected-block", block.encode())


class Blockchain:
    """Blocks, the canonical chain and its EVM state; also the :class:`ChainView` consensus
    reads. Thread-safe: imports are serialised by a lock."""

    def __init__(self, store: ChainStore, engine: ExecutionEngine, genesis: Genesis, *,
                 verify_signature: SignatureVerifier | None = None,
                 address_of: AddressOf | None = None, max_orphans: int = 256) -> None:
        self.store = store
        self.engine = engine
        self.genesis = genesis
        self.limits = genesis.block_limits()
        self.orphans = OrphanPool(max_orphans)
        self._verify = verify_signature
        self._address_of = address_of
        self._lock = threading.RLock()
        self._environments: OrderedDict[tuple[bytes, int, bytes], tuple[BlockEnv, int]] = \
            OrderedDict()
        self._environments_lock = threading.Lock()
        self._headers: OrderedDict[bytes, Header] = OrderedDict()
        self._bad: OrderedDict[bytes, str] = OrderedDict()
        self.listeners: list[Callable[[ImportResult], None]] = []
        self.telemetry = Telemetry()  # what metrics watch (poqw.api.metrics)
        if store.tip_hash() is None:
            self._store_genesis()
        self.repair_state()

    # --- ChainView and reads -------------------------------------------------------------------

    def header(self, block_hash: bytes) -> Header | None:
        key = bytes(block_hash)
        cached = self._headers.get(key)
        if cached is not None:
            return cached
        raw = self.store.header_bytes(key)
        if raw is None:
            return None
        header = decode_header(raw)
        self._headers[key] = header
        if len(self._headers) > _HEADER_CACHE:
            self._headers.popitem(last=False)
        return header

    def block(self, block_hash: bytes) -> Block | None:
        stored = self.store.get(block_hash)
        if stored is None:
            return None
        if stored.number == 0:
            return Block(decode_header(stored.header), WorkProof(()))
        return decode_block(stored.body, self.limits)

    def tip(self) -> Tip:
        tip = self.store.tip_hash()
        if tip is None:
            raise StorageError("the chain database has no tip")
        stored = self._stored(tip)
        return Tip(Hash32(stored.block_hash), stored.number, stored.total_work)

    def tip_header(self) -> Header:
        header = self.header(self.tip().block_hash)
        assert header is not None
        return header

    def state_root(self, block_hash: bytes) -> bytes:
        return self._stored(block_hash).state_root

    def canonical_hash(self, number: int) -> bytes | None:
        return self.store.canonical_hash(number)

    def _stored(self, block_hash: bytes) -> StoredBlock:
        stored = self.store.get(block_hash)
        if stored is None:
            raise StorageError(f"block 0x{bytes(block_hash).hex()} is not stored")
        return stored

    # --- execution environment ------------------------------------------------------------------

    def block_env(self, parent: Header, timestamp: int, coinbase: bytes) -> BlockEnv:
        """What the EVM sees in the child of ``parent``, by the rules of
        :func:`poqw.chain.environment.block_environment`."""
        return self._environment(parent, timestamp, coinbase)[0]

    def _environment(self, parent: Header, timestamp: int,
                     coinbase: bytes) -> tuple[BlockEnv, int]:
        # a function of the parent (by hash: its ancestry is fixed), the timestamp and the
        # coinbase; remembered because its BLOCKHASH window reads 256 stored headers
        key = (parent.hash(), int(timestamp), bytes(coinbase))
        with self._environments_lock:
            found = self._environments.get(key)
        if found is not None:
            return found
        env = block_environment(self.genesis, parent, self._stored(parent.hash()).base_fee, self,
                                timestamp, coinbase)
        result = BlockEnv(number=env.number, timestamp=env.timestamp,
                          coinbase=bytes(env.coinbase), gas_limit=env.gas_limit,
                          base_fee_per_gas=env.base_fee_per_gas,
                          prev_randao=bytes(env.prev_randao),
                          ancestor_hashes=tuple(bytes(h) for h in env.ancestor_hashes)), \
            int(env.reward)
        with self._environments_lock:
            self._environments[key] = result
            while len(self._environments) > _ENVIRONMENTS_KEPT:
                self._environments.popitem(last=False)
        return result

    def base_fee_after(self, parent: Header) -> int:
        """Base fee per gas of the child of ``parent`` (EIP-1559 from the parent's)."""
        return child_base_fee(parent, self._stored(parent.hash()).base_fee)

    def execute(self, parent: Header, header_like: Header, transactions: tuple[bytes, ...], *,
                skip_invalid: bool = False) -> BlockExecutionResult:
        """Run ``transactions`` on the parent's state for a block with this header's timestamp
        and miner (the reward includes any streak bonus)."""
        env, reward = self._environment(parent, int(header_like.timestamp),
                                        bytes(header_like.miner))
        return self.engine.apply_block(self.state_root(parent.hash()), env, transactions,
                                       reward, skip_invalid=skip_invalid)

    # --- import --------------------------------------------------------------------------------

    def import_block(self, block: Block, now: int) -> ImportResult:
        """Validate, execute and store ``block``; raise the precise :class:`InvalidBlock`."""
        started = time.perf_counter()
        try:
            result = self._import(block, now)
        except InvalidBlock:
            self.telemetry.block_imported(time.perf_counter() - started, "invalid")
            raise
        self.telemetry.block_imported(time.perf_counter() - started, result.status,
                                      result.reorg_depth)
        if result.status == "new-tip":
            for listener in list(self.listeners):
                listener(result)
        return result

    def _import(self, block: Block, now: int) -> ImportResult:
        with self._lock:
            old_tip = self.tip()
            key = bytes(block.hash())
            fingerprint = _fingerprint(block)
            if fingerprint in self._bad:
                raise InvalidBlock(f"block was already rejected: {self._bad[fingerprint]}",
                                   block)
            if self.store.has(key):
                return ImportResult("duplicate", key, old_tip)
            if not self.store.has(block.header.parent_hash):
                # kept only if it proves on its own what it can without the parent
                validate_orphan(block, self.genesis, self._verify, self._address_of)
                self.orphans.expire(now)
                self.orphans.add(block, now)
                return ImportResult("orphan", key, old_tip,
                                    missing_parent=bytes(block.header.parent_hash),
                                    orphan_number=int(block.header.number))
            imported = [key]
            self._connect(block, now)
            pending = self.orphans.pop_children(key)
            while pending:
                child = pending.pop(0)
                try:
                    self._connect(child, now)
                except InvalidBlock as exc:
                    log.warning("orphan 0x%s rejected: %s", child.hash().hex()[:16], exc)
                    continue
                imported.append(bytes(child.hash()))
                pending.extend(self.orphans.pop_children(child.hash()))
            new_tip = self.tip()
            if new_tip.block_hash == old_tip.block_hash:
                return ImportResult("side", key, new_tip, tuple(imported))
            connected, disconnected = self._branch_change(old_tip.block_hash, new_tip.block_hash)
        return ImportResult("new-tip", key, new_tip, tuple(imported), connected, disconnected)

    def _connect(self, block: Block, now: int) -> None:
        header = block.header
        parent = self.header(header.parent_hash)
        assert parent is not None
        executed: list[BlockExecutionResult] = []

        def execution(b: Block) -> ExecutionOutcome:
            try:
                result = self.execute(parent, b.header, b.transactions)
            except InvalidTransaction as exc:
                raise InvalidTransaction(exc.reason, b) from exc
            executed.append(result)
            return ExecutionOutcome(Hash32(result.state_root), Hash32(result.receipts_root),
                                    result.gas_used)

        one_time_key = one_time_key_use(block.public_key, block.signature)

        def reused(_public_key: bytes, _signature: bytes) -> bool:
            return one_time_key is not None and ancestor_use(
                self.store, self, parent, *one_time_key) is not None

        try:
            validate_block(block, parent, self, now, self.genesis, execution,
                           self._timed_verifier(), self._address_of, reused)
        except InvalidBlock as exc:
            # a future timestamp may become valid later: do not remember it as bad
            if "in the future" not in exc.reason:
                self._remember_bad(_fingerprint(block), exc.reason)
            raise
        result = executed[0]
        self.engine.record_block(block.hash(), header.parent_hash, int(header.number), result)
        parent_stored = self._stored(header.parent_hash)
        instance = derive_instance(self.genesis.topology,
                                   derive_seed(header.parent_hash, header.miner, header.salt))
        energies = instance_energies(instance, unpack_spins(block.proof.solutions,
                                                            instance.num_variables))
        stored = StoredBlock(
            block_hash=bytes(block.hash()), parent_hash=bytes(header.parent_hash),
            number=int(header.number), miner=bytes(header.miner),
            best_energy=int(energies.min()),
            total_work=parent_stored.total_work + block_work(self.genesis, header),
            base_fee=self.base_fee_after(parent),
            state_root=bytes(result.state_root), header=header.encode(), body=block.encode(),
            one_time_key=one_time_key)
        self._store_with_fork_choice(stored)
        if one_time_key is not None:
            self._warn_sibling_reuse(stored, *one_time_key)

    def _timed_verifier(self) -> SignatureVerifier | None:
        """The signature verifier, reporting to telemetry how long the checks before the seal
        took: :func:`validate_block` checks links, difficulty and the work proof, then the
        signature, so its first call to the verifier marks the proof as verified."""
        if not self.telemetry.watched:
            return self._verify
        from poqw.chain.signing import default_scheme

        verify = self._verify or default_scheme()[0]
        started = time.perf_counter()

        def timed(public_key: bytes, message: bytes, signature: bytes) -> bool:
            self.telemetry.proof_verified(time.perf_counter() - started)
            return verify(public_key, message, signature)

        return timed

    def _warn_sibling_reuse(self, stored: StoredBlock, key_id: bytes, index: int) -> None:
        """A one-time key used on two branches is valid on each but leaks signing power."""
        for other in sibling_uses(self.store, key_id, index, stored.block_hash):
            log.warning("one-time key reuse across branches: miner 0x%s signed block %d 0x%s and "
                        "block %d 0x%s with the same XMSS index %d of key 0x%s; that key has "
                        "leaked signing power and its owner must retire it", stored.miner.hex(),
                        stored.number, stored.block_hash.hex()[:16], other.number,
                        other.block_hash.hex()[:16], index, key_id.hex()[:16])

    def _store_with_fork_choice(self, stored: StoredBlock) -> None:
        current = self.tip()
        candidate = Tip(Hash32(stored.block_hash), stored.number, stored.total_work)
        if not is_better_tip(candidate, current):
            self.store.store_block(stored)
            return
        path = [stored.block_hash]
        cursor = stored.parent_hash
        while self.store.canonical_hash(self._stored(cursor).number) != cursor:
            path.append(cursor)
            cursor = self._stored(cursor).parent_hash
        fork_number = self._stored(cursor).number
        if is_deep_reorg(self.genesis, current.number, fork_number):
            # most work always wins; a switch this deep means a long partition or an attack
            log.warning("DEEP REORG: switching to 0x%s with more work undoes %d blocks (over "
                        "the warning depth %d); check that this node was not isolated",
                        stored.block_hash.hex()[:16], current.number - fork_number,
                        self.genesis.reorg_depth_limit)
        path.reverse()
        self.store.store_block(stored, fork_number + 1, path, tip=stored.block_hash)

    def _branch_change(self, old: bytes, new: bytes) -> tuple[tuple[Block, ...],
                                                               tuple[Block, ...]]:
        """Blocks only on the new branch and only on the old one (each oldest first)."""
        a, b = self._stored(old), self._stored(new)
        lost: list[bytes] = []
        gained: list[bytes] = []
        while a.block_hash != b.block_hash:
            if a.number >= b.number:
                lost.append(a.block_hash)
                a = self._stored(a.parent_hash)
            else:
                gained.append(b.block_hash)
                b = self._stored(b.parent_hash)
        return (tuple(self._must_block(h) for h in reversed(gained)),
                tuple(self._must_block(h) for h in reversed(lost)))

    def _must_block(self, block_hash: bytes) -> Block:
        block = self.block(block_hash)
        if block is None:
            raise StorageError(f"block 0x{block_hash.hex()} vanished")
        return block

    def _remember_bad(self, block_hash: bytes, reason: str) -> None:
        self._bad[block_hash] = reason
        if len(self._bad) > _BAD_BLOCKS:
            self._bad.popitem(last=False)

    # --- genesis and recovery ------------------------------------------------------------------

    def _store_genesis(self) -> None:
        result = self.engine.genesis_result()
        header = genesis_header(self.genesis, result.state_root, result.receipts_root)
        block_hash = bytes(header.hash())
        self.engine.record_block(block_hash, bytes(32), 0, result)
        stored = StoredBlock(block_hash, bytes(32), 0, bytes(header.miner), 0, 0,
                             INITIAL_BASE_FEE, bytes(result.state_root), header.encode(),
                             Block(header, WorkProof(())).encode())
        self.store.store_block(stored, 0, [block_hash], tip=block_hash)

    def repair_state(self) -> int:
        """Make the EVM state agree with the stored chain; return how many blocks were re-run.

        Execution commits before the chain does, so normally every canonical block's state
        exists. If the state database was lost or rolled back, walk back along the canonical
        chain to the newest block whose state is present and re-execute forward, checking each
        state root against the stored header."""
        tip = self.tip()
        missing: list[StoredBlock] = []
        stored = self._stored(tip.block_hash)
        while (stored.number > 0 and (not self.engine.has_state(stored.state_root)
                                      or self.engine.state_root_of(stored.block_hash) is None)):
            missing.append(stored)
            stored = self._stored(stored.parent_hash)
        if stored.number == 0 and self.engine.state_root_of(stored.block_hash) is None:
            self.engine.record_block(stored.block_hash, bytes(32), 0,
                                     self.engine.genesis_result())
        for entry in reversed(missing):
            block = self._must_block(entry.block_hash)
            parent = self.header(entry.parent_hash)
            assert parent is not None
            result = self.execute(parent, block.header, block.transactions)
            if result.state_root != entry.state_root:
                raise StorageError(f"re-executing block {entry.number} gave state root "
                                   f"0x{result.state_root.hex()}, the chain stores "
                                   f"0x{entry.state_root.hex()}")
            self.engine.record_block(block.hash(), block.header.parent_hash, entry.number, result)
        if missing:
            log.warning("re-executed %d blocks whose EVM state was missing", len(missing))
        return len(missing)
