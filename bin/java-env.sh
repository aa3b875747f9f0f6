# Sourced by bin/tandem and bin/test: finds a JDK 25 or newer and exports JAVA_HOME.
tandem_java_major() { "$1/bin/java" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'; }
if [ -z "${JAVA_HOME:-}" ] || [ "$(tandem_java_major "$JAVA_HOME" 2>/dev/null)" -lt 25 ] 2>/dev/null; then
    for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/*; do
        if [ -x "$candidate/bin/java" ] && [ "$(tandem_java_major "$candidate")" -ge 25 ] 2>/dev/null; then
            export JAVA_HOME=$candidate
            break
        fi
    done
fi
if [ -z "${JAVA_HOME:-}" ] || ! [ "$(tandem_java_major "$JAVA_HOME")" -ge 25 ] 2>/dev/null; then
    echo "tandem: needs a JDK 25 or newer; set JAVA_HOME to one" >&2
    exit 2
fi
