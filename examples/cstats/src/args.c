/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A small getopt_long look-alike: short flags may be bundled (-lw), long
 * options take "--opt=V" or "--opt V", and "--" ends the options. Written
 * by hand so the tool builds the same on any libc. */
#include "args.h"
#include "cstats.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void args_usage(FILE *out)
{
    fputs("usage: " CSTATS_NAME " [options] [FILE...]\n"
          "Counts lines, words, characters and bytes, checks UTF-8 and lists\n"
          "the most frequent words. With no FILE, or FILE '-', reads stdin.\n"
          "\n"
          "  -l, --lines        show line counts\n"
          "  -w, --words        show word counts\n"
          "  -m, --chars        show character (code point) counts\n"
          "  -c, --bytes        show byte counts\n"
          "  -n, --top N        list the N most frequent words (default 10)\n"
          "      --min-len N    ignore words shorter than N characters\n"
          "      --no-fold      count 'The' and 'the' separately\n"
          "      --json         print JSON instead of a table\n"
          "  -h, --help         show this help\n"
          "      --version      show the version\n",
          out);
}

static int parse_size(const char *text, size_t *out)
{
    char *end;
    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > 1000000)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Value for an option that needs one: attached (--top=5, -n5) or the next
 * argument. Returns NULL and reports when it is missing. */
static const char *take_value(const char *name, const char *attached, int argc, char **argv, int *i,
                              struct strbuf *err)
{
    if (attached && *attached)
        return attached;
    if (*i + 1 < argc)
        return argv[++*i];
    sb_appendf(err, "option %s needs a value", name);
    return NULL;
}

static int set_size(const char *name, const char *value, size_t *out, struct strbuf *err)
{
    if (!value)
        return -1;
    if (parse_size(value, out) < 0) {
        sb_appendf(err, "option %s: '%s' is not a number from 0 to 1000000", name, value);
        return -1;
    }
    return 0;
}

static enum args_result parse_long(const char *arg, int argc, char **argv, int *i, struct options *o,
                                   struct strbuf *err)
{
    const char *eq = strchr(arg, '=');
    size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *value = eq ? eq + 1 : NULL;
#define IS(s) (namelen == sizeof(s) - 1 && strncmp(arg, s, namelen) == 0)
    if (IS("--help"))
        return ARGS_HELP;
    if (IS("--version"))
        return ARGS_VERSION;
    if (IS("--top"))
        return set_size("--top", take_value("--top", value, argc, argv, i, err), &o->top, err) ? ARGS_ERROR : ARGS_OK;
    if (IS("--min-len"))
        return set_size("--min-len", take_value("--min-len", value, argc, argv, i, err), &o->min_len, err)
                   ? ARGS_ERROR
                   : ARGS_OK;
    if (value) {
        sb_appendf(err, "option %.*s takes no value", (int)namelen, arg);
        return ARGS_ERROR;
    }
    if (IS("--lines"))
        o->show_lines = 1;
    else if (IS("--words"))
        o->show_words = 1;
    else if (IS("--chars"))
        o->show_chars = 1;
    else if (IS("--bytes"))
        o->show_bytes = 1;
    else if (IS("--no-fold"))
        o->fold = 0;
    else if (IS("--json"))
        o->format = FORMAT_JSON;
    else {
        sb_appendf(err, "unknown option %s", arg);
        return ARGS_ERROR;
    }
#undef IS
    return ARGS_OK;
}

static enum args_result parse_short(const char *arg, int argc, char **argv, int *i, struct options *o,
                                    struct strbuf *err)
{
    for (const char *p = arg + 1; *p; p++) {
        switch (*p) {
        case 'l': o->show_lines = 1; break;
        case 'w': o->show_words = 1; break;
        case 'm': o->show_chars = 1; break;
        case 'c': o->show_bytes = 1; break;
        case 'h': return ARGS_HELP;
        case 'n':
            return set_size("-n", take_value("-n", p + 1, argc, argv, i, err), &o->top, err) ? ARGS_ERROR : ARGS_OK;
        default:
            sb_appendf(err, "unknown option -%c", *p);
            return ARGS_ERROR;
        }
    }
    return ARGS_OK;
}

enum args_result args_parse(int argc, char **argv, struct options *o, struct strbuf *err)
{
    int only_files = 0;

    memset(o, 0, sizeof *o);
    o->top = 10;
    o->fold = 1;
    o->format = FORMAT_TEXT;
    o->files = xcalloc((size_t)argc + 1, sizeof *o->files);

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        enum args_result r = ARGS_OK;
        if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0)
            o->files[o->nfiles++] = arg;
        else if (strcmp(arg, "--") == 0)
            only_files = 1;
        else if (arg[1] == '-')
            r = parse_long(arg, argc, argv, &i, o, err);
        else
            r = parse_short(arg, argc, argv, &i, o, err);
        if (r != ARGS_OK)
            return r;
    }
    if (o->nfiles == 0)
        o->files[o->nfiles++] = "-";
    if (!o->show_lines && !o->show_words && !o->show_chars && !o->show_bytes)
        o->show_lines = o->show_words = o->show_chars = o->show_bytes = 1;
    return ARGS_OK;
}

void args_free(struct options *o)
{
    free(o->files);
    o->files = NULL;
    o->nfiles = 0;
}
