#!/usr/bin/env bash
# Private PostgreSQL and MariaDB servers that require TLS, for tests/tls.rs (the shared
# servers on 5432/3306 are left alone). Idempotent and quick: certificates are made once,
# a server already answering is left running. Needs root (PostgreSQL runs as `postgres`).
#
#   KESTREL_TLS_DIR   where everything lives (default /tmp/kestrel-tls)
#   PostgreSQL        127.0.0.1:54329, hostssl only (plain text is rejected)
#   MariaDB           127.0.0.1:33069, require_secure_transport, root's password s3cr3t
#                     over TCP
#
# Certificates: ca.pem signs server.pem (for the host name `localhost` only, so a
# connection to 127.0.0.1 with verify-full fails on the name); other-ca.pem signs nothing
# the servers hold. Prints nothing on success.
set -euo pipefail
DIR="${KESTREL_TLS_DIR:-/tmp/kestrel-tls}"
PG_PORT=54329
MY_PORT=33069
mkdir -p "$DIR"
cd "$DIR"

if [ ! -s server.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kestrel test CA" \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=another CA" \
    -keyout other-ca.key -out other-ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile server.ext -out server.pem 2>/dev/null
fi

# PostgreSQL
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -n "$PG_BIN" ] && ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
  mkdir -p pg-certs
  cp server.pem server.key pg-certs/
  chown -R postgres:postgres pg-certs
  chmod 600 pg-certs/server.key
  if [ ! -s pg/PG_VERSION ]; then
    rm -rf pg
    install -d -o postgres -g postgres pg
    runuser -u postgres -- "$PG_BIN/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
    cat >>pg/postgresql.conf <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR/pg-certs'
ssl = on
ssl_cert_file = '$DIR/pg-certs/server.pem'
ssl_key_file = '$DIR/pg-certs/server.key'
EOF
    printf 'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\nlocal all all trust\n' >pg/pg_hba.conf
    chown postgres:postgres pg/postgresql.conf pg/pg_hba.conf
  fi
  chmod 755 "$DIR"
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg/server.log" -w -t 30 start >/dev/null
fi

# MariaDB
if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then
  if ! mysqladmin --socket="$DIR/my.sock" -u root ping >/dev/null 2>&1; then
    if [ ! -d my/mysql ]; then
      rm -rf my
      mariadb-install-db --no-defaults --datadir="$DIR/my" --user=root --auth-root-authentication-method=normal >/dev/null 2>&1
    fi
    start-stop-daemon --start --background --make-pidfile --pidfile "$DIR/my.pid" \
      --exec /usr/sbin/mariadbd -- --no-defaults --datadir="$DIR/my" --user=root \
      --port="$MY_PORT" --bind-address=127.0.0.1 --socket="$DIR/my.sock" \
      --pid-file="$DIR/my.server.pid" --log-error="$DIR/my.log" \
      --ssl-ca="$DIR/ca.pem" --ssl-cert="$DIR/server.pem" --ssl-key="$DIR/server.key" \
      --require-secure-transport=ON --skip-name-resolve
    for _ in $(seq 1 60); do
      mysqladmin --socket="$DIR/my.sock" -u root ping >/dev/null 2>&1 && break
      sleep 0.5
    done
    # Over the socket (root@localhost); TCP logins need the password the tests use.
    mysql --socket="$DIR/my.sock" -u root -e \
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY 's3cr3t'; GRANT ALL ON *.* TO 'root'@'127.0.0.1'; CREATE DATABASE IF NOT EXISTS test"
  fi
fi
