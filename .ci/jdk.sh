# Sourced by .ci/run and bench/run.sh: exports JAVA_HOME pointing at a JDK 25+ (JAVA_HOME if
# it is one, else the first under /usr/lib/jvm), or fails with a clear message.
java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java.specification.version = //p' | head -n1
}

is_jdk25() {
  [ -n "${1:-}" ] && [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 1
  local v
  v=$(java_major "$1")
  [ -n "$v" ] && [ "${v%%.*}" -ge 25 ]
}

pick_jdk() {
  if is_jdk25 "${JAVA_HOME:-}"; then echo "$JAVA_HOME"; return 0; fi
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    if is_jdk25 "$d"; then echo "$d"; return 0; fi
  done
  return 1
}

if ! JAVA_HOME=$(pick_jdk); then
  echo "fusedloss needs JDK 25+; set JAVA_HOME" >&2
  return 1 2>/dev/null || exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
