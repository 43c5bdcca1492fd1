"""watches.services_announced

The job's service endpoints (JupyterLab, VS Code, TensorBoard) announced so far. It reached `tables.py` before
migrations existed, so a database adopted from the old `create_all` start-up may already have it: added only
when missing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("watches")}
    if "services_announced" not in columns:
        op.add_column("watches", sa.Column("services_announced", sa.Text(), nullable=True))


def downgrade() -> None:
    # batch: SQLite rebuilds the table to drop a column; PostgreSQL drops it in place
    with op.batch_alter_table("watches") as batch_op:
        batch_op.drop_column("services_announced")
