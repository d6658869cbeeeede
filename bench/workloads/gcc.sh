# Compiles, links and runs hello.c (next to this script) into $TMPDIR, which
# the jail config and run.sh set to the writable directory; gcc's own
# temporary files go there too.
set -e
gcc -O2 -o "$TMPDIR/hello" "$(dirname "$0")/hello.c"
"$TMPDIR/hello"
