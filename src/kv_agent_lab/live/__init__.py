"""Live runs: a workload against a real OpenAI-compatible (vLLM) server, measured.

- ``stream``: one streaming chat request and its timings (TTFT, ITL, TPOT, e2e, usage);
- ``client``: the pooled HTTP session, API key and retry policy;
- ``metrics``: the server's Prometheus counters and gauges, version, model, cache config;
- ``scheduler``: arrivals, dependencies, think time, bounded concurrency, generated history;
- ``store``: ``requests.jsonl`` written request by request, and what ``--resume`` reads;
- ``run``: ``run_live`` ties them and writes the report (schemas/report.schema.json).
"""

from __future__ import annotations

from .client import LiveClient, RetryPolicy
from .run import LiveOptions, LiveRunError, options_from_config, run_live
from .store import REQUESTS_FILE, RequestStore, latest_records
from .stream import StreamResult, stream_chat

__all__ = ["LiveClient", "LiveOptions", "LiveRunError", "REQUESTS_FILE", "RequestStore",
           "RetryPolicy", "StreamResult", "latest_records", "options_from_config", "run_live",
           "stream_chat"]
