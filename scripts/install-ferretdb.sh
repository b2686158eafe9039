#!/usr/bin/env bash
# Builds FerretDB 1.24 (SQLite backend) from the Go module proxy into $FERRETDB_INSTALL_DIR (default ~/go/bin).
#
# A plain `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` builds a binary that panics at start-up
# ("Invalid build/version/version.txt file content"): the module as published lacks that generated file. So we
# copy the module source, write the file, and build it ourselves.
set -euo pipefail
VERSION="${FERRETDB_VERSION:-v1.24.2}"
OUT_DIR="${FERRETDB_INSTALL_DIR:-$(go env GOPATH)/bin}"
command -v go >/dev/null || { echo "install-ferretdb: Go is not installed" >&2; exit 1; }
src=$(go mod download -json "github.com/FerretDB/FerretDB@${VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "install-ferretdb: could not download FerretDB ${VERSION}" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
echo "$VERSION" > "$work/build/version/version.txt"
mkdir -p "$OUT_DIR"
(cd "$work" && GOFLAGS=-mod=mod go build -trimpath -o "$OUT_DIR/ferretdb.tmp" ./cmd/ferretdb)
mv "$OUT_DIR/ferretdb.tmp" "$OUT_DIR/ferretdb"
echo "install-ferretdb: built $OUT_DIR/ferretdb ($VERSION)"
