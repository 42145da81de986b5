"""Governance metrics: the seed's "Measuring Success" numbers, their targets and flags.

``GovernanceMetrics(period="last_30_days")`` computes them from the audit trail, the decision
log, the exception store and the lineage store; docs/metrics.md defines each one.
"""

from __future__ import annotations

from lacuna import _shadow
from lacuna.metrics.api import METRICS, Filters, GovernanceMetrics, time_series
from lacuna.metrics.feedback import (
    SURVEY_QUESTION,
    DecisionNotFound,
    answer_survey,
    report_feedback,
    survey_due,
)
from lacuna.metrics.insights import Insights, PolicyInsight, insights
from lacuna.metrics.pdf import ReportError, html_to_pdf
from lacuna.metrics.period import Period, parse_period
from lacuna.metrics.report import ComplianceReport, compliance_report
from lacuna.metrics.targets import TARGETS, Flag, Target

# `lacuna.metrics.insights` is the function; `import lacuna.metrics.insights as m`, the module
_shadow(__name__, "insights")

__all__ = [
    "METRICS", "SURVEY_QUESTION", "TARGETS", "ComplianceReport", "DecisionNotFound", "Filters",
    "Flag", "GovernanceMetrics", "Insights", "Period", "PolicyInsight", "ReportError", "Target",
    "answer_survey", "compliance_report", "html_to_pdf", "insights", "parse_period",
    "report_feedback", "survey_due", "time_series",
]
