/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A table-free decoder: the lead byte gives the length and the minimum
 * value, which is how overlong encodings are rejected. */
#include "utf8.h"

size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp, int *ok)
{
    unsigned char b = s[0];
    size_t need;
    uint32_t value, min;

    *ok = 0;
    *cp = 0xFFFD;
    if (b < 0x80) {
        *cp = b;
        *ok = 1;
        return 1;
    } else if ((b & 0xE0) == 0xC0) {
        need = 2, value = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        need = 3, value = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        need = 4, value = b & 0x07, min = 0x10000;
    } else {
        return 1;
    }
    if (len < need)
        return 1;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
        value = (value << 6) | (s[i] & 0x3F);
    }
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return 1;
    *cp = value;
    *ok = 1;
    return need;
}

void utf8_scan(const char *data, size_t len, struct utf8_report *out)
{
    const unsigned char *s = (const unsigned char *)data;
    size_t pos = 0;

    out->codepoints = 0;
    out->invalid = 0;
    out->first_invalid = UTF8_NONE;
    while (pos < len) {
        uint32_t cp;
        int ok;
        size_t n = utf8_decode(s + pos, len - pos, &cp, &ok);
        if (!ok) {
            if (out->first_invalid == UTF8_NONE)
                out->first_invalid = pos;
            out->invalid++;
        }
        out->codepoints++;
        pos += n;
    }
}

size_t utf8_length(const char *data, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)data[i] & 0xC0) != 0x80)
            count++;
    return count;
}
