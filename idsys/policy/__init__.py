"""Jurisdiction policies and the pure document-rules engine.

A policy (a TOML file, chosen by IDSYS_POLICY) says which documents a city accepts and what an
application must show; `evaluate` turns the documents a clerk recorded into a decision with a
reason for every rule. Nothing here touches Flask, the database or the network.
"""

from idsys.policy.loader import (
    FALLBACK_LANGUAGE,
    SUPPORTED_LANGUAGES,
    AgeRules,
    CardRules,
    Category,
    DocumentType,
    LocalizedText,
    Pickup,
    Policy,
    PolicyError,
    Requirements,
    ResidenceEvidence,
    ValidityBand,
    load_policy,
    parse_policy,
    shipped_policy_names,
)
from idsys.policy.rules import (
    ApplicantFacts,
    Decision,
    PresentedDocument,
    Reason,
    Severity,
    age_on,
    can_renew,
    card_expiry,
    evaluate,
    local_date,
    renewal_window,
    retention_until,
)

__all__ = [
    "FALLBACK_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "AgeRules",
    "ApplicantFacts",
    "CardRules",
    "Category",
    "Decision",
    "DocumentType",
    "LocalizedText",
    "Pickup",
    "Policy",
    "PolicyError",
    "PresentedDocument",
    "Reason",
    "Requirements",
    "ResidenceEvidence",
    "Severity",
    "ValidityBand",
    "age_on",
    "can_renew",
    "card_expiry",
    "evaluate",
    "load_policy",
    "local_date",
    "parse_policy",
    "renewal_window",
    "retention_until",
    "shipped_policy_names",
]
