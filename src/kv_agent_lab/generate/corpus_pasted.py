"""Raw material for pasted artefacts: log lines, code, SQL and PromQL templates, test names,
reference-list parts, and the sentences that introduce a paste."""

from __future__ import annotations

LOG_MESSAGES: tuple[tuple[str, str, str], ...] = (
    ("ERROR", "upstream request failed", 'error="{error}"'),
    ("WARN", "retrying request", "attempt={pct} backoff_ms=250"),
    ("INFO", "request completed", "status=200 latency_ms={num}"),
    ("ERROR", "request completed", "status=503 latency_ms=5003"),
    ("WARN", "slow query", 'table="{table}" duration_ms={num}7'),
    ("INFO", "cache refresh finished", "keys={num} evicted={pct}"),
    ("ERROR", "failed to acquire connection", 'pool=primary waited_ms=3000 error="{error}"'),
    ("INFO", "config reloaded", "version={version}"),
    ("WARN", "circuit breaker half-open", "dependency={service}"),
    ("INFO", "health check passed", "region={region}"),
)
CODE_TEMPLATES: tuple[str, ...] = (
    'def <<func>>(payload: bytes, secret: str, *, tolerance_s: int = <<pct>>0) -> dict:\n'
        '    """Verify the webhook signature and return the decoded event."""\n'
        '    header, _, body = payload.partition(b"\\n\\n")\n'
        '    signature = dict(part.split("=", 1) for part in header.decode().split(","))\n'
        '    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()\n'
        '    if not hmac.compare_digest(expected, signature.get("v1", "")):\n'
        '        raise SignatureMismatch("<<resource>> webhook signature does not match")\n'
        '    if abs(time.time() - int(signature["t"])) > tolerance_s:\n'
        '        raise StaleEvent(signature["t"])\n'
        '    return json.loads(body)\n',
    "class <<name>>Repository:\n"
        "    def __init__(self, session: Session) -> None:\n"
        "        self._session = session\n"
        "\n"
        "    def get_by_<<key>>(self, value: str, *, limit: int = <<num>>) -> list[<<name>>]:\n"
        "        stmt = select(<<name>>).where(<<name>>.<<key>> == "
        "value).order_by(<<name>>.created_at.desc()).limit(limit)\n"
        "        return list(self._session.scalars(stmt))\n"
        "\n"
        "    def mark_<<resource>>_stale(self, ids: Sequence[int]) -> int:\n"
        "        result = "
        "self._session.execute(update(<<name>>).where(<<name>>.id.in_(ids)).values(stale=True))\n"
        "        return result.rowcount\n",
    "export async function <<func>>(req: Request, res: Response): Promise<void> {\n"
        "  const { <<key>>, page = 1 } = req.query as Record<string, string>;\n"
        "  const pageSize = Math.min(Number(req.query.pageSize ?? <<num>>), 200);\n"
        "  const rows = await db.<<resource>>.findMany({\n"
        "    where: { <<key>> },\n"
        "    skip: (Number(page) - 1) * pageSize,\n"
        "    take: pageSize + 1,\n"
        "  });\n"
        "  res.json({ items: rows.slice(0, pageSize), hasMore: rows.length > pageSize });\n"
        "}\n",
    'func (c *<<name>>Cache) Get(ctx context.Context, key string) (*<<name>>, error) {\n'
        '\tc.mu.RLock()\n'
        '\tentry, ok := c.items[key]\n'
        '\tc.mu.RUnlock()\n'
        '\tif ok && time.Since(entry.storedAt) < c.ttl {\n'
        '\t\treturn entry.value, nil\n'
        '\t}\n'
        '\tvalue, err := c.loader(ctx, key)\n'
        '\tif err != nil {\n'
        '\t\treturn nil, fmt.Errorf("load <<resource>> %q: %w", key, err)\n'
        '\t}\n'
        '\tc.mu.Lock()\n'
        '\tc.items[key] = cacheEntry{value: value, storedAt: time.Now()}\n'
        '\tc.mu.Unlock()\n'
        '\treturn value, nil\n'
        '}\n',
    'def <<func>>(records: list[dict], *, strict: bool = False) -> dict[str, float]:\n'
        '    """Aggregate amounts per <<key>>, skipping malformed rows unless strict."""\n'
        '    totals: dict[str, float] = {}\n'
        '    for row in records:\n'
        '        key = row.get("<<key>>")\n'
        '        if key is None:\n'
        '            if strict:\n'
        '                raise ValueError(f"row without <<key>>: {row!r}")\n'
        '            continue\n'
        '        totals[key] = totals.get(key, 0.0) + float(row["amount"])\n'
        '    return totals\n',
    'class <<name>>Client:\n'
        '    def __init__(self, base_url: str, timeout: float = 5.0) -> None:\n'
        '        self._base_url = base_url.rstrip("/")\n'
        '        self._timeout = timeout\n'
        '        self._session = requests.Session()\n'
        '\n'
        '    def fetch(self, resource_id: str) -> dict:\n'
        '        resp = self._session.get(f"{self._base_url}/<<resource>>/{resource_id}", '
        'timeout=self._timeout)\n'
        '        if resp.status_code == 404:\n'
        '            raise NotFoundError(resource_id)\n'
        '        resp.raise_for_status()\n'
        '        return resp.json()\n',
    'async def <<func>>(queue: asyncio.Queue, retries: int = 3) -> None:\n'
        '    while True:\n'
        '        job = await queue.get()\n'
        '        for attempt in range(1, retries + 1):\n'
        '            try:\n'
        '                await process(job)\n'
        '                break\n'
        '            except TransientError as exc:\n'
        '                log.warning("job %s failed (attempt %d): %s", job.id, attempt, exc)\n'
        '                await asyncio.sleep(0.5 * 2 ** attempt)\n'
        '        queue.task_done()\n',
    'def test_<<func>>_handles_<<key>>(client, freezer):\n'
        '    freezer.move_to("<<date>>T12:00:00Z")\n'
        '    resp = client.post("/v1/<<resource>>", json={"<<key>>": "eu", "amount": "19.99"})\n'
        '    assert resp.status_code == 201\n'
        '    body = resp.json()\n'
        '    assert body["<<key>>"] == "eu"\n'
        '    assert Decimal(body["total"]) == Decimal("19.99")\n',
    '@dataclass(frozen=True)\n'
        'class <<name>>Settings:\n'
        '    region: str = "<<region>>"\n'
        '    max_connections: int = <<num>>\n'
        '    request_timeout_s: float = 2.5\n'
        '    feature_flags: tuple[str, ...] = ()\n'
        '\n'
        '    @classmethod\n'
        '    def from_env(cls) -> "<<name>>Settings":\n'
        '        return cls(\n'
        '            region=os.environ.get("APP_REGION", cls.region),\n'
        '            max_connections=int(os.environ.get("MAX_CONNECTIONS", '
        'cls.max_connections)),\n'
        '        )\n',
)
SQL_TEMPLATES: tuple[str, ...] = (
    "-- <<metric>> per week, paying customers only\n"
        "SELECT date_trunc('week', e.event_ts) AS week,\n"
        "       s.plan,\n"
        "       count(DISTINCT e.user_id) AS users,\n"
        "       sum(CASE WHEN e.event_name = 'order_completed' THEN 1 ELSE 0 END) AS orders\n"
        "FROM <<table>> AS e\n"
        "JOIN mart.subscriptions AS s ON s.user_id = e.user_id AND s.status = 'active'\n"
        "WHERE e.event_ts >= DATE '<<date>>'\n"
        "  AND NOT e.is_internal\n"
        "GROUP BY 1, 2\n"
        "ORDER BY 1, 2;",
    "-- cohort retention by signup month (share of users active N months later)\n"
        "WITH cohorts AS (\n"
        "  SELECT user_id, date_trunc('month', signup_ts) AS cohort\n"
        "  FROM mart.subscriptions\n"
        "  WHERE signup_ts >= DATE '<<date>>'\n"
        ")\n"
        "SELECT c.cohort,\n"
        "       date_diff('month', c.cohort, a.activity_month) AS months_since_signup,\n"
        "       count(DISTINCT a.user_id) * 1.0 / max(count(DISTINCT c.user_id)) OVER (PARTITION "
        "BY c.cohort) AS retained\n"
        "FROM cohorts AS c\n"
        "LEFT JOIN <<table>> AS a ON a.user_id = c.user_id\n"
        "GROUP BY 1, 2\n"
        "ORDER BY 1, 2;",
    "-- <<metric>> by plan and country, current vs previous 28 days\n"
        "SELECT plan,\n"
        "       country,\n"
        "       sum(CASE WHEN day >= current_date - INTERVAL '28' DAY THEN amount_cents END) / "
        "100.0 AS current_28d,\n"
        "       sum(CASE WHEN day < current_date - INTERVAL '28' DAY THEN amount_cents END) / "
        "100.0 AS previous_28d\n"
        "FROM <<table>>\n"
        "WHERE day >= current_date - INTERVAL '56' DAY\n"
        "  AND NOT is_test_account\n"
        "GROUP BY 1, 2\n"
        "HAVING count(DISTINCT customer_id) >= 20\n"
        "ORDER BY current_28d DESC\n"
        "LIMIT 15;",
)
PROMQL_TEMPLATES: tuple[str, ...] = (
    'sum by (region) (rate(http_requests_total{service="<<service>>", status=~"5.."}[5m]))\n'
        '  / sum by (region) (rate(http_requests_total{service="<<service>>"}[5m]))',
    'histogram_quantile(0.99, sum by (le) '
        '(rate(http_request_duration_seconds_bucket{service="<<service>>"}[5m])))',
    "kubectl -n <<team>> rollout history deployment/<<service>>\n"
        "kubectl -n <<team>> rollout undo deployment/<<service>> --to-revision=<<pct>>",
)
CODE_NAMES: tuple[str, ...] = ("Invoice", "Session", "Ledger", "Export", "Search", "Inventory")
CODE_RESOURCES: tuple[str, ...] = ("invoices", "orders", "sessions", "exports", "accounts")
TEST_MODULES: tuple[str, ...] = (
    "billing", "checkout", "auth", "ledger", "export", "search", "ratelimit", "webhooks",
    "inventory", "sessions",
)
TEST_VERBS: tuple[str, ...] = (
    "rejects", "accepts", "retries", "rounds", "caches", "expires", "paginates", "serialises",
    "merges", "refunds",
)
TEST_OBJECTS: tuple[str, ...] = (
    "expired_token", "empty_cart", "duplicate_webhook", "eur_totals", "large_export",
    "unicode_names", "concurrent_writes", "missing_region", "partial_refund", "stale_cache",
)


REPLY_ARTEFACT_LEADS: dict[str, tuple[str, ...]] = {
    "log": (
        "Relevant log lines:",
        "These are the lines that matter:",
        "Here is what the logs show around the start of the errors:",
    ),
    "code": (
        "Here is the full updated version:",
        "The relevant code, after the change:",
        "For context, this is what the code looks like now:",
    ),
    "table": ("Results:", "Here is the breakdown:", "The numbers behind this:"),
    "notes": ("Sources I used:", "Further reading:", "The key sources:"),
    "email": (
        "Here are the recent charges on the account:", "This is the billing history I can see:",
        "For reference, the invoices on file:",
    ),
}

USER_ARTEFACT_LEADS: tuple[str, ...] = (
    "Here's what I'm seeing:", "Pasting the relevant part below.", "For reference:",
    "This is what we have right now:",
)
REFERENCE_AUTHORS: tuple[str, ...] = (
    "Chen, L.", "Okafor, N.", "Müller, K.", "Rossi, G.", "Tanaka, H.", "Singh, A.", "Novak, P.",
)
REFERENCE_KINDS: tuple[str, ...] = (
    "A survey of", "Benchmarking", "Revisiting", "Measuring the costs of", "Lessons from deploying",
    "Rethinking", "Scaling", "Auditing", "The limits of", "Towards practical",
)
REFERENCE_QUALIFIERS: tuple[str, ...] = (
    "", "", ": a systematic review", ": evidence from production systems", ": an empirical study",
    " at scale", ": what the numbers hide", " in the enterprise", ": a replication",
)
REFERENCE_VENUES: tuple[str, ...] = (
    "arXiv preprint", "Proc. NeurIPS", "Proc. ACL", "Commun. ACM", "OECD report", "Proc. SOSP",
    "Proc. VLDB", "Nature Machine Intelligence", "IEA working paper",
)
