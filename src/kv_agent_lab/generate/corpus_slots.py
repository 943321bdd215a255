"""Slot pools: the names, services, files and numbers that make templates concrete.

The prose corpus (the ``corpus_*`` modules) is plain data.  Prose templates use ``{slot}``
placeholders, filled by :mod:`.slots` from :data:`SLOTS` (or, for ``date``, ``time``,
``num``, ``pct``, ``version``, ``ticket``, ``order``, ``incident``, ``sha``, ``email``,
``key``, from small seeded generators there); ``{topic}``, ``{previous_topic}``, ``{task}``,
``{org}`` and ``{ref}`` are filled by the composing function.  Code, SQL and PromQL
templates use ``<<slot>>`` instead, so their braces stay literal.
"""

from __future__ import annotations

SLOTS: dict[str, tuple[str, ...]] = {
    "project": (
        "atlas-billing", "orion-search", "helix-mobile", "nimbus-gateway", "quartz-ledger",
        "vega-analytics", "lumen-docs", "ember-checkout", "polaris-identity", "cobalt-scheduler",
        "tern-notifications", "sable-warehouse",
    ),
    "service": (
        "checkout-api", "auth-service", "payments-worker", "search-indexer",
        "notification-dispatcher", "inventory-api", "ledger-writer", "session-store",
        "image-resizer", "feature-flags", "rate-limiter", "export-service",
    ),
    "file": (
        "src/billing/invoice.py", "app/routes/checkout.ts", "internal/cache/lru.go",
        "src/auth/session.rs", "services/export/worker.py", "web/components/CartSummary.tsx",
        "pkg/ratelimit/bucket.go", "src/search/ranking.py", "config/settings.yaml",
        "migrations/0042_add_tax_region.sql",
    ),
    "func": (
        "compute_invoice_totals", "refreshAccessToken", "evictExpired", "apply_discount_rules",
        "parse_webhook_payload", "buildSearchQuery", "reconcile_ledger", "schedule_retry",
        "normalize_address", "render_export_csv",
    ),
    "test": (
        "test_checkout_applies_coupon", "test_refresh_token_rotation", "TestEvictUnderPressure",
        "test_invoice_rounding_eur", "test_webhook_signature_mismatch", "test_export_large_account",
        "test_concurrent_ledger_writes",
    ),
    "lib": (
        "SQLAlchemy 2.0", "React Query", "pydantic v2", "gRPC", "Celery", "Redis", "Kafka",
        "Next.js", "FastAPI", "Terraform", "Kubernetes", "OpenTelemetry",
    ),
    "table": (
        "mart.daily_active_users", "billing.invoices", "events.page_views", "mart.subscriptions",
        "events.checkout_funnel", "support.tickets", "mart.revenue_by_region",
        "events.search_queries",
    ),
    "metric": (
        "weekly active users", "checkout conversion", "trial-to-paid conversion",
        "net revenue retention", "p95 search latency", "average order value", "first-response time",
        "monthly churn",
    ),
    "customer": (
        "Northwind Traders", "Fabrikam Logistics", "Contoso Health", "Tailspin Toys",
        "Wide World Importers", "Adventure Works Cycles", "Litware Labs", "Proseware Media",
    ),
    "product": (
        "the mobile app", "the web dashboard", "the public API", "the Pro plan", "team workspaces",
        "the billing portal", "the CSV export", "single sign-on",
    ),
    "plan": ("Starter", "Team", "Business", "Enterprise"),
    "team": (
        "payments-platform", "identity", "search-relevance", "growth-analytics", "core-infra",
        "mobile", "data-platform", "support-operations",
    ),
    "person": (
        "Priya", "Marcus", "Elena", "Kenji", "Aisha", "Tomás", "Grace", "Olu", "Sven", "Mei",
    ),
    "region": ("eu-west-1", "us-east-1", "ap-southeast-2", "us-west-2", "eu-central-1"),
    "error": (
        "connection pool exhausted", "context deadline exceeded", "429 Too Many Requests",
        "deadlock detected", "OOMKilled", "certificate has expired", "unexpected EOF",
        "duplicate key value violates unique constraint",
    ),
    "research_area": (
        "retrieval-augmented generation", "KV-cache compression", "speculative decoding",
        "vector database benchmarks", "carbon accounting for data centres",
        "small-language-model fine-tuning", "prompt-injection defences",
        "on-device speech recognition",
    ),
    "vendor": (
        "Pinecone", "Weaviate", "Snowflake", "Databricks", "Datadog", "Grafana Cloud", "Zendesk",
        "Intercom",
    ),
}

# The domains of made-up customer e-mail addresses ({email}).
CUSTOMER_DOMAINS: tuple[str, ...] = (
    "northwind.example", "fabrikam.example", "contoso.example", "tailspin.example",
    "litware.example",
)
