"""The coordinator on the PoQW chain: frauds slashed through ``StrikeFraudJudge``, verified
batches paid in the native coin.

:class:`ChainSettlement` is the :attr:`Coordinator.on_epoch` hook. After an epoch with fraud it
sends each piece of evidence to the judge (``settle_arguments``), which re-runs the faked
strike through the strike precompile and slashes the solver in the ``SolverRegistry``; the
transaction, the amount slashed and the reporter's reward go into the coordinator's notes and
:attr:`ChainSettlement.settlements`. Evidence the judge could not settle (no provable shot) is
said so; the solver stays banned locally. After every epoch it pays each payee's open ledger
credits in one transfer: the transaction is signed and recorded in the ledger, the checkpoint
saved, and only then sent, so a restarted coordinator re-sends that same transaction (or learns
it was mined) and never pays a credit twice. Frauds not ruled on yet, with the settle
transaction sent for each, are kept beside the solve state (``settlements.json``), so a retry or
a restarted coordinator waits for that transaction instead of sending a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rlp
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)
from web3.logs import DISCARD

from poqw.compute.ledger import Ledger, Transfer
from poqw.compute.settlement import settle_arguments
from poqw.compute.settlement_state import OpenFrauds, load_open_frauds, save_open_frauds
from poqw.compute.verifier import FraudEvidence
from poqw.crypto.ecdsa import EcdsaPublicKey, to_checksum_address
from poqw.errors import (
    ConfigError,
    ContractReverted,
    InvalidCommitment,
    MarketError,
    PoqwError,
)
from poqw.execution.strike_precompile import (
    decode_strike_call,
    encode_strike_call,
    strike_call_gas,
)
from poqw.market.client import SLASHER_ROLE, connect, eip1559_fees, wait_mined
from poqw.market.contracts import decode_revert, load_artifact

if TYPE_CHECKING:
    from poqw.compute.coordinator import Coordinator

__all__ = ["ChainSettlement", "Settlement", "deploy_judge", "payee_address"]

log = logging.getLogger(__name__)
TRANSFER_GAS = 21_000
#: The judge's own work around the precompile (signature, Merkle path, copying the samples):
#: a 27.4M-gas re-run was settled with 27.6M gas in all (README, the strike precompile).
SETTLE_OVERHEAD_GAS = 1_000_000


@dataclass(frozen=True)
class Settlement:
    """What became of one piece of fraud evidence on chain."""

    solver: str  # the solver's address
    tx: str | None  # the settle transaction (None: not sent)
    slashed: int
    reward: int
    reason: str = ""  # why it was not settled
    transient: bool = False  # the node, not the judge, failed: worth another try

    def to_dict(self) -> dict[str, Any]:
        return {"solver": self.solver, "tx": self.tx, "slashed": self.slashed,
                "reward": self.reward, "reason": self.reason}


def payee_address(name: str) -> str | None:
    """The account of a ledger payee: a solver's node id (compressed key, hex) or an address;
    ``None`` for a name that is neither (it cannot be paid on chain)."""
    if Web3.is_address(name):
        return Web3.to_checksum_address(name)
    try:
        return to_checksum_address(EcdsaPublicKey.from_bytes(bytes.fromhex(name)).address())
    except (ValueError, PoqwError):
        return None


def deploy_judge(w3: Web3, admin: LocalAccount, registry: str) -> str:
    """Deploy ``StrikeFraudJudge`` for ``registry`` and grant it the registry's
    ``SLASHER_ROLE`` (``admin`` must hold the registry's admin role); its address."""
    artifact = load_artifact("StrikeFraudJudge")
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = _send(w3, admin, factory.constructor(Web3.to_checksum_address(registry)))
    judge = str(receipt["contractAddress"])
    reg = w3.eth.contract(address=Web3.to_checksum_address(registry),
                          abi=load_artifact("SolverRegistry").abi)
    _send(w3, admin, reg.functions.grantRole(SLASHER_ROLE, judge))
    return judge


def _send(w3: Web3, account: LocalAccount, call: Any, timeout: float = 120.0) -> Any:
    """Simulate a contract call, sign, send and wait; a revert becomes its named error."""
    params: dict[str, Any] = {"from": account.address, "chainId": int(w3.eth.chain_id),
                              "nonce": w3.eth.get_transaction_count(account.address, "pending")}
    try:
        tx = call.build_transaction(params)
    except ContractLogicError as exc:
        raise decode_revert(exc.data if isinstance(exc.data, str) else None, str(exc)) from None
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = wait_mined(w3, tx_hash, timeout)
    if receipt["status"] != 1:
        raise MarketError(f"transaction 0x{bytes(tx_hash).hex()} failed")
    return receipt


class ChainSettlement:
    """Settles a coordinator's frauds on chain as ``reporter`` and pays its ledger's credits
    from ``payer`` (None: credits are only counted), at ``rpc_url``."""

    def __init__(self, rpc_url: str, judge: str, reporter: LocalAccount,
                 payer: LocalAccount | None = None, receipt_timeout: float = 120.0) -> None:
        if not Web3.is_address(judge):
            raise ConfigError(f"StrikeFraudJudge address {judge!r} is not an address")
        self.w3 = connect(rpc_url)
        self.rpc_url, self.reporter, self.payer = rpc_url, reporter, payer
        self.receipt_timeout = receipt_timeout
        self.chain_id = int(self.w3.eth.chain_id)
        self.judge: Any = self.w3.eth.contract(address=Web3.to_checksum_address(judge),
                                               abi=load_artifact("StrikeFraudJudge").abi)
        if not self.w3.eth.get_code(self.judge.address):
            raise ConfigError(f"no contract at {judge} on the chain at {rpc_url} "
                              "(deploy the judge first: `poqw market deploy-judge`)")
        self.registry_address = str(self.judge.functions.registry().call())
        self.registry: Any = self.w3.eth.contract(address=Web3.to_checksum_address(
                                                      self.registry_address),
                                                  abi=load_artifact("SolverRegistry").abi)
        self.settlements: list[Settlement] = []
        self._retry: list[FraudEvidence] = []
        self._unpayable: set[str] = set()
        # The settle transaction sent for each piece of evidence (by its bytes): a retry after
        # a receipt timeout waits for that one instead of sending a second, which the judge
        # would refuse as EvidenceAlreadyUsed once the first is mined.
        self._sent: dict[bytes, bytes] = {}
        self._open: list[FraudEvidence] = []  # not ruled on yet: kept beside the solve state

    # ---- the hook ---------------------------------------------------------------------------

    def __call__(self, coordinator: Coordinator, found: list[FraudEvidence]) -> None:
        self._settle_all(coordinator, [*self._retry, *found], last=False)
        self.pay(coordinator)

    def resume(self, coordinator: Coordinator) -> None:
        """A coordinator (re)started on its data folder: settle the frauds a previous run left
        open (waiting for a settle transaction it sent) and send the transfers it left in
        flight."""
        path = self._state_path(coordinator)
        if path is not None:
            left = load_open_frauds(path, coordinator.model_hash)
            self._sent.update(left.sent)
            if left.evidence:
                coordinator.notes.append(f"{len(left.evidence)} fraud(s) of a previous run "
                                         "not settled yet: settling now")
                self._settle_all(coordinator, [*self._retry, *left.evidence], last=False)
        self.pay(coordinator)

    def finish(self, coordinator: Coordinator) -> None:
        """The end of the solve: a last try for the frauds and payments the node missed."""
        self._settle_all(coordinator, self._retry, last=True)
        self.pay(coordinator)

    def _settle_all(self, coordinator: Coordinator, evidence: list[FraudEvidence],
                    last: bool) -> None:
        self._retry, self._open = [], list(evidence)
        self._save(coordinator)
        for item in evidence:
            outcome = self.settle(item, coordinator)
            if outcome.transient and not last:
                self._retry.append(item)
                coordinator.notes.append(f"settling the fraud of {outcome.solver} failed "
                                         f"({outcome.reason}); retried after the next epoch")
                continue
            self._open = [e for e in self._open if e is not item]  # ruled on
            self._sent.pop(item.to_bytes(), None)
            self.settlements.append(outcome)
            coordinator.notes.append(self._describe(outcome))
            self._save(coordinator)

    @staticmethod
    def _state_path(coordinator: Coordinator) -> Path | None:
        path = coordinator.state_path
        return None if path is None else path.with_name("settlements.json")

    def _save(self, coordinator: Coordinator) -> None:
        """Write the evidence not ruled on yet (and the settle transactions sent for it)."""
        path = self._state_path(coordinator)
        if path is not None:
            save_open_frauds(path, coordinator.model_hash, OpenFrauds(self._open, self._sent))

    @staticmethod
    def _describe(s: Settlement) -> str:
        if s.tx is None:
            return f"fraud of {s.solver} not settled on chain: {s.reason}"
        return (f"{s.solver} slashed {s.slashed} on chain by StrikeFraudJudge.settle "
                f"(tx {s.tx}, reporter reward {s.reward})")

    # ---- fraud ------------------------------------------------------------------------------

    def settle(self, evidence: FraudEvidence, coordinator: Coordinator) -> Settlement:
        """Send one piece of evidence to the judge and wait for its verdict."""
        key = EcdsaPublicKey.from_bytes(evidence.signed.commitment.solver)
        solver = to_checksum_address(key.address())
        try:
            args = settle_arguments(evidence, coordinator.model)
        except InvalidCommitment as exc:
            return Settlement(solver, None, 0, 0, str(exc))
        try:
            receipt = self._send_settle(args, evidence, coordinator)
        except ContractReverted as exc:  # the judge's verdict: final
            return Settlement(solver, None, 0, 0, f"the judge refused: {exc}")
        except (MarketError, OSError, Web3Exception) as exc:  # the node: tried again
            log.warning("settling the fraud of %s failed: %s", solver, exc)
            return Settlement(solver, None, 0, 0, f"the settle transaction failed: {exc}",
                              transient=True)
        slashed = sum(int(e["args"]["amount"]) for e in
                      self.judge.events.FraudSettled().process_receipt(receipt, errors=DISCARD))
        reward = sum(int(e["args"]["reporterReward"]) for e in
                     self.registry.events.Slashed().process_receipt(receipt, errors=DISCARD))
        return Settlement(solver, "0x" + bytes(receipt["transactionHash"]).hex(), slashed,
                          reward)

    def _send_settle(self, args: list[Any], evidence: FraudEvidence,
                     coordinator: Coordinator) -> Any:
        """Simulate the settle call once (a refusal comes back as the judge's named error),
        then send it with gas priced from the precompile's rule: eth_estimateGas would re-run
        the strike a few dozen times, past a node's call timeout on a loaded machine."""
        key = evidence.to_bytes()
        earlier = self._sent.get(key)
        if earlier is not None and self._known(earlier):
            try:
                return self._settled(earlier)
            except MarketError:  # it reverted: simulate and send afresh next time
                del self._sent[key]
                raise
        call = decode_strike_call(encode_strike_call(coordinator.model, evidence.leaf.spec,
                                                     args[-1]))
        limit = int(self.w3.eth.get_block("latest")["gasLimit"])
        gas = min(strike_call_gas(call) + SETTLE_OVERHEAD_GAS, limit)
        tip, max_fee = eip1559_fees(self.w3)
        tx = self.judge.functions.settle(*args).build_transaction({
            "from": self.reporter.address, "chainId": self.chain_id, "gas": gas,
            "maxPriorityFeePerGas": tip, "maxFeePerGas": max_fee,
            "nonce": self.w3.eth.get_transaction_count(self.reporter.address, "pending")})
        try:
            self.w3.eth.call({k: v for k, v in tx.items() if k != "nonce"})  # type: ignore[arg-type]
        except ContractLogicError as exc:
            raise decode_revert(exc.data if isinstance(exc.data, str) else None,
                                str(exc)) from None
        except Web3RPCError as exc:  # a call timeout: the block has none, so send it anyway
            log.info("simulating the settlement failed (%s); sending it", exc)
        signed = self.reporter.sign_transaction(tx)
        self._sent[key] = bytes(signed.hash)  # saved before it is sent: never sent twice
        self._save(coordinator)
        tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        return self._settled(tx_hash, gas)

    def _known(self, tx_hash: bytes) -> bool:
        """Whether the node has ``tx_hash``, mined or pending (not dropped)."""
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def _settled(self, tx_hash: bytes, gas: int | None = None) -> Any:
        """The successful receipt of settle transaction ``tx_hash``, waited for."""
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=self.receipt_timeout)  # type: ignore[arg-type]
        if receipt["status"] != 1:
            raise MarketError(f"the settle transaction 0x{tx_hash.hex()} reverted on chain "
                              f"(gas used {receipt['gasUsed']}"
                              f"{'' if gas is None else f' of {gas}'})")
        return receipt

    # ---- payments ---------------------------------------------------------------------------

    def pay(self, coordinator: Coordinator) -> None:
        """Resolve transfers left in flight, then pay every payee's open credits in one
        transfer each (nothing when there is no payer or no ledger)."""
        ledger: Ledger | None = coordinator.ledger
        if self.payer is None or ledger is None:
            return
        try:
            self._resolve(coordinator, ledger)
            sent = self._send_open(coordinator, ledger)
            for transfer in sent:
                self._wait(coordinator, ledger, transfer)
        except (OSError, MarketError, Web3Exception) as exc:  # the node: retried next epoch
            log.warning("paying on chain failed, retried after the next epoch: %s", exc)
            coordinator.notes.append(f"payments not completed ({exc}); retried later")

    def _resolve(self, coordinator: Coordinator, ledger: Ledger) -> None:
        """Transfers a previous run signed and may have sent: mined, re-sent as they are, or
        failed when their nonce went to another transaction."""
        assert self.payer is not None
        for transfer in [t for t in ledger.transfers if t.state == "sent"]:
            if self._receipt(transfer.tx) is None:
                if int(self.w3.eth.get_transaction_count(self.payer.address, "latest")) > \
                        _nonce_of(transfer):
                    self._finish(coordinator, ledger, transfer, self._receipt(transfer.tx))
                    continue
                self._broadcast(transfer)
            self._wait(coordinator, ledger, transfer)

    def _send_open(self, coordinator: Coordinator, ledger: Ledger) -> list[Transfer]:
        assert self.payer is not None
        signed: list[Transfer] = []
        nonce = int(self.w3.eth.get_transaction_count(self.payer.address, "pending"))
        tip, max_fee = eip1559_fees(self.w3)
        for payee, credits in ledger.unsent().items():
            to = payee_address(payee)
            if to is None:
                if payee not in self._unpayable:
                    self._unpayable.add(payee)
                    coordinator.notes.append(f"{payee} has no address: its credits are not "
                                             "paid on chain")
                continue
            amount = sum(ledger.payments[k].amount for k in credits)
            if to == self.payer.address:  # the payer's own fees (it is the reporter too)
                ledger.record_transfer(Transfer(payee, tuple(credits), amount, "", "", "paid"))
                continue
            tx: dict[str, Any] = {"type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to,
                  "value": amount, "gas": TRANSFER_GAS, "maxPriorityFeePerGas": tip,
                  "maxFeePerGas": max_fee}
            raw = self.payer.sign_transaction(tx)
            transfer = Transfer(payee, tuple(credits), amount,
                                "0x" + bytes(raw.hash).hex(), bytes(raw.raw_transaction).hex())
            ledger.record_transfer(transfer)
            signed.append(transfer)
            nonce += 1
        coordinator.save_ledger()  # recorded before sent: a restart re-sends, never re-pays
        for transfer in signed:
            self._broadcast(transfer)
        return signed

    def _broadcast(self, transfer: Transfer) -> None:
        """Send the signed transfer; a node that refuses it and does not hold it already (no
        coins, say) is a :class:`MarketError` (the transfer stays recorded, re-sent later)."""
        try:
            self.w3.eth.send_raw_transaction(bytes.fromhex(transfer.raw))
        except (ValueError, Web3Exception) as exc:
            try:
                self.w3.eth.get_transaction(transfer.tx)  # type: ignore[arg-type]
            except TransactionNotFound:
                raise MarketError(f"the node refused transfer {transfer.tx} of "
                                  f"{transfer.amount} to {transfer.payee}: {exc}") from None
            log.info("transfer %s was known to the node already", transfer.tx)

    def _receipt(self, tx: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    def _wait(self, coordinator: Coordinator, ledger: Ledger, transfer: Transfer) -> None:
        """Wait for ``transfer`` to be mined (a :class:`TimeExhausted` leaves it in flight)."""
        assert self.payer is not None
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                transfer.tx, timeout=self.receipt_timeout)  # type: ignore[arg-type]
        except TimeExhausted:
            if int(self.w3.eth.get_transaction_count(self.payer.address, "latest")) <= \
                    _nonce_of(transfer):
                raise  # still pending: looked at again after the next epoch
            receipt = self._receipt(transfer.tx)  # mined meanwhile, or its nonce spent elsewhere
        self._finish(coordinator, ledger, transfer, receipt)

    def _finish(self, coordinator: Coordinator, ledger: Ledger, transfer: Transfer,
                receipt: Any) -> None:
        """Paid when mined and successful; otherwise failed, and its credits open again."""
        state = "paid" if receipt is not None and receipt["status"] == 1 else "failed"
        ledger.mark_transfer(transfer.tx, state)
        coordinator.save_ledger()
        who = payee_address(transfer.payee)
        coordinator.notes.append(f"paid {transfer.amount} to {who} in tx {transfer.tx}"
                                 if state == "paid" else
                                 f"transfer {transfer.tx} to {who} failed: paid again later")


def _nonce_of(transfer: Transfer) -> int:
    """The nonce of a transfer's signed EIP-1559 transaction (0x02 || rlp([chain, nonce, ...]))."""
    fields = rlp.decode(bytes.fromhex(transfer.raw)[1:])
    return int.from_bytes(fields[1], "big")
