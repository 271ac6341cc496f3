"""Access policy: the one place that decides what a caller may see (DESIGN.md principle 2).

Every reader (TAXII objects, manifest, object, versions, REST search, stats and counts, and
the exports and federation built on them) asks ``Policy``. Nothing else interprets TLP.
"""

from mburoja.policy.core import (
    ANONYMOUS,
    ORG_RELATIONS,
    RECIPIENTS_PROPERTY,
    ROLES,
    Caller,
    Policy,
    Prefilter,
    Relation,
    needs_inspection,
)

__all__ = [
    "ANONYMOUS",
    "ORG_RELATIONS",
    "RECIPIENTS_PROPERTY",
    "ROLES",
    "Caller",
    "Policy",
    "Prefilter",
    "Relation",
    "needs_inspection",
]
