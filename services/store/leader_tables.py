"""The leader's fencing table (on the store's one MetaData): one row per election, its current epoch.

`services.leader` writes it: a process that wins the election adds 1 to `epoch` right after taking the lock,
and every sweep transaction of the leader checks that the epoch is still its own before it commits, so a
leader that lost the lock without noticing yet can no longer change anything.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from services.store.tables import UtcDateTime, metadata

leader_epochs = Table(
    "leader_epochs",
    metadata,
    Column("name", String(128), primary_key=True),  # the election's name, e.g. "aml-bot scheduler"
    Column("epoch", BigInteger, nullable=False),  # +1 at every change of leader: the fencing token
    Column("holder", String(255), nullable=False),  # host:pid:id of the process that holds it
    Column("since", UtcDateTime(), nullable=False),  # when the holder won it
    Column("heartbeat_at", UtcDateTime(), nullable=False),  # the holder's last heartbeat (for people, not logic)
)
