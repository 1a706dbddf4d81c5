/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Command-line options. Parsing never exits: it returns a verdict and
 * main decides what to print. */
#ifndef CSTATS_ARGS_H
#define CSTATS_ARGS_H

#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

enum output_format { FORMAT_TEXT, FORMAT_JSON };

struct options {
    size_t top;     /* words in the frequency list; 0 hides it */
    size_t min_len; /* shortest word counted in frequencies */
    int fold;
    enum output_format format;
    int show_lines, show_words, show_chars, show_bytes;
    const char **files; /* NULL-terminated; "-" when none were given */
    size_t nfiles;
};

enum args_result { ARGS_OK, ARGS_HELP, ARGS_VERSION, ARGS_ERROR };

enum args_result args_parse(int argc, char **argv, struct options *opts, struct strbuf *err);
void args_usage(FILE *out);
void args_free(struct options *opts);

#endif
