"""The three tables of a distributed job's per-rank rows (``rank_rows.py``): ``rank_jobs`` (one row
per job; ``totalled_by`` set once), ``rank_shares`` (one row per rank: who, where, its status, its
final figures) and ``rank_samples`` (each rank's samples).

The three tables sit beside the store's own (created on first use, as the store creates its schema);
the store's tables are not changed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from greenai.storage.transactions import retrying, write_connection

metadata = sa.MetaData()
_LOCK = 7_320_515  # PostgreSQL advisory lock for creating these tables (the store's is ...514)

jobs = sa.Table(
    "rank_jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("world_size", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("totalled_by", sa.Integer),  # the rank that formed the job's total (set once)
    sa.Column("totalled_at", sa.Float),
)

shares = sa.Table(
    "rank_shares",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("identity", sa.Text, nullable=False),  # JSON: RankInfo.identity() and pue
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("record", sa.Text),  # JSON: meter.gather.rank_record of its final Measurement
    sa.Column("error", sa.Text),
)

samples = sa.Table(
    "rank_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(64), nullable=False, index=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("elapsed_s", sa.Float, nullable=False),
    sa.Column("energy_j", sa.Text, nullable=False),  # JSON: cumulative per component, before PUE
    sa.Column("co2_kg", sa.Float, nullable=False),
)


def has_tables(store: Any) -> bool:
    """Whether any rank ever recorded in this store (the tables exist)."""
    with store.engine.connect() as conn:
        return set(metadata.tables) <= set(sa.inspect(conn).get_table_names())


def ensure_tables(store: Any) -> None:
    """Create the three tables if missing, once, however many ranks open the store at once."""
    engine = store.engine
    if has_tables(store):
        return

    def create() -> None:
        with write_connection(engine) as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
            metadata.create_all(conn)

    retrying(create)
