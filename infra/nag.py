"""cdk-nag (AwsSolutions) wiring and the one way this app acknowledges a finding."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

_MIN_REASON = 40


def add_checks(app: App) -> None:
    """Run the AwsSolutions pack on every synth; an unacknowledged finding fails it."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding (``AwsSolutions-X`` or ``AwsSolutions-X[finding]``) on a subtree.

    Raises:
        ValueError: the reason is too short to explain anything.
    """
    if len(reason.strip()) < _MIN_REASON:
        raise ValueError(f"acknowledging {rule} needs a specific reason, got {reason!r}")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))
