"""Ingestion team: deterministic Jaffle Shop and marketing sources landed in the Parquet lake."""
