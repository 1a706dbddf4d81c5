/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A growable byte buffer; always NUL-terminated so it can be printed. */
#ifndef CSTATS_STRBUF_H
#define CSTATS_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

void sb_reserve(struct strbuf *sb, size_t extra);
void sb_append(struct strbuf *sb, const char *data, size_t len);
void sb_append_str(struct strbuf *sb, const char *s);
void sb_append_char(struct strbuf *sb, char c);
void sb_appendf(struct strbuf *sb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sb_clear(struct strbuf *sb);
void sb_free(struct strbuf *sb);

#endif
