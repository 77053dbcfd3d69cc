"""Dashboards team: a self-contained HTML dashboard of the marts and forecasts."""
