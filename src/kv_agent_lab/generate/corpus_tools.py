"""Tool catalogue: the functions a typical agent platform exposes, as JSON Schemas.

Each :class:`Tool` carries a name, a category, a description written the way
production tool definitions are written, and a full JSON Schema (draft 2020-12
subset: types, descriptions, enums, bounds, defaults, ``required``) for its
parameters.  Rendering into a prompt happens in :mod:`kv_agent_lab.generate.text`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Tool:
    name: str
    category: str
    description: str
    parameters: JSON

    def schema(self) -> JSON:
        """A fresh ``{"name", "description", "parameters"}`` dict (safe to mutate)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
        }


def _str(desc: str, **kw: Any) -> JSON:
    return {"type": "string", "description": desc, **kw}


def _int(desc: str, **kw: Any) -> JSON:
    return {"type": "integer", "description": desc, **kw}


def _num(desc: str, **kw: Any) -> JSON:
    return {"type": "number", "description": desc, **kw}


def _bool(desc: str, default: bool = False) -> JSON:
    return {"type": "boolean", "description": desc, "default": default}


def _enum(desc: str, values: list[str], **kw: Any) -> JSON:
    return {"type": "string", "description": desc, "enum": values, **kw}


def _arr(desc: str, items: JSON, **kw: Any) -> JSON:
    return {"type": "array", "description": desc, "items": items, **kw}


def _params(required: list[str], **props: JSON) -> JSON:
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


_TIMEOUT = _int("Maximum wall-clock time in seconds before the call is cancelled.", minimum=1, maximum=1800, default=120)
_ISO_START = _str("Start of the time range, ISO 8601 (e.g. 2024-05-14T09:00:00Z) or relative (e.g. now-1h).")
_ISO_END = _str("End of the time range, ISO 8601 or relative. Defaults to now.", default="now")
_SERVICE = _str("Service name as registered in the service catalogue, e.g. checkout-api.")
_ENVIRONMENT = _enum("Target environment.", ["dev", "staging", "canary", "production"])

TOOLS: tuple[Tool, ...] = (
    # --- code -----------------------------------------------------------------
    Tool("search_code", "code",
         "Search the repository for a regular expression or literal string and return matching lines with file paths and line numbers. Use this before reading files to locate definitions, call sites and configuration keys; prefer narrow patterns, because results are capped.",
         _params(["query"],
                 query=_str("Pattern to search for. Interpreted as a regular expression unless `literal` is true."),
                 path=_str("Directory or glob that restricts the search, relative to the repository root, e.g. src/**/*.py.", default="."),
                 literal=_bool("Treat the query as a literal string instead of a regular expression."),
                 case_sensitive=_bool("Match case exactly."),
                 context_lines=_int("Lines of context to include around each match.", minimum=0, maximum=10, default=2),
                 max_results=_int("Maximum number of matches to return.", minimum=1, maximum=500, default=50))),
    Tool("read_file", "code",
         "Read a text file from the workspace. Output is prefixed with line numbers. Files longer than 2,000 lines are truncated; pass start_line and end_line to page through them. Binary files are rejected.",
         _params(["path"],
                 path=_str("Path of the file, relative to the repository root."),
                 start_line=_int("First line to return (1-based).", minimum=1, default=1),
                 end_line=_int("Last line to return, inclusive. Omit to read to the end or the truncation limit.", minimum=1),
                 encoding=_enum("Text encoding of the file.", ["utf-8", "latin-1", "utf-16"], default="utf-8"))),
    Tool("write_file", "code",
         "Create a file or replace its entire contents. Always read an existing file before overwriting it, and prefer apply_patch for small edits so unrelated lines are not rewritten.",
         _params(["path", "content"],
                 path=_str("Destination path, relative to the repository root."),
                 content=_str("Full text to write. A trailing newline is added if missing."),
                 mode=_enum("Write behaviour when the file exists.", ["overwrite", "append", "create_only"], default="overwrite"),
                 create_parents=_bool("Create missing parent directories.", default=True))),
    Tool("apply_patch", "code",
         "Apply a unified diff to files in the workspace. The patch must apply cleanly; hunks that fail are reported and nothing is written. Use dry_run to check a patch first.",
         _params(["patch"],
                 patch=_str("Unified diff text with ---/+++ headers and @@ hunk markers."),
                 strip=_int("Number of leading path components to strip, as in `patch -p`.", minimum=0, maximum=5, default=1),
                 dry_run=_bool("Validate the patch without modifying any file."))),
    Tool("list_directory", "code",
         "List files and folders under a path, with sizes and modification times. Ignores paths excluded by .gitignore unless include_ignored is set.",
         _params([],
                 path=_str("Directory to list, relative to the repository root.", default="."),
                 recursive=_bool("Descend into subdirectories."),
                 max_depth=_int("Maximum depth when recursive.", minimum=1, maximum=10, default=3),
                 pattern=_str("Glob that entries must match, e.g. *.ts."),
                 include_ignored=_bool("Include files that .gitignore excludes."))),
    Tool("run_tests", "code",
         "Run the project's test suite, or a subset of it, in the sandbox and return a summary with failing test names, assertion messages and truncated output. Tests run without network access.",
         _params([],
                 target=_str("Test path, node id or pattern, e.g. tests/test_api.py::test_login. Omit to run everything."),
                 framework=_enum("Test runner to use; autodetected when omitted.", ["pytest", "jest", "go_test", "cargo_test", "junit"]),
                 fail_fast=_bool("Stop after the first failure."),
                 extra_args=_arr("Additional command-line arguments passed to the runner.", {"type": "string"}),
                 timeout_seconds=_TIMEOUT)),
    Tool("run_shell", "code",
         "Execute a shell command in the sandboxed workspace and return exit code, stdout and stderr (each truncated to 20,000 characters). The sandbox has no network access and no credentials; do not use it for long-running servers.",
         _params(["command"],
                 command=_str("The command line, run with bash -lc."),
                 cwd=_str("Working directory relative to the repository root.", default="."),
                 env=_arr("Extra environment variables, each written as NAME=value.", {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*=.*$"}),
                 timeout_seconds=_TIMEOUT)),
    Tool("git_diff", "code",
         "Show the diff between two revisions, or between a revision and the working tree. Use stat_only for a quick overview of which files changed before requesting full hunks.",
         _params([],
                 base=_str("Base revision: branch, tag or commit SHA.", default="HEAD"),
                 target=_str("Revision to compare against the base. Omit for the working tree."),
                 paths=_arr("Limit the diff to these paths.", {"type": "string"}),
                 stat_only=_bool("Return only the per-file summary of insertions and deletions."),
                 context_lines=_int("Unchanged lines shown around each hunk.", minimum=0, maximum=20, default=3))),
    Tool("git_log", "code",
         "List commits, newest first, optionally restricted to a path, an author or a date range. Returns SHA, author, date and subject line.",
         _params([],
                 path=_str("Only commits that touched this path."),
                 author=_str("Substring of the author name or email."),
                 since=_str("Only commits after this date, YYYY-MM-DD.", format="date"),
                 max_count=_int("Maximum number of commits.", minimum=1, maximum=200, default=20))),
    Tool("create_pull_request", "code",
         "Open a pull request from a pushed branch. The body should explain the change, how it was tested and any follow-up work. Returns the pull request number and URL.",
         _params(["title", "head_branch"],
                 title=_str("Short imperative summary, at most 72 characters.", maxLength=72),
                 body=_str("Markdown description of the change."),
                 head_branch=_str("Branch that contains the changes."),
                 base_branch=_str("Branch to merge into.", default="main"),
                 draft=_bool("Open the pull request as a draft."),
                 reviewers=_arr("Usernames or team slugs to request reviews from.", {"type": "string"}, maxItems=10),
                 labels=_arr("Labels to apply.", {"type": "string"}))),
    Tool("lint_code", "code",
         "Run a linter or type checker over the given paths and return diagnostics grouped by file. With fix enabled, safe automatic fixes are applied and the remaining diagnostics are returned.",
         _params(["linter"],
                 linter=_enum("Which tool to run.", ["ruff", "mypy", "eslint", "golangci-lint", "clippy"]),
                 paths=_arr("Files or directories to check; defaults to the whole project.", {"type": "string"}),
                 fix=_bool("Apply safe automatic fixes."))),
    # --- research -------------------------------------------------------------
    Tool("web_search", "research",
         "Search the public web and return a ranked list of results with title, URL, publication date and a snippet. Snippets are not authoritative: open a page with http_get before quoting it.",
         _params(["query"],
                 query=_str("Search query. Use quotes for exact phrases and site: to restrict domains."),
                 num_results=_int("Number of results to return.", minimum=1, maximum=20, default=8),
                 recency=_enum("Restrict results by publication date.", ["any", "day", "week", "month", "year"], default="any"),
                 region=_str("Two-letter region code used to localise results, e.g. us or de.", pattern="^[a-z]{2}$"))),
    Tool("http_get", "research",
         "Fetch a URL with an HTTP GET request and return the status code, selected headers and the body as text. HTML is converted to Markdown; bodies larger than max_bytes are truncated.",
         _params(["url"],
                 url=_str("Absolute http or https URL.", format="uri"),
                 headers=_arr("Extra request headers, each written as Name: value.", {"type": "string"}),
                 follow_redirects=_bool("Follow 3xx redirects up to five hops.", default=True),
                 max_bytes=_int("Maximum body size to return.", minimum=1024, maximum=5000000, default=200000),
                 timeout_seconds=_int("Request timeout in seconds.", minimum=1, maximum=120, default=30))),
    Tool("vector_search", "research",
         "Semantic search over an indexed document collection. Returns the top matching chunks with their document id, title, chunk text and similarity score between 0 and 1.",
         _params(["collection", "query"],
                 collection=_enum("Index to search.", ["engineering-docs", "support-articles", "design-reviews", "incident-postmortems", "research-notes"]),
                 query=_str("Natural-language description of what you are looking for."),
                 top_k=_int("Number of chunks to return.", minimum=1, maximum=50, default=8),
                 min_score=_num("Discard chunks scoring below this similarity.", minimum=0, maximum=1, default=0.35),
                 updated_after=_str("Only documents updated after this date, YYYY-MM-DD.", format="date"))),
    Tool("summarize_document", "research",
         "Summarise a long document (PDF, web page or stored document) that is too large to read in full. The summary cites section headings so you can open the relevant part afterwards.",
         _params(["source"],
                 source=_str("Document id from vector_search, or an absolute URL."),
                 style=_enum("Shape of the summary.", ["bullet_points", "executive_summary", "abstract", "tl_dr"], default="bullet_points"),
                 focus=_str("Question or theme the summary should concentrate on."),
                 max_words=_int("Upper bound on summary length.", minimum=50, maximum=2000, default=300))),
    Tool("search_papers", "research",
         "Search an index of academic papers and preprints. Returns title, authors, venue, year, citation count and abstract for each hit.",
         _params(["query"],
                 query=_str("Keywords or a natural-language question."),
                 year_from=_int("Earliest publication year.", minimum=1950, maximum=2030),
                 year_to=_int("Latest publication year.", minimum=1950, maximum=2030),
                 sort=_enum("Result ordering.", ["relevance", "citations", "date"], default="relevance"),
                 max_results=_int("Number of papers to return.", minimum=1, maximum=50, default=10))),
    # --- data -----------------------------------------------------------------
    Tool("sql_query", "data",
         "Run one read-only SQL statement against an analytics database and return the result as a table. Statements that modify data are rejected. Results are capped at row_limit rows; aggregate in SQL rather than pulling raw rows.",
         _params(["database", "query"],
                 database=_enum("Database to query.", ["analytics", "billing", "product_events", "warehouse_staging"]),
                 query=_str("A single SELECT or WITH statement. Use :name placeholders for parameters."),
                 parameters=_arr("Values bound to :name placeholders, each written as name=value.", {"type": "string"}),
                 row_limit=_int("Maximum rows returned.", minimum=1, maximum=10000, default=500),
                 timeout_seconds=_int("Query timeout in seconds.", minimum=1, maximum=600, default=60))),
    Tool("describe_table", "data",
         "Return the columns, types, nullability, partitioning and row-count estimate of a table, optionally with a few sample rows. Call this before writing SQL against an unfamiliar table.",
         _params(["database", "table"],
                 database=_enum("Database that holds the table.", ["analytics", "billing", "product_events", "warehouse_staging"]),
                 table=_str("Table name, optionally schema-qualified, e.g. mart.daily_active_users."),
                 include_sample_rows=_bool("Include sample rows.", default=True),
                 sample_size=_int("Number of sample rows.", minimum=1, maximum=50, default=5))),
    Tool("run_python", "data",
         "Execute Python 3.11 in a persistent notebook kernel with pandas, numpy, scipy, statsmodels and matplotlib installed. Variables persist between calls. Figures are returned as PNG attachments; printed output is truncated to 10,000 characters.",
         _params(["code"],
                 code=_str("Python source to execute."),
                 reset_kernel=_bool("Restart the kernel before running, discarding all state."),
                 timeout_seconds=_TIMEOUT)),
    Tool("plot_chart", "data",
         "Render a chart from a dataframe held in the notebook kernel or from the last query result, and return it as an image with the underlying data summary.",
         _params(["chart_type", "data_ref", "x", "y"],
                 chart_type=_enum("Kind of chart.", ["line", "bar", "stacked_bar", "scatter", "histogram", "heatmap"]),
                 data_ref=_str("Name of a dataframe in the kernel, or `last_query`."),
                 x=_str("Column for the x axis."),
                 y=_arr("Columns for the y axis.", {"type": "string"}, minItems=1),
                 group_by=_str("Column used to split series."),
                 title=_str("Chart title."),
                 log_scale=_bool("Use a logarithmic y axis."))),
    # --- customer support ---------------------------------------------------
    Tool("lookup_customer", "support",
         "Look up a customer account by email or customer id and return profile, plan, account status and, on request, recent orders, subscriptions, tickets and masked payment methods.",
         _params([],
                 email=_str("Email address on the account.", format="email"),
                 customer_id=_str("Customer id, e.g. cus_8F2k19.", pattern="^cus_[A-Za-z0-9]+$"),
                 include=_arr("Related records to include.", {"type": "string", "enum": ["orders", "subscriptions", "tickets", "payment_methods"]}))),
    Tool("search_knowledge_base", "support",
         "Search published help-centre articles and internal support macros. Returns article id, title, audience (public or internal), last review date and the matching passage.",
         _params(["query"],
                 query=_str("What the customer is asking about, in plain language."),
                 audience=_enum("Restrict to public articles or internal macros.", ["public", "internal", "any"], default="any"),
                 locale=_str("Locale of the articles, e.g. en-US.", default="en-US"),
                 max_articles=_int("Number of articles to return.", minimum=1, maximum=10, default=3))),
    Tool("create_ticket", "support",
         "Create a ticket in the support or engineering queue. Include reproduction steps, customer impact and any identifiers you already have, so the next person does not need to ask again.",
         _params(["title", "description", "queue"],
                 title=_str("One-line summary.", maxLength=120),
                 description=_str("Markdown body: what happened, impact, steps to reproduce, what was tried."),
                 queue=_enum("Destination queue.", ["billing", "technical", "account", "shipping", "engineering_escalation"]),
                 priority=_enum("Priority.", ["urgent", "high", "normal", "low"], default="normal"),
                 customer_id=_str("Customer id, if the ticket concerns one customer."),
                 tags=_arr("Free-form tags.", {"type": "string"}))),
    Tool("update_ticket", "support",
         "Change the status or priority of an existing ticket, add an internal note, or send a public reply to the requester. Public replies are emailed immediately and cannot be recalled.",
         _params(["ticket_id"],
                 ticket_id=_str("Ticket id, e.g. SUP-48213."),
                 status=_enum("New status.", ["open", "pending", "on_hold", "solved", "closed"]),
                 priority=_enum("New priority.", ["urgent", "high", "normal", "low"]),
                 internal_note=_str("Note visible to staff only."),
                 public_reply=_str("Reply sent to the requester, in Markdown."))),
    Tool("issue_refund", "support",
         "Refund all or part of an order to the original payment method. Refunds above the agent limit are queued for approval instead of being executed; the response says which happened.",
         _params(["order_id", "amount", "currency", "reason"],
                 order_id=_str("Order id, e.g. ord_20931."),
                 amount=_num("Amount to refund, in major units.", exclusiveMinimum=0),
                 currency=_enum("ISO 4217 currency code of the order.", ["USD", "EUR", "GBP", "CAD", "AUD", "JPY"]),
                 reason=_enum("Refund reason code.", ["duplicate_charge", "service_outage", "not_as_described", "cancellation", "goodwill"]),
                 notify_customer=_bool("Email the customer a refund confirmation.", default=True))),
    Tool("send_email", "productivity",
         "Send an email from the shared team mailbox. Use Markdown in the body; it is rendered to HTML. Emails to external recipients are logged for compliance review.",
         _params(["to", "subject", "body"],
                 to=_arr("Recipient addresses.", {"type": "string", "format": "email"}, minItems=1),
                 cc=_arr("Carbon-copy addresses.", {"type": "string", "format": "email"}),
                 subject=_str("Subject line."),
                 body=_str("Message body in Markdown."),
                 reply_to_message_id=_str("Message-ID to reply to, keeping the thread intact."))),
    # --- productivity ---------------------------------------------------------
    Tool("calendar_lookup", "productivity",
         "Return busy intervals and existing events for the given people over a time window, so a meeting can be placed in a slot everyone has free.",
         _params(["attendees", "start", "end"],
                 attendees=_arr("Email addresses of the people to check.", {"type": "string", "format": "email"}, minItems=1),
                 start=_str("Window start, ISO 8601.", format="date-time"),
                 end=_str("Window end, ISO 8601.", format="date-time"),
                 timezone=_str("IANA timezone used in the response, e.g. Europe/Berlin.", default="UTC"),
                 include_tentative=_bool("Treat tentative events as busy.", default=True))),
    Tool("schedule_meeting", "productivity",
         "Create a calendar event and send invitations. Check availability with calendar_lookup first; this tool does not resolve conflicts.",
         _params(["title", "attendees", "start", "duration_minutes"],
                 title=_str("Event title."),
                 attendees=_arr("Email addresses to invite.", {"type": "string", "format": "email"}, minItems=1),
                 start=_str("Start time, ISO 8601 with offset.", format="date-time"),
                 duration_minutes=_int("Length of the meeting.", minimum=5, maximum=480, default=30),
                 agenda=_str("Agenda in Markdown, included in the invitation."),
                 video_link=_bool("Attach a video-conference link.", default=True))),
    Tool("post_slack_message", "productivity",
         "Post a message to a Slack channel or thread. Messages in incident channels are part of the incident record; keep them factual and timestamped.",
         _params(["channel", "text"],
                 channel=_str("Channel name including the leading #, e.g. #inc-checkout."),
                 text=_str("Message text in Slack mrkdwn."),
                 thread_ts=_str("Timestamp of the parent message, to reply in a thread."),
                 mention_users=_arr("User handles to mention.", {"type": "string"}))),
    # --- operations -----------------------------------------------------------
    Tool("get_metrics", "operations",
         "Evaluate a PromQL expression over a time range and return the series as compact tables. Keep the number of series small with sum by (...) or topk; responses over 50 series are truncated.",
         _params(["query", "start"],
                 query=_str("PromQL expression, e.g. sum(rate(http_requests_total{status=~\"5..\"}[5m])) by (service)."),
                 start=_ISO_START,
                 end=_ISO_END,
                 step=_str("Resolution step, e.g. 30s or 5m.", default="1m"),
                 datasource=_enum("Metrics backend.", ["prometheus-prod", "prometheus-staging", "thanos-longterm"], default="prometheus-prod"))),
    Tool("query_logs", "operations",
         "Search structured logs for a service. Returns matching log lines with timestamp, level, pod and trace id, newest first.",
         _params(["service", "start"],
                 service=_SERVICE,
                 query=_str("Full-text or field query, e.g. level:error AND msg:\"timeout\"."),
                 level=_enum("Minimum log level.", ["debug", "info", "warn", "error", "fatal"], default="info"),
                 start=_ISO_START,
                 end=_ISO_END,
                 limit=_int("Maximum lines to return.", minimum=1, maximum=5000, default=200))),
    Tool("deploy_service", "operations",
         "Deploy a container image version of a service to an environment through the release pipeline. Production deploys require a change ticket and run health checks at each step; the call returns once the first step is healthy.",
         _params(["service", "version", "environment"],
                 service=_SERVICE,
                 version=_str("Image tag or release version, e.g. v2.14.3."),
                 environment=_ENVIRONMENT,
                 strategy=_enum("Rollout strategy.", ["rolling", "blue_green", "canary"], default="rolling"),
                 canary_percent=_int("Traffic share for the canary step.", minimum=1, maximum=50, default=5),
                 change_ticket=_str("Change-management ticket id; required for production."),
                 dry_run=_bool("Render and validate the rollout plan without applying it."))),
    Tool("rollback_deployment", "operations",
         "Roll a service back to a previous revision in one environment. Faster than a new deploy and does not require a change ticket during an active incident.",
         _params(["service", "environment", "reason"],
                 service=_SERVICE,
                 environment=_ENVIRONMENT,
                 to_revision=_int("Revision number to restore; defaults to the previous healthy revision.", minimum=1),
                 reason=_str("Why the rollback is happening; recorded in the audit log."))),
    Tool("get_incident", "operations",
         "Fetch an incident record: severity, status, commander, affected services, customer impact statement and, optionally, the full timeline.",
         _params(["incident_id"],
                 incident_id=_str("Incident id, e.g. INC-2291."),
                 include_timeline=_bool("Include every timeline entry.", default=True))),
    Tool("page_oncall", "operations",
         "Page the on-call engineer of a team through the paging provider. Use only for impact that cannot wait for business hours; every page is reviewed.",
         _params(["team", "severity", "summary"],
                 team=_str("Team slug, e.g. payments-platform."),
                 severity=_enum("Incident severity.", ["sev1", "sev2", "sev3"]),
                 summary=_str("One or two sentences: what is broken and who is affected.", maxLength=300),
                 incident_id=_str("Existing incident id to attach the page to."))),
)

TOOLS_BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(t.name for t in TOOLS)

# Prefixes used when a prompt asks for more tools than the catalogue holds: real
# deployments expose the same tool through several MCP servers or workspaces.
TOOL_NAMESPACES: tuple[str, ...] = (
    "github", "gitlab", "jira", "linear", "datadog", "grafana", "notion", "zendesk",
    "salesforce", "snowflake", "bigquery", "confluence", "pagerduty", "sentry",
)

TOOLS_PREAMBLE = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
TOOLS_POSTAMBLE = (
    "\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)

# Example-argument sources for tool-call snippets: parameter name -> slot pool, or -> literal values.
EXAMPLE_ARG_SLOTS: dict[str, str] = {
    "path": "file", "file": "file", "service": "service", "table": "table", "version": "version", "ticket_id": "ticket",
    "order_id": "order", "incident_id": "incident", "team": "team", "target": "test", "reviewer": "person", "mention_user": "person",
}
EXAMPLE_ARG_VALUES: dict[str, tuple[Any, ...]] = {
    "label": ("bug", "regression", "customer-impact"), "tag": ("billing", "sso", "export"), "extra_arg": ("-q", "--maxfail=1"),
    "env": ("LOG_LEVEL=debug", "PYTHONHASHSEED=0"), "header": ("Accept: application/json",), "parameter": ("plan=Business",),
    "x": ("week", "event_date"), "y": ("users", "orders"), "group_by": ("plan", "country"), "data_ref": ("last_query",),
    "code": ("df.groupby('plan')['users'].sum().sort_values()",), "cwd": (".",), "pattern": ("*.py", "*.ts"), "region": ("us", "de"),
    "locale": ("en-US", "de-DE"), "timezone": ("Europe/Berlin", "America/New_York"), "thread_ts": ("1715677200.001200",),
    "base": ("main", "HEAD~3"), "step": ("1m", "5m"), "change_ticket": ("CHG-20418", "CHG-20533"), "author": ("priya", "kenji"),
}
