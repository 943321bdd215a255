"""Task kinds (titles, goals, background, constraints, acceptance criteria), and the prose of
the planner's assignment and aggregation messages."""

from __future__ import annotations

from .corpus_records import TaskKind

TASK_KINDS: tuple[TaskKind, ...] = (
    TaskKind(
        name="engineering",
        titles=(
            "Migrate {service} from Redis sessions to signed tokens",
            "Add per-tenant rate limiting to {service}",
            "Remove the legacy invoice path from {project}",
            "Make {service} deploy safely across {region} and a second region",
        ),
        goals=(
            "Ship the change to production behind a flag with no customer-visible downtime.",
            "Reduce the p99 latency of the affected endpoint to under 250 ms at current peak load.",
            "Remove the old code path entirely once traffic has moved.",
        ),
        background=(
            "The current implementation dates from 2019 and has no owner since the {team} team "
                "was reorganised.",
            "Two incidents in the last quarter were traced to this component, including one that "
                "caused {num} failed payments.",
            "Other teams call this service through a shared client library, so interface changes "
                "ripple outward.",
            "Load on {service} has grown about {pct}% since last year and the current design does "
                "not scale horizontally.",
            "An earlier attempt stalled because the migration could not be rolled back safely.",
        ),
        constraints=(
            "No downtime: the rollout must be reversible at every step.",
            "Keep the public API backwards compatible for at least one release.",
            "Use only dependencies already approved in the platform catalogue.",
            "Changes must pass the existing integration suite in CI.",
            "The work must fit in two sprints of one engineer's time.",
        ),
        criteria=(
            "All existing tests pass and new behaviour is covered by unit and integration tests.",
            "A rollback has been rehearsed in staging and documented in the runbook.",
            "Dashboards show error rate and latency for the new path.",
            "The owning team has reviewed and approved the design.",
            "No increase in 5xx rate during a one-week canary.",
        ),
    ),
    TaskKind(
        name="analysis",
        titles=(
            "Explain the drop in {metric} since {date}",
            "Size the opportunity of an annual plan for {plan} customers",
            "Measure the effect of the new onboarding flow on {metric}",
            "Build a churn early-warning signal for {plan} accounts",
        ),
        goals=(
            "Produce an explanation of the change that the leadership team can act on.",
            "Give a defensible estimate with a range and the assumptions behind it.",
            "Recommend whether to keep, change or roll back the feature.",
        ),
        background=(
            "The change first appeared in the weekly business review and nobody has a convincing "
                "explanation yet.",
            "Finance and product use different definitions of {metric}, which has caused "
                "confusion before.",
            "Tracking was changed on {date}, so some comparisons across that date are unreliable.",
            "A marketing campaign and a pricing change happened within the same month.",
            "The last analysis on this topic was done by {person}, who has since left the company.",
        ),
        constraints=(
            "Use the warehouse only; no new tracking can be added for this analysis.",
            "Respect the privacy threshold: no segment smaller than 20 users.",
            "Results are due before the quarterly planning meeting.",
            "Document every query so the analysis can be rerun next quarter.",
            "Do not contact customers for this work.",
        ),
        criteria=(
            "The main driver is identified and quantified, with a confidence statement.",
            "Numbers reconcile with the finance figures within 2%, or the difference is explained.",
            "All queries are saved and reproducible.",
            "A one-page summary is written for non-analysts.",
            "Open questions and recommended next steps are listed.",
        ),
    ),
    TaskKind(
        name="research",
        titles=(
            "Evaluate vendors for {research_area}",
            "Write a briefing on {research_area} for the strategy offsite",
            "Assess whether to adopt {vendor} for {project}",
            "Survey best practices for {research_area}",
        ),
        goals=(
            "Produce a recommendation the decision-makers can accept or reject in one meeting.",
            "Summarise the state of evidence with clear confidence levels.",
            "Identify the three most important risks and how to mitigate them.",
        ),
        background=(
            "The leadership team has heard conflicting claims from vendors and consultants.",
            "We evaluated this space in {date} and decided to wait; the market has changed since.",
            "Several teams have started small experiments independently, without shared criteria.",
            "Budget for next year depends on this decision.",
            "Legal has asked for an overview of regulatory exposure before any procurement.",
        ),
        constraints=(
            "Cite primary sources for every key claim.",
            "Keep the main document to five pages; put details in appendices.",
            "Include at least one open-source alternative in any comparison.",
            "Do not contact vendors during this phase.",
            "Flag any source with a commercial interest in the outcome.",
        ),
        criteria=(
            "A ranked comparison with explicit criteria and weights.",
            "Every key claim has a citation to a primary source.",
            "Risks are listed with likelihood, impact and mitigation.",
            "The recommendation is stated in one paragraph at the top.",
            "Reviewed by one subject-matter expert before delivery.",
        ),
    ),
    TaskKind(
        name="operations",
        titles=(
            "Reduce alert noise for {service}",
            "Write the post-incident review for incident {incident}",
            "Prepare {service} for the peak-season traffic",
            "Cut the cloud cost of {project} by a fifth",
        ),
        goals=(
            "Make the system measurably more reliable without slowing down delivery.",
            "Produce an action plan with owners and dates that the team agrees to.",
            "Reach the target with no loss of availability.",
        ),
        background=(
            "The on-call rotation received {num} pages last month, most of them not actionable.",
            "Traffic is expected to reach three times the normal peak during the sales event.",
            "The incident lasted 47 minutes and affected card payments in {region}.",
            "Spending on this project has grown faster than its traffic for three quarters.",
            "Runbooks for this service were last updated more than a year ago.",
        ),
        constraints=(
            "No reduction in alert coverage for customer-facing symptoms.",
            "Changes to production must go through the normal change process.",
            "The post-incident review must be blameless.",
            "Capacity changes must be tested in staging with production-like traffic.",
            "Keep at least 30% headroom at projected peak.",
        ),
        criteria=(
            "Pages per week reduced by half with no missed incidents.",
            "Every action item has an owner and a due date.",
            "A load test at projected peak passes in staging.",
            "Runbooks are updated and reviewed.",
            "Cost reduction is verified on the next monthly bill.",
        ),
    ),
)

ASSIGNMENT_LOGISTICS: tuple[str, ...] = (
    "Budget: at most {num} tool calls; stop and report if you need more.",
    "Report back within this turn; the other sub-agents are working in parallel.",
    "Your report will be merged with the others, so use the output format from your role "
        "instructions exactly.",
    "If you depend on another sub-agent's result, state the assumption you made instead of "
        "waiting.",
    "Flag anything that would change the overall plan at the top of your report.",
    "Use the repository snapshot at commit {sha}; do not pull newer changes.",
    "Treat the acceptance criteria of the parent task as binding for your part.",
    "Name every file, table or document you relied on.",
)

AGGREGATION_OPENERS: tuple[str, ...] = (
    "All sub-agents have reported. Their reports are above, one per role.",
    "The sub-agent reports for this task are complete and included above.",
    "You now have every report you dispatched; none are outstanding.",
)
AGGREGATION_INSTRUCTIONS: tuple[str, ...] = (
    "Check each report against the definition of done in its assignment before relying on it.",
    "Where two reports disagree, say so, explain which one you trust and why.",
    "Do not introduce new facts that none of the reports support.",
    "Carry forward every blocking finding; do not soften it in the summary.",
    "Attribute each key claim in the final answer to the report it came from.",
    "If a required part is missing, list it under open risks rather than filling the gap yourself.",
    "Keep the final answer self-contained: the human has not read the sub-agent reports.",
    "Prefer the most recent and most specific evidence when reports overlap.",
    "Quote numbers exactly as the reports give them, with units and time windows.",
    "End with the concrete next steps and who should own each one.",
)
AGGREGATION_ROLE_NOTES: dict[str, str] = {
    "planner": "Compare the plan as executed with the plan as written and explain any deviation.",
    "researcher": (
        "From the researcher, use the findings that have sources; treat unsourced points as "
        "hypotheses."
    ),
    "coder": (
        "From the coder, include the diff summary and the verification results, not the full diff."
    ),
    "reviewer": (
        "From the reviewer, list every blocking finding and whether the coder addressed it."
    ),
    "tester": (
        "From the tester, report defects with their reproduction status and the main coverage gaps."
    ),
    "writer": (
        "From the writer, take the finished document as the basis of the deliverable and check it "
        "against the other reports."
    ),
    "data_analyst": (
        "From the data analyst, keep the metric definitions next to every number you reuse."
    ),
}
AGGREGATION_SECTIONS: tuple[str, ...] = (
    "Summary (at most five sentences)", "Deliverables", "Evidence and verification",
    "Open risks and disagreements", "Next steps with owners",
)
