"""Platform team: the coordinator's parent flow and the local platform lifecycle."""
