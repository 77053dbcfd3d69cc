#!/bin/sh
# First start: initialise $PGDATA with POSTGRES_USER (superuser, password auth from any address),
# create POSTGRES_DB and run /docker-entrypoint-initdb.d/*.sh and *.sql against a server on the local
# socket only (the official image's contract); every start: run the server on all addresses.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the stack's .env or environment)}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != "postgres" ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  if [ -d /docker-entrypoint-initdb.d ] && [ -n "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null)" ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    for script in /docker-entrypoint-initdb.d/*; do
      case "$script" in
        *.sh) echo "running $script"; POSTGRES_USER=$user POSTGRES_DB=$db . "$script" ;;
        *.sql) echo "running $script"; psql -v ON_ERROR_STOP=1 -U "$user" -d "$db" -f "$script" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  echo "initialised $PGDATA with user $user and database $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
