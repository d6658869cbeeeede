# Unpacks a small C project (src.tar, next to this script) into directory
# $1, builds it with make and gcc (sequentially), runs the program and
# removes the tree again: the shape of a build job, run in a write tree or
# in a cow tree by bench/run.sh. Temporary files go to $TMPDIR.
set -e
dir="$1/proj"
rm -rf "$dir"
mkdir -p "$dir"
tar -xf "$(dirname "$0")/src.tar" -C "$dir"
make -s -C "$dir"
"$dir/app"
rm -rf "$dir"
