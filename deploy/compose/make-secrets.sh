#!/usr/bin/env bash
# Create the secret files deploy/compose.yaml reads, in deploy/compose/secrets/ (or DIR):
# random passwords, the server's settings file with the database URL, and a private CA with
# the gateway's certificate for NAME (default: localhost; name every host name clients will
# use, comma-separated). Existing files are kept, so re-running it rotates nothing; delete a
# file to make it anew. Bring your own certificate by writing gateway.crt and gateway.key
# yourself (and ca.crt, the CA clients should trust).
#
#   deploy/compose/make-secrets.sh [--names localhost,memory.example.com] [DIR]
#
# The files are readable by the containers' users (uid 10001 for mem0-stack, 999 for
# PostgreSQL, 7474 for Neo4j, 472 for Grafana): group-readable by gid 10001 is not enough for
# all of them, so they are 0644 inside a 0700 directory only root and its owner can enter.
set -euo pipefail
names=localhost
if [ "${1:-}" = --names ]; then
  names=$2
  shift 2
fi
dir=${1:-$(dirname "$0")/secrets}
mkdir -p "$dir"
chmod 0755 "$dir"
umask 022

password() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
new() { [ ! -s "$dir/$1" ]; }

new postgres-password && password >"$dir/postgres-password"
new neo4j-password && password >"$dir/neo4j-password"
new neo4j-auth && echo "neo4j/$(cat "$dir/neo4j-password")" >"$dir/neo4j-auth"
new grafana-admin-password && password >"$dir/grafana-admin-password"
if new server.toml; then
  cat >"$dir/server.toml" <<TOML
# mem0-stack server settings that are secrets (docs/configuration.md names every key).
database_url = "postgresql://mem0:$(cat "$dir/postgres-password")@postgres:5432/mem0"
neo4j_password = "$(cat "$dir/neo4j-password")"
# llm_api_key = "sk-..."
TOML
fi

if new ca.crt || new gateway.crt || new gateway.key; then
  sans=$(echo "$names" | tr ',' '\n' | sed 's/^/DNS:/' | paste -sd, -)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=mem0-stack compose CA" -keyout "$work/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=${names%%,*}" -keyout "$dir/gateway.key" -out "$work/gateway.csr" 2>/dev/null
  printf 'subjectAltName=%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$sans" >"$work/ext"
  openssl x509 -req -in "$work/gateway.csr" -CA "$dir/ca.crt" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$work/ext" -out "$dir/gateway.crt" 2>/dev/null
fi
chmod 0644 "$dir"/*
chmod 0700 "$dir"
echo "secrets in $dir; clients trust $dir/ca.crt" >&2
