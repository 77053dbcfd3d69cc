"""The platform's operations: the CLI that starts servers, workers and images (an app: never imported)."""
