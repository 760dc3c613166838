"""Files an agent uploads for a reply: an upload id names one stored file for the
agent who uploaded it, for as long as a web chat upload lives.

The id is signed (not the bare content hash), so an agent can attach only what they
uploaded themselves, never a stored file of a thread they may not see.
"""

from __future__ import annotations

import json
import time

from router.core.messages import AttachmentRef
from router.core.security import PayloadSigner, b64_bytes, b64_text

PURPOSE = "agent-upload"


class UploadIds:
    """Makes and opens agents' upload ids."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._signer = PayloadSigner(secret, PURPOSE)
        self._ttl = ttl_seconds

    def make(self, agent_id: int, ref: AttachmentRef, *, now: float | None = None) -> str:
        payload = {
            "a": agent_id,
            "h": ref.sha256,
            "t": ref.content_type,
            "n": ref.filename,
            "s": ref.size,
            "e": int((now or time.time()) + self._ttl),
        }
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return self._signer.sign(b64_text(raw.encode("utf-8")))

    def open(
        self, agent_id: int, upload_id: str, *, now: float | None = None
    ) -> AttachmentRef | None:
        """The file of `upload_id`, or None: forged, expired or another agent's."""
        payload = self._signer.unsign(upload_id)
        if payload is None:
            return None
        try:
            data = json.loads(b64_bytes(payload).decode("utf-8"))
            ref = AttachmentRef(
                sha256=str(data["h"]),
                filename=str(data["n"]),
                content_type=str(data["t"]),
                size=int(data["s"]),
            )
            owner, expires = int(data["a"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if owner != agent_id or expires < (now or time.time()):
            return None
        return ref
