#!/bin/sh
# Create the demo's sample remote tree in DIR (replacing it): a few
# directories and files, identical on every run, including each mtime.
#     sh tests/demo-tree.sh build/demo/remote
set -eu

dir=${1:?usage: demo-tree.sh DIR}
rm -rf "$dir"
mkdir -p "$dir/pub/releases" "$dir/pub/docs" "$dir/pub/images" "$dir/pub/old stuff"

# file PATH MTIME: contents from stdin, then a fixed UTC mtime.
file() {
    cat >"$dir/$1"
    touch -d "$2 UTC" "$dir/$1"
}

printf 'Sample tree served by tests/demo.sh and mirrored by jobs/demo.yaml.\n' |
    file README.txt "2024-01-02 03:04:05"
seq 1 20000 | file pub/releases/tool-1.0.tar.gz "2024-02-01 12:00:00"
seq 1 30000 | file pub/releases/tool-1.1.tar.gz "2024-05-01 12:00:01"
(cd "$dir/pub/releases" && sha256sum tool-1.0.tar.gz tool-1.1.tar.gz) |
    file pub/releases/SHA256SUMS "2024-05-01 12:00:02"
printf 'How to use the tool.\n\n1. Download.\n2. Unpack.\n' |
    file "pub/docs/user guide.txt" "2024-03-03 08:00:00"
: | file pub/docs/empty.txt "2024-03-03 08:00:01"
head -c 1048576 /dev/zero | tr '\0' 'x' | file pub/images/logo.bin "2023-12-24 18:30:00"
printf 'Kept for history.\n' | file "pub/old stuff/notes 2019.txt" "2019-06-30 23:59:59"

chmod -R a+rX "$dir"
