#!/bin/sh
# The Prefect server's own role: it owns its database and nothing else. Not a superuser, it cannot
# create roles or databases; the superuser (POSTGRES_USER) is used only here, at initialisation.
# Runs once, when the data volume is new (the official image and docker/postgres/ both run it).
set -eu
: "${PREFECT_DB_PASSWORD:?PREFECT_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v password="$PREFECT_DB_PASSWORD" <<'SQL'
create role prefect login nosuperuser nocreaterole nocreatedb noreplication password :'password';
create database prefect owner prefect;
revoke all on database prefect from public;
SQL
