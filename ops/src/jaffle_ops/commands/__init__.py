"""One module per command group: lifecycle (up, down, status, demo), runs (run, resume, backfill),
build (deploy, images, affected). Each command takes the platform and its parsed arguments."""
