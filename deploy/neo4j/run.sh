#!/usr/bin/env bash
# Run the development Neo4j (embedded Neo4j 5.26 Community with Bolt on loopback), building
# the launcher first when it is missing or older than its sources. Stops on SIGTERM/SIGINT.
#
#   deploy/neo4j/run.sh --data DIR [--port 7687] [--host 127.0.0.1] [--password SECRET]
#                       [--pagecache-mb 64] [--stop-on-eof]
#   deploy/neo4j/run.sh --build-only
#
# NEO4J_JAVA_OPTS replaces the default JVM options (heap size, GC).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jar="$here/target/neo4j-launcher.jar"
MVN=${MVN:-mvn}

if [ ! -f "$jar" ] || [ "$here/pom.xml" -nt "$jar" ] \
  || [ -n "$(find "$here/src" -newer "$jar" -print -quit)" ]; then
  echo "building the Neo4j launcher (Maven, pinned in deploy/neo4j/pom.xml)" >&2
  (cd "$here" && "$MVN" -q -B package -DskipTests)
  touch "$jar"
fi
[ "${1:-}" = "--build-only" ] && exit 0

# Neo4j's own launcher opens these packages (page cache and Netty use them); without them it
# falls back to slower code paths.
exec java ${NEO4J_JAVA_OPTS:--Xms256m -Xmx1g -XX:+UseSerialGC} \
  --add-opens=java.base/java.nio=ALL-UNNAMED \
  --add-opens=java.base/java.io=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
  -Dio.netty.tryReflectionSetAccessible=true \
  -jar "$jar" "$@"
