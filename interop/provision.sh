#!/usr/bin/env bash
# Fill the Apache Kafka jar cache used by the test suite (tests/infra/apache_kafka.py).
#
#   interop/provision.sh            # resolve + copy jars, skip when already cached
#   interop/provision.sh --force    # re-resolve even when the cache is complete
#
# Cache layout: ${KAFKAKIT_CACHE:-$HOME/.cache/kafkakit}/kafka-<version>/libs/*.jar
# The Kafka version comes from interop/pom.xml (<kafka.version>); KAFKAKIT_KAFKA_VERSION
# overrides it (the Python side honours the same variable).
# Needs java + mvn on PATH and network access to Maven Central (or a mirror in ~/.m2/settings.xml).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"

force=0
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

pom_version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
version="${KAFKAKIT_KAFKA_VERSION:-$pom_version}"
if [ -z "$version" ]; then
  echo "provision.sh: cannot read <kafka.version> from $pom" >&2
  exit 1
fi

cache="${KAFKAKIT_CACHE:-$HOME/.cache/kafkakit}"
dest="$cache/kafka-$version"
libs="$dest/libs"
stamp="$dest/.provisioned"

if [ "$force" = 0 ] && [ -f "$stamp" ] && compgen -G "$libs/kafka_2.13-$version.jar" >/dev/null \
   && compgen -G "$libs/kafka-tools-$version.jar" >/dev/null; then
  echo "provision.sh: Kafka $version already provisioned in $libs"
  exit 0
fi

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "provision.sh: '$tool' not found on PATH (need Java 17+ and Maven)" >&2
    exit 1
  fi
done

mkdir -p "$dest"
# Copy into a scratch dir first and swap it in, so an interrupted run never leaves a
# half-filled libs/ that a later run (or the tests) would mistake for a complete one.
tmp="$(mktemp -d "$dest/.libs.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "provision.sh: resolving Apache Kafka $version jars with Maven ..."
start=$SECONDS
mvn -B -ntp -q -Dstyle.color=never -f "$pom" \
  -Dkafka.version="$version" \
  -Dkafkakit.libs="$tmp" \
  -Dmaven.wagon.http.retryHandler.count=3 \
  dependency:copy-dependencies

if ! compgen -G "$tmp/kafka_2.13-$version.jar" >/dev/null; then
  echo "provision.sh: Maven finished but kafka_2.13-$version.jar is missing from $tmp" >&2
  exit 1
fi

rm -rf "$libs"
mv "$tmp" "$libs"
trap - EXIT
printf 'kafka.version=%s\nprovisioned=%s\n' "$version" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$stamp"
echo "provision.sh: $(ls "$libs" | wc -l) jars in $libs ($((SECONDS - start))s)"
