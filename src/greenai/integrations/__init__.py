"""Bridges to tools outside greenai (MLflow). Each is an optional extra, imported only when used."""
