"""ML team: per-store revenue forecasts from the warehouse marts."""
