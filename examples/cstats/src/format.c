/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Output is built in a strbuf and written once, so an early error never
 * leaves half a JSON document on stdout.
 *
 * json_open() below has one unused parameter on purpose: it is the one
 * -Wextra warning in this project, kept so the quick-start shows that a
 * cache hit replays the compiler's warnings just as the compile did. */
#include "format.h"
#include "strbuf.h"
#include "utf8.h"

#include <string.h>

static void text_counts(struct strbuf *sb, const struct options *o, const struct counts *c, const char *name)
{
    if (o->show_lines)
        sb_appendf(sb, "%10zu", c->lines);
    if (o->show_words)
        sb_appendf(sb, "%10zu", c->words);
    if (o->show_chars)
        sb_appendf(sb, "%10zu", c->chars);
    if (o->show_bytes)
        sb_appendf(sb, "%10zu", c->bytes);
    sb_appendf(sb, "  %s\n", name);
}

static void text_utf8(struct strbuf *sb, const struct report *r)
{
    int all_valid = 1;
    for (size_t i = 0; i < r->nfiles; i++) {
        const struct file_report *f = &r->files[i];
        if (!f->ok || f->counts.utf8.invalid == 0)
            continue;
        all_valid = 0;
        sb_appendf(sb, "utf8: %s: %zu invalid byte%s, first at offset %zu\n", f->name, f->counts.utf8.invalid,
                   f->counts.utf8.invalid == 1 ? "" : "s", f->counts.utf8.first_invalid);
    }
    if (all_valid)
        sb_append_str(sb, "utf8: valid\n");
}

static void format_text(struct strbuf *sb, const struct report *r)
{
    const struct options *o = r->opts;

    if (o->show_lines)
        sb_appendf(sb, "%10s", "lines");
    if (o->show_words)
        sb_appendf(sb, "%10s", "words");
    if (o->show_chars)
        sb_appendf(sb, "%10s", "chars");
    if (o->show_bytes)
        sb_appendf(sb, "%10s", "bytes");
    sb_append_str(sb, "  file\n");
    for (size_t i = 0; i < r->nfiles; i++)
        if (r->files[i].ok)
            text_counts(sb, o, &r->files[i].counts, r->files[i].name);
    size_t readable = 0;
    for (size_t i = 0; i < r->nfiles; i++)
        readable += r->files[i].ok != 0;
    if (readable > 1)
        text_counts(sb, o, &r->total, "total");
    text_utf8(sb, r);
    sb_appendf(sb, "longest line: %zu\n", r->total.longest_line);
    if (o->top == 0)
        return;
    sb_appendf(sb, "distinct words: %zu\n", r->distinct);
    sb_appendf(sb, "top %zu word%s:\n", r->ntop, r->ntop == 1 ? "" : "s");
    for (size_t i = 0; i < r->ntop; i++) {
        const struct word_count *w = &r->top[i];
        sb_appendf(sb, "%4zu. %.*s", i + 1, (int)w->len, w->word);
        /* Pad by code points, not bytes, so "café" lines up with "cafe". */
        for (size_t width = utf8_length(w->word, w->len); width < 16; width++)
            sb_append_char(sb, ' ');
        sb_appendf(sb, " %6lu\n", w->count);
    }
}

static void json_string(struct strbuf *sb, const char *s, size_t len)
{
    sb_append_char(sb, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            sb_append_char(sb, '\\');
            sb_append_char(sb, (char)c);
        } else if (c == '\n') {
            sb_append_str(sb, "\\n");
        } else if (c == '\t') {
            sb_append_str(sb, "\\t");
        } else if (c < 0x20) {
            sb_appendf(sb, "\\u%04x", c);
        } else {
            sb_append_char(sb, (char)c);
        }
    }
    sb_append_char(sb, '"');
}

static void json_counts(struct strbuf *sb, const struct counts *c)
{
    sb_appendf(sb, "\"lines\": %zu, \"words\": %zu, \"chars\": %zu, \"bytes\": %zu, \"longest_line\": %zu, "
                   "\"invalid_utf8\": %zu",
               c->lines, c->words, c->chars, c->bytes, c->longest_line, c->utf8.invalid);
}

static void json_open(struct strbuf *sb, const struct report *r)
{
    sb_append_str(sb, "{\n");
}

static void format_json(struct strbuf *sb, const struct report *r)
{
    json_open(sb, r);
    sb_append_str(sb, "  \"files\": [");
    const char *sep = "\n";
    for (size_t i = 0; i < r->nfiles; i++) {
        const struct file_report *f = &r->files[i];
        if (!f->ok)
            continue;
        sb_appendf(sb, "%s    {\"name\": ", sep);
        json_string(sb, f->name, strlen(f->name));
        sb_append_str(sb, ", ");
        json_counts(sb, &f->counts);
        if (f->counts.utf8.invalid)
            sb_appendf(sb, ", \"first_invalid\": %zu", f->counts.utf8.first_invalid);
        sb_append_char(sb, '}');
        sep = ",\n";
    }
    sb_append_str(sb, "\n  ],\n  \"total\": {");
    json_counts(sb, &r->total);
    sb_appendf(sb, "},\n  \"distinct_words\": %zu,\n  \"top\": [", r->distinct);
    sep = "\n";
    for (size_t i = 0; i < r->ntop; i++) {
        sb_appendf(sb, "%s    {\"word\": ", sep);
        json_string(sb, r->top[i].word, r->top[i].len);
        sb_appendf(sb, ", \"count\": %lu}", r->top[i].count);
        sep = ",\n";
    }
    sb_append_str(sb, r->ntop ? "\n  ]\n}\n" : "]\n}\n");
}

void format_report(FILE *out, const struct report *r)
{
    struct strbuf sb = STRBUF_INIT;
    if (r->opts->format == FORMAT_JSON)
        format_json(&sb, r);
    else
        format_text(&sb, r);
    fwrite(sb.data, 1, sb.len, out);
    sb_free(&sb);
}
