"""Wire encodings shared by consensus, execution and the peer-to-peer layer.

``poqw.encoding.rlp`` reads RLP against a declared shape, bounded and in linear time; it has no
dependency on the rest of poqw except the error tree, so every layer may use it.
"""
