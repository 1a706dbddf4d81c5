/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Renders the collected figures as an aligned table or as JSON. */
#ifndef CSTATS_FORMAT_H
#define CSTATS_FORMAT_H

#include <stddef.h>
#include <stdio.h>

#include "args.h"
#include "counts.h"
#include "freq.h"

struct file_report {
    const char *name;
    int ok; /* 0 when the input could not be read */
    struct counts counts;
};

struct report {
    const struct options *opts;
    const struct file_report *files;
    size_t nfiles;
    struct counts total;
    const struct word_count *top;
    size_t ntop;
    size_t distinct;
};

void format_report(FILE *out, const struct report *r);

#endif
