"""Wire encodings shared by consensus, execution and the peer-to-peer layer.

``poqw.encoding.rlp`` reads RLP against a declared shape, bounded and in linear time, and
depends on nothing in poqw but the error tree, so every layer may use it;
``poqw.encoding.fuzz`` feeds mutated encodings to every decoder of untrusted bytes.
"""
