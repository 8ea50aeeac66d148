"""The mempool: valid transactions waiting for a block, per sender in nonce order.

Admission checks a transaction against the tip's state (signature, chain id, fees, gas, balance;
a nonce above the account's is queued). The balance must cover the worst-case cost (value plus gas
limit times fee cap) of the sender's pending transactions with lower nonces plus the new one, so
a sender cannot queue many transactions that each spend the whole balance; a pending transaction
with a higher nonce that the newcomer leaves uncovered is dropped (it could not run after it).
Limits: total count and bytes, transactions per sender,
and a lifetime after which a transaction expires (``now`` is always passed in). A full pool
evicts the lowest-paying last-in-line transaction if the newcomer pays more; replacing a pending
nonce needs a fee bump. Blocks are filled by effective tip (``min(max priority fee, max fee -
base fee)``), respecting each sender's nonce order. After every head change the pool drops what
was included or became invalid or is no longer covered by the sender's balance, and takes back
the transactions of blocks a reorg removed.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from poqw.errors import DecodeError, InvalidTransaction, MempoolRejected, StorageError
from poqw.execution import BlockEnv, ExecutionEngine, TransactionInfo

__all__ = ["Mempool", "MempoolLimits", "effective_tip"]


@dataclass(frozen=True)
class MempoolLimits:
    max_count: int = 4096
    max_bytes: int = 32 << 20
    max_per_sender: int = 64
    lifetime: int = 3 * 3600
    price_bump_percent: int = 10


@dataclass(frozen=True)
class _Entry:
    info: TransactionInfo
    added_at: int


def effective_tip(info: TransactionInfo, base_fee: int) -> int:
    """What the miner earns per gas from ``info`` at ``base_fee`` (negative: not includable)."""
    return min(info.max_priority_fee_per_gas, info.max_fee_per_gas - base_fee)


class Mempool:
    """Transactions by sender and nonce; thread-safe."""

    def __init__(self, engine: ExecutionEngine, limits: MempoolLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or MempoolLimits()
        self._by_sender: dict[bytes, dict[int, _Entry]] = {}
        self._by_hash: dict[bytes, _Entry] = {}
        self._bytes = 0
        self._lock = threading.RLock()
        self.listeners: list[Callable[[TransactionInfo], None]] = []
        """Called with each newly admitted transaction, in the admitting thread, outside the
        pool's lock (the JSON-RPC pending-transaction filters and subscriptions)."""

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return bytes(tx_hash) in self._by_hash

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def transactions(self) -> list[TransactionInfo]:
        with self._lock:
            return [e.info for e in self._by_hash.values()]

    # --- admission -----------------------------------------------------------------------------

    def add(self, raw: bytes, state_root: bytes, env: BlockEnv, now: int) -> TransactionInfo:
        """Validate ``raw`` against ``state_root`` and the next block's ``env`` and keep it.

        Raises :class:`InvalidTransaction` / :class:`DecodeError` for a transaction that can never
        be valid here, :class:`MempoolRejected` for one the pool will not hold."""
        info = self.engine.validate_transaction(state_root, bytes(raw), env,
                                                allow_future_nonce=True)
        with self._lock:
            if info.tx_hash in self._by_hash:
                raise MempoolRejected(f"transaction 0x{info.tx_hash.hex()} is already pending")
            account_nonce = self.engine.nonce(state_root, info.sender)
            if info.nonce - account_nonce >= self.limits.max_per_sender:
                raise MempoolRejected(f"nonce {info.nonce} is too far ahead of the account's "
                                      f"{account_nonce} (limit {self.limits.max_per_sender})")
            queue = self._by_sender.get(info.sender, {})
            old = queue.get(info.nonce)
            if old is not None:
                self._check_replacement(old.info, info)
            elif len(queue) >= self.limits.max_per_sender:
                raise MempoolRejected(f"sender 0x{info.sender.hex()} already has "
                                      f"{len(queue)} pending transactions (limit)")
            balance = self.engine.balance(state_root, info.sender)
            self._check_balance(info, queue, account_nonce, balance)
            victims = self._plan_room(info, env.base_fee_per_gas,
                                      None if old is None else old.info)
            for victim in victims:  # all or nothing: nothing leaves before the plan works
                self._remove(victim)
            if old is not None:
                self._remove(old.info)
            self._insert(_Entry(info, now))
            self._drop_uncovered(info.sender, account_nonce, balance)
            admitted = info.tx_hash in self._by_hash
        if admitted:
            for listener in list(self.listeners):
                listener(info)
        return info

    @staticmethod
    def _check_balance(info: TransactionInfo, queue: dict[int, _Entry], account_nonce: int,
                       balance: int) -> None:
        """The balance covers the pending lower nonces' worst-case cost plus ``info``'s."""
        earlier = sum(e.info.max_cost for n, e in queue.items() if account_nonce <= n < info.nonce)
        if earlier + info.max_cost > balance:
            raise MempoolRejected(
                f"insufficient balance for the pending transactions: sender "
                f"0x{info.sender.hex()} has {balance}, its pending nonces {account_nonce} to "
                f"{info.nonce - 1} may cost {earlier} and nonce {info.nonce} up to "
                f"{info.max_cost} (value + gas limit x max fee), {earlier + info.max_cost} in all")

    def _drop_uncovered(self, sender: bytes, account_nonce: int, balance: int) -> int:
        """In nonce order, drop each transaction the balance left after the kept lower ones
        cannot cover; return how many went."""
        queue = self._by_sender.get(sender, {})
        spent = dropped = 0
        for nonce in sorted(queue):
            info = queue[nonce].info
            if nonce < account_nonce:
                continue  # already spent on chain: re-validation removes it
            if spent + info.max_cost > balance:
                self._remove(info)
                dropped += 1
            else:
                spent += info.max_cost
        return dropped

    def _check_replacement(self, old: TransactionInfo, new: TransactionInfo) -> None:
        bump = 100 + self.limits.price_bump_percent
        if (new.max_fee_per_gas * 100 < old.max_fee_per_gas * bump
                or new.max_priority_fee_per_gas * 100 < old.max_priority_fee_per_gas * bump):
            raise MempoolRejected(f"replacement for nonce {new.nonce} must raise both fee caps by "
                                  f"at least {self.limits.price_bump_percent}%")

    def _plan_room(self, info: TransactionInfo, base_fee: int,
                   replacing: TransactionInfo | None) -> list[TransactionInfo]:
        """The transactions to evict so ``info`` fits (cheapest last-in-line of other senders
        first); raises without touching the pool if the newcomer does not pay enough to fit."""
        size = len(info.raw)
        if size > self.limits.max_bytes:
            raise MempoolRejected(f"transaction of {size} bytes exceeds the pool's byte limit")
        count = len(self._by_hash) + 1 - (replacing is not None)
        nbytes = self._bytes + size - (0 if replacing is None else len(replacing.raw))
        tails = {s: sorted(q) for s, q in self._by_sender.items() if q and s != info.sender}
        planned: list[TransactionInfo] = []
        while count > self.limits.max_count or nbytes > self.limits.max_bytes:
            victims = [self._by_sender[s][nonces[-1]].info for s, nonces in tails.items()
                       if nonces]
            if not victims:
                raise MempoolRejected("the mempool is full")
            victim = min(victims, key=lambda v: (effective_tip(v, base_fee), v.tx_hash))
            if effective_tip(victim, base_fee) >= effective_tip(info, base_fee):
                raise MempoolRejected("the mempool is full and this transaction pays no more "
                                      "than the cheapest one it holds")
            tails[victim.sender].pop()
            planned.append(victim)
            count -= 1
            nbytes -= len(victim.raw)
        return planned

    def _insert(self, entry: _Entry) -> None:
        info = entry.info
        self._by_sender.setdefault(info.sender, {})[info.nonce] = entry
        self._by_hash[info.tx_hash] = entry
        self._bytes += len(info.raw)

    def _remove(self, info: TransactionInfo) -> None:
        queue = self._by_sender.get(info.sender, {})
        if queue.get(info.nonce) is not None and queue[info.nonce].info.tx_hash == info.tx_hash:
            del queue[info.nonce]
            if not queue:
                del self._by_sender[info.sender]
        if self._by_hash.pop(info.tx_hash, None) is not None:
            self._bytes -= len(info.raw)

    # --- block building ------------------------------------------------------------------------

    def select(self, state_root: bytes, base_fee: int, gas_limit: int,
               max_count: int = 4096, max_bytes: int = 1 << 20) -> list[bytes]:
        """Raw transactions for a block: best effective tip first, each sender in nonce order,
        only nonces that follow the account's without a gap, within the gas and size budget."""
        with self._lock:
            ready: dict[bytes, list[TransactionInfo]] = {}
            for sender, queue in self._by_sender.items():
                nonce = self.engine.nonce(state_root, sender)
                chain = []
                while nonce in queue:
                    chain.append(queue[nonce].info)
                    nonce += 1
                if chain:
                    ready[sender] = chain
        heap = [(-effective_tip(c[0], base_fee), c[0].tx_hash, s, 0) for s, c in ready.items()]
        heapq.heapify(heap)
        out: list[bytes] = []
        gas = size = 0
        while heap and len(out) < max_count:
            neg_tip, _, sender, i = heapq.heappop(heap)
            info = ready[sender][i]
            if -neg_tip < 0 or gas + info.gas > gas_limit or size + len(info.raw) > max_bytes:
                continue  # this sender's later nonces cannot go before this one
            out.append(info.raw)
            gas += info.gas
            size += len(info.raw)
            if i + 1 < len(ready[sender]):
                nxt = ready[sender][i + 1]
                heapq.heappush(heap, (-effective_tip(nxt, base_fee), nxt.tx_hash, sender, i + 1))
        return out

    # --- maintenance ---------------------------------------------------------------------------

    def expire(self, now: int) -> int:
        """Drop transactions older than the lifetime; return how many went."""
        with self._lock:
            old = [e.info for e in self._by_hash.values()
                   if now - e.added_at > self.limits.lifetime]
            for info in old:
                self._remove(info)
            return len(old)

    def on_new_head(self, state_root: bytes, env: BlockEnv, now: int,
                    included: Iterable[bytes] = (), reverted: Iterable[bytes] = ()) -> None:
        """After the head moved: forget ``included`` raw transactions, re-check the rest against
        the new state, then take back ``reverted`` ones (from blocks a reorg removed)."""
        included_set = {bytes(tx) for tx in included}
        with self._lock:
            for entry in list(self._by_hash.values()):
                info = entry.info
                if info.raw in included_set:
                    self._remove(info)
                    continue
                try:
                    self.engine.validate_transaction(state_root, info.raw, env,
                                                     allow_future_nonce=True)
                except (InvalidTransaction, DecodeError, StorageError):
                    self._remove(info)
            for sender in list(self._by_sender):
                self._drop_uncovered(sender, self.engine.nonce(state_root, sender),
                                     self.engine.balance(state_root, sender))
            self.expire(now)
            for raw in reverted:
                if bytes(raw) in included_set:
                    continue
                try:
                    self.add(raw, state_root, env, now)
                except (InvalidTransaction, DecodeError, MempoolRejected):
                    continue
