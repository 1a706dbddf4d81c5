/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Not tolower(): its result depends on the locale, and the word counts
 * must not. */
#include "casefold.h"

void fold_ascii(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

int has_upper_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return 1;
    return 0;
}
