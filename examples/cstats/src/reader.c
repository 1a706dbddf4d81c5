/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* stdio in binary-safe chunks: the data may hold NUL bytes and invalid
 * UTF-8, and both must be counted, not stop the read. */
#include "reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int read_input(const char *path, struct strbuf *out, struct strbuf *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        sb_appendf(err, "%s: %s", path, strerror(errno));
        return -1;
    }

    sb_clear(out);
    for (;;) {
        sb_reserve(out, 65536);
        size_t n = fread(out->data + out->len, 1, out->cap - out->len - 1, f);
        out->len += n;
        out->data[out->len] = '\0';
        if (n == 0)
            break;
    }
    int failed = ferror(f);
    int saved = errno;
    if (!is_stdin)
        fclose(f);
    if (failed) {
        sb_appendf(err, "%s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}
