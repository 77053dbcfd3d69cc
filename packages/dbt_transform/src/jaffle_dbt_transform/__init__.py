"""dbt team: the Jaffle Shop and attribution dbt projects, built into the DuckDB warehouse."""
