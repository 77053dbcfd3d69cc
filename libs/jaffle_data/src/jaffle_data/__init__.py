"""The platform's data plane: storage, coverage, lineage."""
