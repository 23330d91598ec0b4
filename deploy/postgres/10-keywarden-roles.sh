#!/bin/sh
# First start of the compose PostgreSQL (docker-entrypoint-initdb.d): the schema owner that runs
# migrations, and the app role web, workers and beat connect as. `manage.py grant_app_role`
# (run by the migrate service, as the owner, after every migrate) gives the app role its table
# rights: only SELECT, INSERT on the audit tables. Neither role is a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" \
  -v owner_password="$KEYWARDEN_OWNER_PASSWORD" \
  -v app_password="$KEYWARDEN_APP_PASSWORD" <<'SQL'
CREATE ROLE keywarden_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE keywarden_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO keywarden_owner;
ALTER SCHEMA public OWNER TO keywarden_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO keywarden_app;
GRANT USAGE ON SCHEMA public TO keywarden_app;
SQL
