"""The EVM state transition of poqw: py-evm's Prague rules (plus the strike precompile, see
:mod:`poqw.execution.fork`) behind a small interface.

:class:`ExecutionEngine` applies a block's transactions on top of a parent state root and
returns the new root, receipts and gas; state lives in :class:`SqliteStateDB`, content-addressed,
so any root ever produced stays readable and a reorg is just executing on another parent's root.
The chain passes everything in (block environment, reward); the engine reads no clock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eth._utils.address import generate_contract_address
from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address as EvmAddress
from eth_typing import BlockNumber
from eth_typing import Hash32 as EvmHash32
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from poqw.errors import ConfigError, DecodeError, ExecutionError, InvalidTransaction, StorageError

from .accounts import SYSTEM_CONTRACT_ADDRESSES, AccountReader, EncodedAccountCaches
from .db import BlockRecord, SqliteStateDB
from .fork import PoqwState
from .interrupt import (
    CALL_INTERRUPTED,
    CallInterrupted,
    StopCheck,
    interruptible,
    stoppable,
)
from .prune import reachable_keys
from .receipts import (
    decode_stored_receipts,
    encode_stored_receipts,
    logs_bloom,
    ordered_trie_root,
    receipt_from_evm,
)
from .transactions import DecodedTransactions, check_against_state, intrinsic_gas
from .types import (
    Address,
    BlockEnv,
    BlockExecutionResult,
    GenesisAccount,
    Hash32,
    Receipt,
    RejectedTransaction,
    TransactionInfo,
)

__all__ = ["CALL_INTERRUPTED", "DEFAULT_CALL_GAS", "ExecutionEngine", "StopCheck"]


DEFAULT_CALL_GAS = 30_000_000
_EXECUTED_KEPT = 8
_CALL_ENV = BlockEnv(
    number=0, timestamp=0, coinbase=bytes(20), gas_limit=DEFAULT_CALL_GAS, base_fee_per_gas=0
)


class ExecutionEngine:
    """Apply blocks, answer state queries and read-only calls, for one chain id and genesis.

    ``db`` is a :class:`SqliteStateDB` or a path to one (``":memory:"`` for a throwaway).
    Reopening a database with a different chain id or genesis allocation is refused.
    The base fee is burnt (EIP-1559) unless ``base_fee_to_coinbase``, in which case the
    coinbase receives it too: a chain-wide rule, so every node must use the same setting.
    """

    def __init__(
        self,
        db: SqliteStateDB | str | Path,
        chain_id: int,
        genesis_alloc: Mapping[Address, int | GenesisAccount],
        *,
        base_fee_to_coinbase: bool = False,
    ) -> None:
        if not isinstance(chain_id, int) or not 0 < chain_id < 2**64:
            raise ConfigError(f"chain id must be an integer in [1, 2**64), got {chain_id!r}")
        self._owns_db = not isinstance(db, SqliteStateDB)
        self.db = SqliteStateDB(db) if not isinstance(db, SqliteStateDB) else db
        self.chain_id = chain_id
        self.base_fee_to_coinbase = base_fee_to_coinbase
        self._accounts = AccountReader(self.db)
        self._call_caches = EncodedAccountCaches()
        self._decoded = DecodedTransactions(chain_id)
        # block runs by (parent root, env, reward, transactions): a block this node builds is
        # executed again when it is imported
        self._executed: OrderedDict[Any, BlockExecutionResult] = OrderedDict()
        self._executed_lock = threading.Lock()
        self.genesis_state_root: Hash32 = self._build_genesis(genesis_alloc)
        self._check_identity()

    # --- blocks --------------------------------------------------------------------------------

    def apply_block(
        self,
        parent_state_root: Hash32,
        env: BlockEnv,
        transactions: Sequence[bytes],
        reward: int,
        *,
        skip_invalid: bool = False,
    ) -> BlockExecutionResult:
        """Execute ``transactions`` in order on ``parent_state_root``, then credit ``reward``.

        The new state is persisted (one database transaction). An invalid transaction raises
        :class:`InvalidTransaction` naming its index, unless ``skip_invalid`` (block building),
        where it is left out and listed in ``rejected``.
        """
        if not isinstance(reward, int) or reward < 0:
            raise ConfigError(f"reward must be a non-negative integer, got {reward!r}")
        key = (bytes(parent_state_root), env, reward, tuple(bytes(t) for t in transactions))
        with self._executed_lock:
            done = self._executed.get(key)
        if done is not None and self.has_state(done.state_root):
            return done  # the same run again (a block this node built, now imported)
        result = self._execute(parent_state_root, env, transactions, reward, skip_invalid)
        # running only the applied transactions gives this same result: a refused one
        # changed nothing; the state it wrote is stored (pruning it makes has_state False)
        with self._executed_lock:
            self._executed[(key[0], env, reward, result.transactions)] = dataclasses.replace(
                result, rejected=())
            while len(self._executed) > _EXECUTED_KEPT:
                self._executed.popitem(last=False)
        return result

    def _execute(self, parent_state_root: Hash32, env: BlockEnv, transactions: Sequence[bytes],
                 reward: int, skip_invalid: bool) -> BlockExecutionResult:
        receipts: list[Receipt] = []
        applied: list[bytes] = []
        rejected: list[RejectedTransaction] = []
        cumulative = priority_fees = base_fees = 0
        with self.db.transaction():
            state = self._state(parent_state_root, env)
            for index, raw in enumerate(transactions):
                try:
                    info, tx = self._decoded.decode(raw)
                    check_against_state(
                        info, state, env.base_fee_per_gas, env.gas_limit - cumulative
                    )
                    receipt = self._apply_one(state, env, info, tx, len(applied), cumulative)
                except (DecodeError, InvalidTransaction) as exc:
                    if not skip_invalid:
                        raise InvalidTransaction(f"transaction {index}: {exc}") from exc
                    # every refused-but-decodable transaction is hashed as keccak(raw bytes)
                    tx_hash = None if isinstance(exc, DecodeError) else bytes(keccak(raw))
                    rejected.append(RejectedTransaction(tx_hash, index, str(exc)))
                    continue
                cumulative = receipt.cumulative_gas_used
                tip = receipt.effective_gas_price - env.base_fee_per_gas
                priority_fees += tip * receipt.gas_used
                base_fees += env.base_fee_per_gas * receipt.gas_used
                receipts.append(receipt)
                applied.append(bytes(raw))
            coinbase_credit = reward + (base_fees if self.base_fee_to_coinbase else 0)
            if coinbase_credit:
                state.delta_balance(env.coinbase, coinbase_credit)
            state.persist()
            state_root = bytes(state.state_root)
        return BlockExecutionResult(
            state_root=state_root,
            transactions_root=ordered_trie_root(applied),
            receipts_root=ordered_trie_root([r.encoded for r in receipts]),
            logs_bloom=logs_bloom(receipts),
            gas_used=cumulative,
            receipts=tuple(receipts),
            transactions=tuple(applied),
            reward=reward,
            priority_fees=priority_fees,
            base_fees=base_fees,
            burnt_fees=0 if self.base_fee_to_coinbase else base_fees,
            rejected=tuple(rejected),
        )

    def genesis_result(self) -> BlockExecutionResult:
        """The genesis block's execution result (no transactions), e.g. to record it."""
        empty = ordered_trie_root([])
        return BlockExecutionResult(
            state_root=self.genesis_state_root,
            transactions_root=empty,
            receipts_root=empty,
            logs_bloom=bytes(256),
            gas_used=0,
            receipts=(),
            transactions=(),
            reward=0,
            priority_fees=0,
            base_fees=0,
            burnt_fees=0,
        )

    def record_block(
        self, block_hash: Hash32, parent_hash: Hash32, number: int, result: BlockExecutionResult
    ) -> None:
        """Remember a stored block's state root and receipts, so any block's state is findable."""
        if len(block_hash) != 32 or len(parent_hash) != 32:
            raise ConfigError("block and parent hash must be 32 bytes")
        record = BlockRecord(
            block_hash=bytes(block_hash),
            parent_hash=bytes(parent_hash),
            number=number,
            state_root=result.state_root,
            receipts=encode_stored_receipts(result.receipts),
            tx_hashes=result.tx_hashes,
        )
        self.db.put_block_record(record)

    def state_root_of(self, block_hash: Hash32) -> Hash32 | None:
        """The state root after a recorded block, or None if the block was never recorded."""
        record = self.db.get_block_record(block_hash)
        return None if record is None else record.state_root

    def block_receipts(self, block_hash: Hash32) -> tuple[Receipt, ...] | None:
        record = self.db.get_block_record(block_hash)
        return None if record is None else decode_stored_receipts(record.receipts)

    def find_receipts(self, tx_hash: Hash32) -> list[tuple[Hash32, Receipt]]:
        """Every recorded ``(block_hash, receipt)`` for ``tx_hash``; the node picks the canonical
        one (a transaction can sit in blocks on several forks)."""
        found = []
        for block_hash, index in self.db.find_transaction(tx_hash):
            receipts = self.block_receipts(block_hash)
            if receipts is not None and index < len(receipts):
                found.append((block_hash, receipts[index]))
        return found

    # --- state queries -------------------------------------------------------------------------

    def has_state(self, state_root: Hash32) -> bool:
        return state_root == BLANK_ROOT_HASH or state_root in self.db

    def balance(self, state_root: Hash32, address: Address) -> int:
        self._check_root(state_root)
        return int(self._accounts.account(state_root, _address(address)).balance)

    def nonce(self, state_root: Hash32, address: Address) -> int:
        self._check_root(state_root)
        return int(self._accounts.account(state_root, _address(address)).nonce)

    def code(self, state_root: Hash32, address: Address) -> bytes:
        if _address(address) in SYSTEM_CONTRACT_ADDRESSES:  # py-evm installs their code
            return bytes(self._state(state_root, _CALL_ENV).get_code(address))
        self._check_root(state_root)
        return self._accounts.code(state_root, address)

    def storage(self, state_root: Hash32, address: Address, slot: int) -> int:
        return int(self._state(state_root, _CALL_ENV).get_storage(_address(address), slot))

    def validate_transaction(
        self,
        state_root: Hash32,
        raw_tx: bytes,
        env: BlockEnv | None = None,
        *,
        allow_future_nonce: bool = False,
    ) -> TransactionInfo:
        """Mempool admission: decode, check signature, chain id, fees, gas, nonce and balance
        against ``state_root`` (and ``env``'s base fee and gas limit, if given)."""
        info, _tx = self._decoded.decode(raw_tx)
        env = env or _CALL_ENV
        if info.sender in SYSTEM_CONTRACT_ADDRESSES:  # py-evm installs their code
            state = self._state(state_root, env)
        else:
            self._check_root(state_root)
            state = self._accounts.view(state_root)
        check_against_state(
            info,
            state,
            env.base_fee_per_gas,
            env.gas_limit,
            allow_future_nonce=allow_future_nonce,
        )
        return info

    def call(
        self,
        state_root: Hash32,
        to: Address | None,
        data: bytes = b"",
        *,
        sender: Address | None = None,
        value: int = 0,
        gas: int = DEFAULT_CALL_GAS,
        env: BlockEnv | None = None,
        should_stop: StopCheck | None = None,
    ) -> bytes:
        """Run a message read-only (nothing persisted) and return its output.

        ``to=None`` simulates a contract creation. Raises :class:`ExecutionError` (with the
        revert data in ``output``) when the call reverts or fails, or (reason
        :data:`CALL_INTERRUPTED`) when ``should_stop()`` says so (e.g. past a deadline).
        """
        computation = self._simulate(state_root, to, data, sender, value, gas, env, should_stop)
        if computation.is_error:
            raise _call_error(computation)
        return bytes(computation.output)

    def estimate_gas(
        self,
        state_root: Hash32,
        to: Address | None,
        data: bytes = b"",
        *,
        sender: Address | None = None,
        value: int = 0,
        env: BlockEnv | None = None,
        should_stop: StopCheck | None = None,
    ) -> int:
        """Smallest gas limit with which the message succeeds (binary search, like geth);
        ``should_stop`` as for :meth:`call`, over the whole search."""
        cap = (env or _CALL_ENV).gas_limit
        top = self._simulate(state_root, to, data, sender, value, cap, env, should_stop)
        if top.is_error:
            raise _call_error(top)
        low = intrinsic_gas(data, to is None) - 1
        high = cap
        # geth's first guess: what the run at the cap used (intrinsic gas, then the message's
        # own), with its refund and a call stipend, over the 63/64 of gas a CALL may forward;
        # most messages succeed with it, leaving a short search below it
        used = low + 1 + top.get_gas_used()
        optimistic = (used + top.get_gas_refund() + 2300) * 64 // 63
        if low < optimistic < high:
            trial = self._simulate(state_root, to, data, sender, value, optimistic, env,
                                   should_stop)
            if isinstance(trial.error if trial.is_error else None, CallInterrupted):
                raise ExecutionError(CALL_INTERRUPTED)
            if trial.is_error:
                low = optimistic
            else:
                high = optimistic
        while high - low > 1:
            mid = (low + high) // 2
            comp = self._simulate(state_root, to, data, sender, value, mid, env, should_stop)
            if isinstance(comp.error if comp.is_error else None, CallInterrupted):
                raise ExecutionError(CALL_INTERRUPTED)
            if comp.is_error:
                low = mid
            else:
                high = mid
        return high

    def prune(self, keep_state_roots: Sequence[Hash32]) -> int:
        """Delete all state not reachable from ``keep_state_roots`` (and genesis); return the
        number of keys deleted. States of blocks outside the kept set become unreadable, so
        keep every root a reorg may still need."""
        roots = [self.genesis_state_root, *keep_state_roots]
        for root in roots:
            if not self.has_state(root):
                raise StorageError(f"cannot keep unknown state root {root.hex()}")
        return self.db.delete_all_except(reachable_keys(self.db, roots))

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> ExecutionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------------------------------

    def _context(self, env: BlockEnv) -> ExecutionContext:
        return ExecutionContext(
            coinbase=EvmAddress(env.coinbase),
            timestamp=env.timestamp,
            block_number=BlockNumber(env.number),
            difficulty=0,
            mix_hash=EvmHash32(env.prev_randao),
            gas_limit=env.gas_limit,
            prev_hashes=[EvmHash32(h) for h in env.ancestor_hashes],
            chain_id=self.chain_id,
            base_fee_per_gas=env.base_fee_per_gas,
            excess_blob_gas=0,
        )

    def _check_root(self, state_root: Hash32) -> None:
        if not isinstance(state_root, bytes) or len(state_root) != 32:
            raise StorageError(f"a state root is 32 bytes, got {state_root!r}")
        if not self.has_state(state_root):
            raise StorageError(f"unknown state root {state_root.hex()}")

    def _state(self, state_root: Hash32, env: BlockEnv, *, read_only: bool = False) -> Any:
        """A py-evm state on ``state_root``; ``read_only`` (never persisted) shares the account
        reads of other read-only states on the same root."""
        self._check_root(state_root)
        state_class = self._call_caches.state_class if read_only else PoqwState
        return state_class(self.db, self._context(env), EvmHash32(state_root))

    def _apply_one(
        self,
        state: Any,
        env: BlockEnv,
        info: TransactionInfo,
        tx: Any,
        tx_index: int,
        cumulative: int,
    ) -> Receipt:
        snapshot = state.snapshot()
        state.lock_changes()
        try:
            computation = state.apply_transaction(tx)
        except ValidationError as exc:  # a py-evm rule our checks did not anticipate
            state.revert(snapshot)
            raise InvalidTransaction(f"rejected by the EVM: {exc}") from exc
        gas_used = PragueVM.finalize_gas_used(tx, computation)
        evm_receipt = tx.make_receipt(
            b"" if computation.is_error else b"\x01",
            cumulative + gas_used,
            computation.get_log_entries(),
        )
        created = None
        if info.to is None and not computation.is_error:
            created = bytes(generate_contract_address(EvmAddress(info.sender), info.nonce))
        price = min(info.max_fee_per_gas, env.base_fee_per_gas + info.max_priority_fee_per_gas)
        return receipt_from_evm(
            evm_receipt,
            tx_hash=info.tx_hash,
            tx_index=tx_index,
            sender=info.sender,
            to=info.to,
            gas_used=gas_used,
            effective_gas_price=price,
            contract_address=created,
        )

    def _simulate(
        self,
        state_root: Hash32,
        to: Address | None,
        data: bytes,
        sender: Address | None,
        value: int,
        gas: int,
        env: BlockEnv | None,
        should_stop: StopCheck | None = None,
    ) -> Any:
        # Calls pay no gas: base fee 0, fee caps 0 (what eth_call does without a gas price).
        call_env = dataclasses.replace(env or _CALL_ENV, base_fee_per_gas=0)
        state = self._state(state_root, call_env, read_only=True)
        if should_stop is not None:
            state.computation_class = interruptible(state.computation_class)
        origin = ZERO_ADDRESS if sender is None else _address(sender)
        unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id=self.chain_id,
            nonce=state.get_nonce(origin),
            max_priority_fee_per_gas=0,
            max_fee_per_gas=0,
            gas=gas,
            to=EvmAddress(b"" if to is None else _address(to)),
            value=value,
            data=bytes(data),
            access_list=(),
        )
        try:
            with stoppable(should_stop):
                return state.apply_transaction(SpoofTransaction(unsigned, from_=origin))
        except ValidationError as exc:
            raise ExecutionError(f"call rejected: {exc}") from exc

    def _build_genesis(self, alloc: Mapping[Address, int | GenesisAccount]) -> Hash32:
        with self.db.transaction():
            state = PoqwState(self.db, self._context(_CALL_ENV), BLANK_ROOT_HASH)
            for address in sorted(alloc):
                entry = alloc[address]
                account = entry if isinstance(entry, GenesisAccount) else GenesisAccount(entry)
                addr = _address(address)
                state.set_balance(addr, account.balance)
                if account.nonce:
                    state.set_nonce(addr, account.nonce)
                if account.code:
                    state.set_code(addr, account.code)
                for slot, word in sorted(account.storage.items()):
                    state.set_storage(addr, slot, word)
            state.persist()
            return bytes(state.state_root)

    def _check_identity(self) -> None:
        chain_id = self.chain_id.to_bytes(8, "big")
        identity = (("chain_id", chain_id), ("genesis_state_root", self.genesis_state_root))
        for name, value in identity:
            stored = self.db.get_meta(name)
            if stored is None:
                self.db.put_meta(name, value)
            elif stored != value:
                raise ConfigError(
                    f"state database {self.db.path!r} belongs to another chain: its {name} is "
                    f"{stored.hex()}, this chain's is {value.hex()}"
                )


def _address(address: Address) -> Any:
    if not isinstance(address, bytes) or len(address) != 20:
        raise ConfigError(f"an address is 20 bytes, got {address!r}")
    return address


def _call_error(computation: Any) -> ExecutionError:
    if computation.is_error:
        err = computation.error
        if isinstance(err, CallInterrupted):
            return ExecutionError(CALL_INTERRUPTED)
        name = type(err).__name__
        if name == "Revert":
            return ExecutionError("execution reverted", bytes(computation.output))
        return ExecutionError(f"execution failed: {name} {err}".strip())
    return ExecutionError("execution failed")
