# Sourced by bin/setup and bin/test: puts the Node 20 that bin/setup installs (when the system's
# node is older than 20) first on the PATH.
: "${TANDEM_NODE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/tandem-node}"
export TANDEM_NODE_DIR
if [ -x "$TANDEM_NODE_DIR/node_modules/.bin/node" ]; then
    export PATH="$TANDEM_NODE_DIR/node_modules/.bin:$PATH"
fi
