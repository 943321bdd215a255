"""Synthetic estimators that account for the KV cache exactly as vLLM does."""
