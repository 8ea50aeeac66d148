"""Parameter types of the Ethereum JSON-RPC, as pydantic-validated annotated types.

Each type turns the wire form into a Python value or fails with a message that names what was
wrong: ``Quantity`` (``"0x"``-prefixed hex without leading zeros -> int), ``Data`` (even-length hex
-> bytes), ``Address`` (20 bytes), ``Hash32`` (32 bytes), ``BlockId`` (a tag, a number, or an
EIP-1898 object) and ``CallRequest`` (the transaction object of ``eth_call``/``eth_estimateGas``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

__all__ = [
    "BLOCK_TAGS",
    "Address",
    "BlockId",
    "BlockRef",
    "CallRequest",
    "Data",
    "Hash32",
    "Quantity",
    "parse_address",
    "parse_block_id",
    "parse_data",
    "parse_hash",
    "parse_quantity",
]

BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")
_MAX_QUANTITY_DIGITS = 64  # 256 bits


def parse_quantity(value: Any) -> int:
    """A hex quantity (``"0x1a"``); plain JSON integers are accepted too, as geth does."""
    if isinstance(value, bool):
        raise ValueError("expected a hex quantity such as \"0x1a\", got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a quantity cannot be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a hex quantity such as \"0x1a\", got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise ValueError(f"hex string without 0x prefix: {value[:20]!r}")
    digits = value[2:]
    if not digits:
        raise ValueError("hex string \"0x\" has no digits")
    if len(digits) > _MAX_QUANTITY_DIGITS:
        raise ValueError(f"hex number of {len(digits)} digits is larger than 256 bits")
    if len(digits) > 1 and digits[0] == "0":
        raise ValueError(f"hex number with leading zero digits: {value[:20]!r}")
    try:
        return int(digits, 16)
    except ValueError:
        raise ValueError(f"invalid hex number {value[:20]!r}") from None


def parse_data(value: Any, length: int | None = None, what: str = "hex data") -> bytes:
    """``"0x..."`` hex bytes (even length); exactly ``length`` bytes when given."""
    if not isinstance(value, str):
        raise ValueError(f"expected {what} as a 0x-prefixed hex string, got "
                         f"{type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        raise ValueError(f"hex string without 0x prefix: {value[:20]!r}")
    digits = value[2:]
    if len(digits) % 2:
        raise ValueError(f"hex string of odd length {len(digits)}")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise ValueError(f"invalid hex string {value[:20]!r}") from None
    if length is not None and len(raw) != length:
        raise ValueError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any) -> bytes:
    return parse_data(value, 20, "an address")


def parse_hash(value: Any) -> bytes:
    return parse_data(value, 32, "a hash")


@dataclass(frozen=True)
class BlockRef:
    """A block named by ``tag`` (one of :data:`BLOCK_TAGS`), ``number`` or ``block_hash``;
    ``require_canonical`` is EIP-1898's flag for a hash."""

    tag: str | None = None
    number: int | None = None
    block_hash: bytes | None = None
    require_canonical: bool = False


def parse_block_id(value: Any) -> BlockRef:
    """A block tag, a hex number, or an EIP-1898 object ``{"blockHash": ...}`` /
    ``{"blockNumber": ...}``."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return BlockRef(tag=value)
    if isinstance(value, dict):
        if "blockHash" in value and "blockNumber" in value:
            raise ValueError("give blockHash or blockNumber, not both")
        if "blockHash" in value:
            canonical = value.get("requireCanonical", False)
            if not isinstance(canonical, bool):
                raise ValueError("requireCanonical must be true or false")
            return BlockRef(block_hash=parse_hash(value["blockHash"]),
                            require_canonical=canonical)
        if "blockNumber" in value:
            return parse_block_id(value["blockNumber"])
        raise ValueError("a block object needs blockHash or blockNumber")
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        return BlockRef(number=parse_quantity(value))
    raise ValueError(f"expected a block number (hex) or one of {', '.join(BLOCK_TAGS)}, got "
                     f"{str(value)[:40]!r}")


Quantity = Annotated[int, BeforeValidator(parse_quantity)]
Data = Annotated[bytes, BeforeValidator(parse_data)]
Address = Annotated[bytes, BeforeValidator(parse_address)]
Hash32 = Annotated[bytes, BeforeValidator(parse_hash)]
BlockId = Annotated[BlockRef, BeforeValidator(parse_block_id)]


class CallRequest(BaseModel):
    """The transaction object of ``eth_call`` and ``eth_estimateGas`` (``input`` or ``data``,
    not both different). Unknown fields are ignored, as clients send more than a call needs."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    sender: Address | None = Field(default=None, alias="from")
    to: Address | None = None
    gas: Quantity | None = None
    gas_price: Quantity | None = Field(default=None, alias="gasPrice")
    max_fee_per_gas: Quantity | None = Field(default=None, alias="maxFeePerGas")
    max_priority_fee_per_gas: Quantity | None = Field(default=None,
                                                      alias="maxPriorityFeePerGas")
    value: Quantity | None = None
    data: Data | None = None
    input: Data | None = None
    nonce: Quantity | None = None
    chain_id: Quantity | None = Field(default=None, alias="chainId")

    @model_validator(mode="after")
    def _one_input(self) -> CallRequest:
        if self.data is not None and self.input is not None and self.data != self.input:
            raise ValueError("both \"data\" and \"input\" are set and differ; give only one")
        return self

    @property
    def calldata(self) -> bytes:
        return self.input if self.input is not None else (self.data or b"")
