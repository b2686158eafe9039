#!/usr/bin/env bash
# Builds FerretDB 1.24 (SQLite backend) from the Go module proxy into $FERRETDB_INSTALL_DIR (default ~/go/bin).
#
# A plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that panics at start-up
# ("Invalid build/version/version.txt file content"): the module as published lacks that generated file. So we
# copy the module source, write the file, and build it ourselves.
#
# Go's own output (a `go: downloading …` line per module, about 45) goes to a log that is shown only when the build
# fails: a newcomer's first `npm start` prints one progress line and one result line.
set -euo pipefail
VERSION="${FERRETDB_VERSION:-v1.24.2}"
command -v go >/dev/null || { echo "install-ferretdb: Go is not installed" >&2; exit 1; }
OUT_DIR="${FERRETDB_INSTALL_DIR:-$(go env GOPATH)/bin}"
work=$(mktemp -d)
log=$(mktemp)
trap 'chmod -R u+w "$work"; rm -rf "$work" "$log"' EXIT
fail() {
  echo "install-ferretdb: $1; Go's output:" >&2
  cat "$log" >&2
  exit 1
}
echo "install-ferretdb: building FerretDB ${VERSION} with Go (once; it downloads its modules first, a minute or two)…"
src=$(go mod download -json "github.com/FerretDB/FerretDB@${VERSION}" 2>"$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
[ -d "$src" ] || fail "could not download FerretDB ${VERSION}"
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "$VERSION" > "$work/build/version/version.txt"
mkdir -p "$OUT_DIR"
(cd "$work" && GOFLAGS=-mod=mod go build -trimpath -o "$OUT_DIR/ferretdb.tmp" ./cmd/ferretdb) >>"$log" 2>&1 || fail "the build failed"
mv "$OUT_DIR/ferretdb.tmp" "$OUT_DIR/ferretdb"
echo "install-ferretdb: built $OUT_DIR/ferretdb ($VERSION)"
