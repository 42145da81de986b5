from __future__ import annotations

import json
from dataclasses import replace

import lacuna
from lacuna.feedback import render_html, render_json, render_rich, render_text
from lacuna.model import (
    Action,
    Alternative,
    Classification,
    Decision,
    Destination,
    DestinationType,
    Operation,
    Scope,
    Tier,
    User,
)

OP = Operation(
    action=Action.EXPORT,
    user=User(id="analyst_alice", role="data_analyst"),
    classification=Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR")),
    destination=Destination(
        uri="~/Downloads/customers.csv",
        type=DestinationType.FILE,
        scope=Scope.EXTERNAL,
        managed=False,
    ),
)
DENIED = Decision(
    allowed=False,
    operation_id=OP.id,
    reasoning="Cannot export PROPRIETARY data to unmanaged location",
    policy_id="P-2024-001",
    policy_title="PII Export Restrictions",
    why=("Contains customer PII (email, phone)", "Destination is not encrypted or monitored"),
    alternatives=(
        Alternative(
            title="Anonymize first:",
            code="anon_df = lacuna.anonymize(df, columns=['email', 'phone'])\n"
            'anon_df.to_csv("~/Downloads/customers_anon.csv")',
        ),
        Alternative(
            title="Use governed location:",
            code='df.to_csv("/governed/workspace/customers.csv")',
            note="Automatically encrypted, access logged, retention enforced",
        ),
    ),
    steward="data-governance@example.com",
    docs_url="https://governance.example.com/policies/P-2024-001",
    operation=OP,
)


def test_text_follows_the_seed_layout():
    assert render_text(DENIED) == "\n".join(
        [
            "❌ Governance Policy Violation",
            "Action: Export to ~/Downloads/customers.csv",
            "Reason: Cannot export PROPRIETARY data to unmanaged location",
            "Classification: PROPRIETARY",
            "Tags: PII, GDPR",
            "Why this matters:",
            "- Contains customer PII (email, phone)",
            "- Destination is not encrypted or monitored",
            "How to proceed:",
            "1. Anonymize first:",
            "   anon_df = lacuna.anonymize(df, columns=['email', 'phone'])",
            '   anon_df.to_csv("~/Downloads/customers_anon.csv")',
            "2. Use governed location:",
            '   df.to_csv("/governed/workspace/customers.csv")',
            "   # Automatically encrypted, access logged, retention enforced",
            "Policy: P-2024-001 (PII Export Restrictions)",
            "Steward: data-governance@example.com",
            "Documentation: https://governance.example.com/policies/P-2024-001",
        ]
    )


def test_compliance_and_version_of_the_deciding_policy_are_shown():
    from dataclasses import replace

    from lacuna.model import PolicyRef

    ref = PolicyRef(package="governance.export", id="P-2024-001", version="1.2.0",
                    compliance=("GDPR", "CCPA"), effect="deny")
    text = render_text(replace(DENIED, policies=(ref,)))
    assert "Compliance: GDPR, CCPA; policy version 1.2.0" in text.splitlines()


def test_engine_failure_headline_says_fail_closed():
    from dataclasses import replace

    failed = replace(DENIED, engine_error="RuntimeError: boom", alternatives=(), why=())
    text = render_text(failed)
    assert text.startswith("❌ Governance could not decide: denied (fail closed)")
    assert "Engine error: RuntimeError: boom" in text


def test_html_escapes_and_contains_every_part():
    html = render_html(DENIED)
    assert "Governance Policy Violation" in html
    assert "&quot;/governed/workspace/customers.csv&quot;" in html
    assert "<ol>" in html
    assert html.count("<li>") == 4
    assert "mailto:data-governance@example.com" in html


def test_json_is_machine_readable():
    data = json.loads(render_json(DENIED))
    assert data["allowed"] is False
    assert data["policy_id"] == "P-2024-001"
    assert data["classification"] == "PROPRIETARY"
    assert data["alternatives"][1]["note"].startswith("Automatically encrypted")


def test_rich_renders_to_a_terminal():
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(render_rich(DENIED))
    text = console.export_text()
    assert "Governance Policy Violation" in text
    assert "P-2024-001 (PII Export Restrictions)" in text


def test_violation_carries_the_decision():
    from lacuna.errors import GovernanceViolation

    exc = GovernanceViolation(DENIED)
    assert exc.decision is DENIED
    assert str(exc).startswith(render_text(DENIED) + "\n")
    assert "Governance Policy Violation" in exc._repr_html_()
    assert json.loads(exc.to_json())["allowed"] is False


def test_denials_explain_the_classification_without_values():
    from dataclasses import replace

    from lacuna.model import ColumnClass, ColumnKind, Sensitivity

    columns = {
        "region": ColumnClass(reasoning="coarse geography"),
        "email": ColumnClass(classification=ColumnKind.PII, pii_type="email",
                             sensitivity=Sensitivity.HIGH,
                             reasoning="100% of 60 sampled values are valid e-mail addresses"),
    }
    op = replace(OP, classification=replace(OP.classification, columns=columns))
    lines = render_text(replace(DENIED, operation=op)).splitlines()
    start = lines.index("How Lacuna classified it PROPRIETARY:")
    assert lines[start + 1] == "- email: 100% of 60 sampled values are valid e-mail addresses"
    assert lines[start + 2] == "How to proceed:"


def test_rich_code_lines_copy_as_they_run():
    """No box characters, indentation or wrapping inside code lines, even in a narrow terminal."""
    from rich.console import Console

    console = Console(record=True, width=50)
    console.print(render_rich(DENIED), soft_wrap=True)
    lines = console.export_text().splitlines()
    for alt in DENIED.alternatives:
        for code_line in (alt.code or "").splitlines():
            assert code_line in lines, (code_line, lines)
    box = set("│┃║╭╮╰╯┌┐└┘")
    code_lines = [line for line in lines if "lacuna." in line or ".to_csv(" in line]
    assert code_lines
    assert all(not box & set(line) for line in code_lines)


def test_text_code_lines_have_no_box_characters():
    box = set("│┃║─━═╭╮╰╯┌┐└┘")
    assert not box & set(render_text(DENIED))


def test_a_denial_says_how_to_report_a_false_positive():
    from lacuna.errors import GovernanceViolation

    exc = GovernanceViolation(DENIED)
    tail = str(exc).splitlines()[-2:]
    assert tail == [f"Decision: {DENIED.operation_id}",
                    f'Report a false positive: lacuna feedback {DENIED.operation_id} '
                    '--false-positive "why it was wrong"']
    assert exc.feedback is not None
    assert exc.feedback.console_url is None
    assert DENIED.decision_id == DENIED.operation_id
    html = exc._repr_html_()
    assert f"lacuna feedback {DENIED.operation_id} --false-positive" in html
    assert "/console/feedback/" not in html


def test_with_a_server_the_denial_links_to_the_console_feedback_page(tmp_path):
    from lacuna.errors import GovernanceViolation
    from lacuna.feedback import feedback_link

    allowed = replace(DENIED, allowed=True)
    assert feedback_link(allowed, "http://gov:8080") is None
    lacuna.configure(server={"url": "https://governance.example.com:8443/"},
                     audit={"url": f"sqlite:///{tmp_path / 'a.db'}"})
    exc = GovernanceViolation(replace(DENIED, operation_id="op/1 2"))
    url = "https://governance.example.com:8443/console/feedback/op%2F1%202"
    assert exc.feedback is not None
    assert exc.feedback.console_url == url
    assert str(exc).splitlines()[-1] == f"Report a false positive: {url}"
    # the command would refuse: the decision is on the server's trail, not this host's
    assert "lacuna feedback" not in str(exc)
    assert f"href='{url}'" in exc._repr_html_()
    assert "lacuna feedback" not in exc._repr_html_()


def test_rich_panel_wraps_long_reasons_instead_of_cutting_them():
    """Printed as documented (soft_wrap=True, so code copies as it runs), the panel's lines
    still wrap: every word of a long reason is shown, none cut at the border."""
    from rich.console import Console

    from lacuna.model import ColumnClass, ColumnKind, Sensitivity

    reason = ("Name 'name' reads as a person's name (matches 'name'), and 98% of 60 sampled "
              "values are people's names (known given or family names).")
    columns = {"name": ColumnClass(classification=ColumnKind.PII, pii_type="name",
                                   sensitivity=Sensitivity.HIGH, reasoning=reason)}
    op = replace(OP, classification=replace(OP.classification, columns=columns))
    long_why = "Violates GDPR data minimization principle " * 3
    decision = replace(DENIED, operation=op, why=(*DENIED.why, long_why.strip()))
    console = Console(record=True, width=60)
    console.print(render_rich(decision), soft_wrap=True)
    words = " ".join(line.strip("│ ") for line in console.export_text().splitlines()).split()
    shown = " ".join(words)
    assert f"- name: {reason}" in shown
    assert long_why.strip() in shown
