"""Pre-applications: a resident's details and planned documents, kept until a clerk claims them.

Everything the resident wrote is inside one AES-256-GCM ciphertext under the row's own data key
(wrapped by the key ring's key-encryption key), with the row id and purpose as associated data.
The clear columns are the random id, the code (random, it says nothing about the person), the
policy id, the key id and the creation time that decides when an unclaimed row is deleted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idsys.db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class PreApplication(Base):
    __tablename__ = "pre_applications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Same alphabet and check character as application references, in a table of its own.
    code: Mapped[str] = mapped_column(String(10), unique=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    payload_ct: Mapped[bytes] = mapped_column(LargeBinary)
