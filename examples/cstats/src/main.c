/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* cstats: reads every input, then prints counts and word frequencies.
 * An unreadable input is reported and skipped; the others still count. */
#include "args.h"
#include "counts.h"
#include "cstats.h"
#include "format.h"
#include "freq.h"
#include "reader.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    struct options opts;
    struct strbuf err = STRBUF_INIT;

    switch (args_parse(argc, argv, &opts, &err)) {
    case ARGS_OK:
        break;
    case ARGS_HELP:
        args_usage(stdout);
        args_free(&opts);
        return CSTATS_EXIT_OK;
    case ARGS_VERSION:
        puts(CSTATS_NAME " " CSTATS_VERSION);
        args_free(&opts);
        return CSTATS_EXIT_OK;
    case ARGS_ERROR:
        fprintf(stderr, CSTATS_NAME ": %s\n", err.data);
        fputs("try '" CSTATS_NAME " --help'\n", stderr);
        args_free(&opts);
        sb_free(&err);
        return CSTATS_EXIT_USAGE;
    }

    struct file_report *files = xcalloc(opts.nfiles, sizeof *files);
    struct report report = { .opts = &opts, .files = files, .nfiles = opts.nfiles };
    struct freq freq;
    struct strbuf data = STRBUF_INIT;
    int status = CSTATS_EXIT_OK;

    freq_init(&freq, opts.min_len, opts.fold);
    report.total.utf8.first_invalid = UTF8_NONE;
    for (size_t i = 0; i < opts.nfiles; i++) {
        files[i].name = opts.files[i];
        sb_clear(&err);
        if (read_input(opts.files[i], &data, &err) < 0) {
            fprintf(stderr, CSTATS_NAME ": %s\n", err.data);
            status = CSTATS_EXIT_INPUT;
            continue;
        }
        files[i].ok = 1;
        counts_compute(data.data, data.len, &files[i].counts);
        counts_add(&report.total, &files[i].counts);
        freq_feed(&freq, data.data, data.len);
    }

    struct word_count *top = xcalloc(opts.top, sizeof *top);
    report.top = top;
    report.ntop = freq_top(&freq, opts.top, top);
    report.distinct = freq_distinct(&freq);
    format_report(stdout, &report);

    free(top);
    freq_free(&freq);
    free(files);
    sb_free(&data);
    sb_free(&err);
    args_free(&opts);
    return status;
}
