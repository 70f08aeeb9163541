#!/usr/bin/env bash
# Makes sure the database servers the tests talk to answer, starting any that is down.
set -euo pipefail

wait_for() { # name, check command
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then echo "$name is up"; return 0; fi
    sleep 1
  done
  echo "$name did not come up" >&2
  return 1
}

mariadb_up() { mariadb -h 127.0.0.1 -P 3306 -u root -e 'SELECT 1' test; }
postgres_up() { psql -h 127.0.0.1 -p 5432 -U postgres -d test -c 'SELECT 1'; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

if ! mariadb_up >/dev/null 2>&1; then
  echo "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
wait_for MariaDB mariadb_up

if ! postgres_up >/dev/null 2>&1; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
wait_for PostgreSQL postgres_up

# the redis backend's suites use the shared Redis on 6379 (the restart suite starts a private one)
if ! redis_up >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis redis_up
