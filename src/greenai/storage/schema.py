"""The run store's tables (SQLAlchemy Core). Times are Unix epoch seconds, energies J or kWh as named."""

from __future__ import annotations

import sqlalchemy as sa

# Bump when a table changes; a store written by a newer greenai is refused, not misread.
SCHEMA_VERSION = 1

metadata = sa.MetaData()

store_meta = sa.Table(
    "greenai_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("variant", sa.String(64)),
    sa.Column("model", sa.String(64)),
    sa.Column("dataset", sa.String(64)),
    sa.Column("device", sa.String(32)),
    sa.Column("group_name", sa.String(200), index=True),  # a study or search name
    sa.Column(
        "parent_run_id", sa.String(64), index=True
    ),  # not a foreign key: parents may live elsewhere
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("duration_s", sa.Float),
    sa.Column("accuracy", sa.Float),  # test accuracy in percent
    sa.Column("energy_kwh", sa.Float),  # this run's own energy (PUE included)
    sa.Column("co2_kg", sa.Float),
    sa.Column("config", sa.Text, nullable=False),  # JSON
    sa.Column("result", sa.Text),  # JSON: the result file's dict
    sa.Column("measurement", sa.Text),  # JSON: the meter's final Measurement
    sa.Column("error", sa.Text),
)

phases = sa.Table(
    "phases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("start_time", sa.Float, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("energy_j", sa.Text, nullable=False),  # JSON: per component, before PUE
    sa.Column("energy_kwh", sa.Float, nullable=False),  # sum of energy_j, before PUE
    sa.Column("co2_kg", sa.Float, nullable=False),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("timestamp", sa.Float, nullable=False),
    sa.Column("elapsed_s", sa.Float, nullable=False),
    sa.Column("phase", sa.String(500)),
    sa.Column("power_w", sa.Text, nullable=False),  # JSON: mean power per component
    sa.Column("energy_j", sa.Text, nullable=False),  # JSON: cumulative energy per component
    sa.Column("co2_kg", sa.Float, nullable=False),
)

epochs = sa.Table(
    "epochs",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON
    sa.Column("recorded_at", sa.Float, nullable=False),
)
