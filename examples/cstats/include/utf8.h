/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Strict UTF-8 decoding: overlong forms, surrogates and values past
 * U+10FFFF are invalid, as RFC 3629 requires. */
#ifndef CSTATS_UTF8_H
#define CSTATS_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_NONE ((size_t)-1)

struct utf8_report {
    size_t codepoints;    /* valid code points plus one per invalid byte */
    size_t invalid;       /* invalid sequences; each counts one byte */
    size_t first_invalid; /* byte offset, or UTF8_NONE */
};

/* Decodes the sequence at s (len > 0 bytes available). Returns the number
 * of bytes it spans; on an invalid sequence returns 1 and sets *ok to 0. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp, int *ok);

void utf8_scan(const char *data, size_t len, struct utf8_report *out);

/* Code points in a span known to be valid UTF-8. */
size_t utf8_length(const char *data, size_t len);

#endif
