#!/usr/bin/env bash
# Runs once, when the mysql container initialises an empty data directory
# (mounted into /docker-entrypoint-initdb.d by docker-compose.yml).
# Creates one database per ClusterGenie service and the `clustergenie` user,
# with privileges on exactly those databases.
set -euo pipefail

DATABASES=(provisioning diagnosis jobs monitoring scaler gateway)

: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD is not set}"
: "${CLUSTERGENIE_DB_PASSWORD:?CLUSTERGENIE_DB_PASSWORD is not set: run just compose-env first}"
if [[ ! "${CLUSTERGENIE_DB_PASSWORD}" =~ ^[A-Za-z0-9._~-]+$ ]]; then
    echo "01-databases.sh: CLUSTERGENIE_DB_PASSWORD must use only [A-Za-z0-9._~-] (it is embedded in mysql:// URLs)" >&2
    exit 1
fi

sql="CREATE USER IF NOT EXISTS 'clustergenie'@'%' IDENTIFIED BY '${CLUSTERGENIE_DB_PASSWORD}';
ALTER USER 'clustergenie'@'%' IDENTIFIED BY '${CLUSTERGENIE_DB_PASSWORD}';"
for db in "${DATABASES[@]}"; do
    sql+="
CREATE DATABASE IF NOT EXISTS \`${db}\` CHARACTER SET utf8mb4;
GRANT ALL PRIVILEGES ON \`${db}\`.* TO 'clustergenie'@'%';"
done

# The entrypoint's temporary server listens on the socket only; the password
# goes through the environment, not the command line.
MYSQL_PWD="${MYSQL_ROOT_PASSWORD}" mysql --protocol=socket -uroot <<<"${sql}"
echo "01-databases.sh: created ${DATABASES[*]} and user clustergenie"
