#!/bin/sh
# Turn schema/NNN_*.sql files into a C table: schema version N is the file
# whose name starts with N.  Usage: embed-schema.sh FILE...
set -eu
echo '/* generated from the schema directory by tests/embed-schema.sh */'
echo '#include <stddef.h>'
echo '#include "schema.h"'
echo 'const struct schema_step schema_steps[] = {'
for f in "$@"; do
	n=$(basename "$f" | sed 's/^0*\([0-9][0-9]*\).*/\1/')
	printf '\t{ %s, "%s",\n' "$n" "$(basename "$f")"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo '};'
echo 'const size_t schema_nsteps = sizeof(schema_steps) / sizeof(schema_steps[0]);'
