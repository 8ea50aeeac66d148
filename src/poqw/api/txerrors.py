"""Why ``eth_sendRawTransaction`` refused a transaction, in go-ethereum's words.

Wallets and libraries (web3.py, ethers, Foundry) recognise geth's messages (``nonce too low``,
``insufficient funds for gas * price + value``, ``replacement transaction underpriced``...), so
each refusal of the node's decoder, state checks and mempool is reworded here to geth's message,
followed by the details geth gives (address, numbers) and, where ours says more, our reason.
All are JSON-RPC error -32000.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from poqw.errors import DecodeError, InvalidTransaction, MempoolRejected, PoqwError, RpcError
from poqw.execution import TransactionInfo, decode_transaction

__all__ = ["transaction_error"]

_SERVER_ERROR = -32000

Rule = tuple["re.Pattern[str]", Callable[["re.Match[str]", str], str]]


def _rules() -> list[Rule]:
    def rule(pattern: str, render: Callable[[re.Match[str], str], str]) -> Rule:
        return re.compile(pattern), render

    return [
        rule(r"^transaction of (\d+) bytes exceeds (\d+)$",
             lambda m, a: f"oversized data: transaction size {m[1]}, limit {m[2]}"),
        rule(r"^transaction of (\d+) bytes exceeds the pool's byte limit$",
             lambda m, a: f"oversized data: transaction size {m[1]} exceeds the pool's bytes"),
        rule(r"^(empty transaction|non-canonical transaction encoding|malformed .*)$",
             lambda m, a: f"rlp: {m[1]}"),
        rule(r"^(legacy transaction|transaction type 0x[0-9a-f]+ not accepted)",
             lambda m, a: "transaction type not supported: only EIP-1559 (type 2) "
             "transactions are accepted"),
        rule(r"^wrong chain id: transaction is for chain (\d+), this chain is (\d+)$",
             lambda m, a: f"invalid chain id for signer: have {m[1]} want {m[2]}"),
        rule(r"^nonce (\d+) is at the 2\*\*64-1 limit$",
             lambda m, a: f"nonce has max value: address {a}, nonce: {m[1]}"),
        rule(r"^max priority fee (\d+) above max fee (\d+)$",
             lambda m, a: f"max priority fee per gas higher than max fee per gas: address {a}, "
             f"maxPriorityFeePerGas: {m[1]}, maxFeePerGas: {m[2]}"),
        rule(r"^initcode of (\d+) bytes exceeds (\d+)",
             lambda m, a: f"max initcode size exceeded: code size {m[1]} limit {m[2]}"),
        rule(r"^gas limit (\d+) below intrinsic gas (\d+)$",
             lambda m, a: f"intrinsic gas too low: gas {m[1]}, minimum needed {m[2]}"),
        rule(r"^bad signature: (.*)$", lambda m, a: f"invalid sender: {m[1]}"),
        rule(r"^invalid transaction field: (.*)$", lambda m, a: f"invalid transaction: {m[1]}"),
        rule(r"^max fee per gas (\d+) below base fee (\d+)$",
             lambda m, a: f"max fee per gas less than block base fee: address {a}, "
             f"maxFeePerGas: {m[1]}, baseFee: {m[2]}"),
        rule(r"^gas limit (\d+) exceeds the (\d+) gas left in the block$",
             lambda m, a: f"exceeds block gas limit: gas {m[1]}, block gas limit {m[2]}"),
        rule(r"^sender is a contract account", lambda m, a: f"sender not an eoa: address {a}"),
        rule(r"^nonce too low: account nonce (\d+), got (\d+)$",
             lambda m, a: f"nonce too low: address {a}, tx: {m[2]} state: {m[1]}"),
        rule(r"^nonce too high: account nonce (\d+), got (\d+)$",
             lambda m, a: f"nonce too high: address {a}, tx: {m[2]} state: {m[1]}"),
        rule(r"^nonce (\d+) is too far ahead of the account's (\d+) \(limit (\d+)\)$",
             lambda m, a: f"nonce too high: address {a}, tx: {m[1]} state: {m[2]} (at most "
             f"{int(m[3]) - 1} ahead are queued)"),
        rule(r"^insufficient balance: sender has (\d+), needs (\d+) \((.*)\)$",
             lambda m, a: f"insufficient funds for gas * price + value: address {a} have "
             f"{m[1]} want {m[2]} ({m[3]})"),
        rule(r"^insufficient balance for the pending transactions: sender 0x[0-9a-f]+ has "
             r"(\d+), .* (\d+) in all$",
             lambda m, a: f"insufficient funds for gas * price + value: address {a} have "
             f"{m[1]} want {m[2]} (with its pending transactions)"),
        rule(r"^transaction 0x[0-9a-f]+ is already pending$", lambda m, a: "already known"),
        rule(r"^replacement for nonce \d+ must (.*)$",
             lambda m, a: f"replacement transaction underpriced: a replacement must {m[1]}"),
        rule(r"^sender 0x[0-9a-f]+ already has (\d+) pending transactions",
             lambda m, a: f"account limit exceeded: address {a} has {m[1]} pending "
             "transactions"),
        rule(r"^the mempool is full(.*)$", lambda m, a: f"txpool is full{m[1]}"),
    ]


_RULES = _rules()


def _sender(raw: bytes, chain_id: int) -> str:
    try:
        info: TransactionInfo = decode_transaction(raw, chain_id)[0]
    except PoqwError:
        return "unknown"
    return "0x" + info.sender.hex()


def transaction_error(exc: DecodeError | InvalidTransaction | MempoolRejected, raw: bytes,
                      chain_id: int) -> RpcError:
    """The -32000 error geth would give for ``raw`` refused with ``exc``."""
    reason = str(exc)
    for pattern, render in _RULES:
        match = pattern.search(reason)
        if match is not None:
            return RpcError(_SERVER_ERROR, render(match, _sender(raw, chain_id)))
    prefix = "rlp: " if isinstance(exc, DecodeError) else "invalid transaction: "
    return RpcError(_SERVER_ERROR, prefix + reason)
