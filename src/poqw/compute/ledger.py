"""Payment accounting for verified work: solvers per verified batch, verifiers per check.

The ledger holds a solve's budget (a bounty, or the coordinator's own funds) in integer base
units. A batch is credited only once it has passed its spot check, at a price per shot, so a
solver earns for useful samples even when another solver finds the best answer; a verifier
earns a fee per re-run strike. Nothing is paid past the budget. On-chain payment
(:mod:`poqw.compute.onchain`) records each :class:`Transfer` of credits here, signed before it
is sent, so a saved ledger knows what was paid and what may be in flight after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poqw.errors import ComputeError

__all__ = ["Ledger", "Payment", "Transfer"]

TRANSFER_STATES = ("sent", "paid", "failed")


@dataclass(frozen=True)
class Payment:
    """One credit: who, for what (a batch id in hex, or 'check'), how many units."""

    payee: str
    reason: str
    amount: int


@dataclass(frozen=True)
class Transfer:
    """One on-chain payment of the credits at ``credits`` (indices into the ledger's payments)
    to ``payee``: its transaction hash, the signed transaction (hex; public once sent, kept so
    a restart can re-send exactly it, never a second one) and whether it is ``sent``, ``paid``
    or ``failed`` (its credits are unpaid again)."""

    payee: str
    credits: tuple[int, ...]
    amount: int
    tx: str
    raw: str
    state: str = "sent"


@dataclass
class Ledger:
    """Credits against ``budget`` units: ``price_per_shot`` to solvers, ``fee_per_check`` to
    verifiers."""

    budget: int
    price_per_shot: int = 1
    fee_per_check: int = 1
    payments: list[Payment] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)

    def __post_init__(self) -> None:
        if min(self.budget, self.price_per_shot, self.fee_per_check) < 0:
            raise ComputeError("budget, price and fee must be non-negative integers")

    @property
    def spent(self) -> int:
        return sum(p.amount for p in self.payments)

    @property
    def remaining(self) -> int:
        return self.budget - self.spent

    def _pay(self, payee: str, reason: str, amount: int) -> Payment:
        if amount > self.remaining:
            raise ComputeError(f"paying {amount} to {payee} for {reason} would exceed the "
                               f"budget: {self.remaining} of {self.budget} left")
        payment = Payment(payee, reason, amount)
        self.payments.append(payment)
        return payment

    def credit_batch(self, solver: str, batch: bytes, shots: int) -> Payment:
        """Pay ``solver`` for a verified batch of ``shots`` shots."""
        return self._pay(solver, f"batch {batch.hex()}", shots * self.price_per_shot)

    def credit_checks(self, verifier: str, checks: int) -> Payment:
        return self._pay(verifier, "check", checks * self.fee_per_check)

    def balances(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.payments:
            out[p.payee] = out.get(p.payee, 0) + p.amount
        return out

    # ---- on-chain transfers of the credits ----------------------------------------------

    def unsent(self) -> dict[str, list[int]]:
        """Per payee, the credits no transfer has paid or may still pay (sent or paid)."""
        covered = {k for t in self.transfers if t.state != "failed" for k in t.credits}
        out: dict[str, list[int]] = {}
        for k, p in enumerate(self.payments):
            if k not in covered and p.amount > 0:
                out.setdefault(p.payee, []).append(k)
        return out

    def record_transfer(self, transfer: Transfer) -> None:
        taken = {k for t in self.transfers if t.state != "failed" for k in t.credits}
        if transfer.state not in TRANSFER_STATES or taken & set(transfer.credits) or \
                transfer.amount != sum(self.payments[k].amount for k in transfer.credits) or \
                any(self.payments[k].payee != transfer.payee for k in transfer.credits):
            raise ComputeError(f"transfer {transfer.tx} does not pay open credits of "
                               f"{transfer.payee} exactly")
        self.transfers.append(transfer)

    def mark_transfer(self, tx: str, state: str) -> None:
        if state not in TRANSFER_STATES:
            raise ComputeError(f"unknown transfer state {state!r}")
        self.transfers = [Transfer(t.payee, t.credits, t.amount, t.tx, t.raw, state)
                          if t.tx == tx else t for t in self.transfers]

    def paid_on_chain(self) -> dict[str, int]:
        """Per payee, the amount of its transfers known to be mined."""
        out: dict[str, int] = {}
        for t in self.transfers:
            if t.state == "paid":
                out[t.payee] = out.get(t.payee, 0) + t.amount
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "price_per_shot": self.price_per_shot,
                "fee_per_check": self.fee_per_check,
                "payments": [[p.payee, p.reason, p.amount] for p in self.payments],
                "transfers": [[t.payee, list(t.credits), t.amount, t.tx, t.raw, t.state]
                              for t in self.transfers]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Ledger:
        return cls(int(doc["budget"]), int(doc["price_per_shot"]), int(doc["fee_per_check"]),
                   [Payment(str(a), str(b), int(c)) for a, b, c in doc["payments"]],
                   [Transfer(str(a), tuple(int(k) for k in b), int(c), str(d), str(e), str(f))
                    for a, b, c, d, e, f in doc.get("transfers", [])])
