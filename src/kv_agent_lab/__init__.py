"""kv-agent-lab: what KV-cache prefix reuse buys agent workloads, estimated and measured."""

__version__ = "0.1.0"
