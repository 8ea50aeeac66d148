"""The node's HTTP face: Ethereum JSON-RPC (``eth_``, ``net_``, ``web3_`` and ``poqw_``), served by
uvicorn inside the node's event loop.

:mod:`~poqw.api.server` builds the app and runs it, :mod:`~poqw.api.jsonrpc` is the JSON-RPC 2.0
core (envelope, batches, errors, method registry), :mod:`~poqw.api.backend` is the one object the
methods read and write the node through, and :mod:`~poqw.api.formatting` gives the
execution-apis result shapes. Nothing is imported here, so ``import poqw.api`` stays light.
"""
