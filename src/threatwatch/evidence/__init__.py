"""Evidence for a police report (aangifte): the pack as a record (``pack``) and its printable Dutch
rendering (``html``), kept out of the review logic that decides what may be exported."""

from threatwatch.evidence.pack import MAX_ITEMS, EvidenceItem, EvidencePack, build_evidence_pack
from threatwatch.evidence.person import (
    PERSON_EXPORT,
    PersonEvidenceError,
    PersonEvidencePack,
    PersonEvidencePost,
    build_person_evidence_pack,
)

__all__ = [
    "MAX_ITEMS",
    "PERSON_EXPORT",
    "EvidenceItem",
    "EvidencePack",
    "PersonEvidenceError",
    "PersonEvidencePack",
    "PersonEvidencePost",
    "build_evidence_pack",
    "build_person_evidence_pack",
]
