/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* ASCII-only case folding; bytes >= 0x80 pass through untouched, so valid
 * UTF-8 stays valid. */
#ifndef CSTATS_CASEFOLD_H
#define CSTATS_CASEFOLD_H

#include <stddef.h>

void fold_ascii(char *s, size_t len);
int has_upper_ascii(const char *s, size_t len);

#endif
