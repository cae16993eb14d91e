"""Errors every stage shares, in the lowest module, so no stage needs to know another's backend."""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend a stage reads or writes (the transport, the index, a store) is unreachable or refused
    an operation for now: the caller keeps its items and tries again later."""
