"""Audit trail: append-only, hash-chained events (PRODUCT.md §9). `audit.Target` names a subject."""

from audit.targets import Target

__all__ = ["Target"]
