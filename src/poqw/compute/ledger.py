"""Payment accounting for verified work: solvers per verified batch, verifiers per check.

The ledger holds a solve's budget (a bounty, or the coordinator's own funds) in integer base
units. A batch is credited only once it has passed its spot check, at a price per shot, so a
solver earns for useful samples even when another solver finds the best answer; a verifier
earns a fee per re-run strike. Nothing is paid past the budget. On-chain settlement reads the
entries; this object only counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from poqw.errors import ComputeError

__all__ = ["Ledger", "Payment"]


@dataclass(frozen=True)
class Payment:
    """One credit: who, for what (a batch id in hex, or 'check'), how many units."""

    payee: str
    reason: str
    amount: int


@dataclass
class Ledger:
    """Credits against ``budget`` units: ``price_per_shot`` to solvers, ``fee_per_check`` to
    verifiers."""

    budget: int
    price_per_shot: int = 1
    fee_per_check: int = 1
    payments: list[Payment] = field(default_factory=list)

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

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "price_per_shot": self.price_per_shot,
                "fee_per_check": self.fee_per_check,
                "payments": [[p.payee, p.reason, p.amount] for p in self.payments]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Ledger:
        return cls(int(doc["budget"]), int(doc["price_per_shot"]), int(doc["fee_per_check"]),
                   [Payment(str(a), str(b), int(c)) for a, b, c in doc["payments"]])
