# Sourced by bin/tandem, bin/test and bin/setup: finds a JDK 25 or newer and exports JAVA_HOME;
# without one, says how to get one and exits 2.
# TANDEM_JVM_DIR: the folder installed JDKs are looked for in (default /usr/lib/jvm).
tandem_java_major() { "$1/bin/java" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'; }
tandem_jdk_ok() { [ -x "$1/bin/java" ] && [ "$(tandem_java_major "$1")" -ge 25 ] 2>/dev/null; }

tandem_jvm_dir=${TANDEM_JVM_DIR:-/usr/lib/jvm}
if [ -z "${JAVA_HOME:-}" ] || ! tandem_jdk_ok "$JAVA_HOME"; then
    tandem_given_java_home=${JAVA_HOME:-}
    for candidate in "$tandem_jvm_dir"/temurin-25-jdk-* "$tandem_jvm_dir"/*; do
        if tandem_jdk_ok "$candidate"; then
            export JAVA_HOME=$candidate
            break
        fi
    done
fi
if [ -z "${JAVA_HOME:-}" ] || ! tandem_jdk_ok "$JAVA_HOME"; then
    {
        echo "tandem: needs a JDK 25 or newer, and found none."
        if [ -n "${tandem_given_java_home:-}" ]; then
            if [ -x "$tandem_given_java_home/bin/java" ]; then
                echo "  JAVA_HOME=$tandem_given_java_home is Java $(tandem_java_major "$tandem_given_java_home")."
            else
                echo "  JAVA_HOME=$tandem_given_java_home has no bin/java."
            fi
        fi
        tandem_jdks=$(cd "$tandem_jvm_dir" 2>/dev/null && ls -d -- * 2>/dev/null | tr '\n' ' ' || true)
        echo "  Looked in $tandem_jvm_dir: ${tandem_jdks:-nothing there}"
        if apt-cache show openjdk-25-jdk-headless >/dev/null 2>&1; then
            echo "  Install one (Debian/Ubuntu package, found in this machine's apt archive):"
            echo "      sudo apt-get install -y openjdk-25-jdk-headless     # then it is found in /usr/lib/jvm"
        else
            echo "  Install one: Eclipse Temurin 25 from Adoptium's apt repository (https://adoptium.net/installation/linux/):"
            echo "      curl -fsSL https://packages.adoptium.net/artifactory/api/gpg/key/public | sudo gpg --dearmor -o /etc/apt/trusted.gpg.d/adoptium.gpg"
            echo "      echo \"deb https://packages.adoptium.net/artifactory/deb \$(. /etc/os-release; echo \$VERSION_CODENAME) main\" | sudo tee /etc/apt/sources.list.d/adoptium.list"
            echo "      sudo apt-get update && sudo apt-get install -y temurin-25-jdk     # installs /usr/lib/jvm/temurin-25-jdk-amd64"
            echo "  or unpack a JDK 25 archive (https://jdk.java.net/25/) anywhere."
        fi
        echo "  Or point JAVA_HOME at a JDK 25 you have: export JAVA_HOME=/path/to/jdk-25"
    } >&2
    exit 2
fi
