#!/bin/sh
# Run each cmocka unit test binary in DIR; print one summary line.
# Usage: run-units.sh DIR NAME...
dir=$1; shift
pass=0; fail=0
for t in "$@"; do
	if "$dir/$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $dir/$t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
