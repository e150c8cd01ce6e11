/* dataset.c - dataset specs and the label-file parsers; see dataset.h for
 * the layouts (CelebA attribute file, UTKFace CSV and file names, Adience
 * fold files, plain CSV, folder) and traits.h for the label rules.
 *
 * Invariants kept while parsing: paths[] and every trait's labels[] have
 * cap_rows entries allocated; a row is appended only once all of its fields
 * have been checked, so a rejected row leaves no trace but its warning.
 * Lines are copied into a NUL-terminated scratch buffer before they are
 * split; a line holding a NUL byte is rejected, so the C string functions
 * below never run past the data.
 */
#include "data/dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nn/fileio.h"
#include "nn/safetext.h"
#include "data/traits.h"

/* ---- the dataset object ------------------------------------------------ */

void ts_dataset_init(ts_dataset *ds) { memset(ds, 0, sizeof *ds); }

static void trait_free(ts_trait *t)
{
    free(t->name);
    for (int c = 0; c < t->n_classes; c++) free(t->classes[c]);
    free(t->classes);
    free(t->labels);
}

void ts_dataset_clear(ts_dataset *ds)
{
    if (!ds) return;
    free(ds->spec);
    free(ds->kind);
    for (int i = 0; i < ds->n_rows; i++) free(ds->paths[i]);
    free(ds->paths);
    for (int t = 0; t < ds->n_traits; t++) trait_free(&ds->traits[t]);
    free(ds->traits);
    for (int i = 0; i < ds->n_warnings; i++) free(ds->warnings[i]);
    free(ds->warnings);
    memset(ds, 0, sizeof *ds);
}

/* Records a warning; past TS_DATASET_MAX_WARNINGS only counts it.  Running
 * out of memory for a warning is not worth failing the load over. */
__attribute__((format(printf, 2, 3))) static void ds_warn(ts_dataset *ds, const char *fmt, ...)
{
    ds->n_warnings_total++;
    if (ds->n_warnings >= TS_DATASET_MAX_WARNINGS) return;
    if (ds->n_warnings == ds->cap_warnings) {
        int cap = ds->cap_warnings ? 2 * ds->cap_warnings : 16;
        char **w = realloc(ds->warnings, (size_t)cap * sizeof *w);
        if (!w) return;
        ds->warnings = w;
        ds->cap_warnings = cap;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* a message for people (the app shows it): valid UTF-8 whatever the file held */
    char *s = ts_utf8_repair(buf);
    if (s) ds->warnings[ds->n_warnings++] = s;
}

/* Makes room for one more row.  paths[] and every labels[] share one
 * capacity so that adding a row never has to ask which array is short. */
static ts_status ds_grow(ts_dataset *ds)
{
    if (ds->n_rows < ds->cap_rows) return TS_OK;
    if (ds->cap_rows > (1 << 29)) return ts_error(TS_ERR_OOM, "dataset: too many rows");
    int cap = ds->cap_rows ? 2 * ds->cap_rows : 256;
    char **p = realloc(ds->paths, (size_t)cap * sizeof *p);
    if (!p) return ts_error(TS_ERR_OOM, "dataset: out of memory for %d rows", cap);
    ds->paths = p;
    for (int t = 0; t < ds->n_traits; t++) {
        int *l = realloc(ds->traits[t].labels, (size_t)cap * sizeof *l);
        if (!l) return ts_error(TS_ERR_OOM, "dataset: out of memory for %d rows", cap);
        ds->traits[t].labels = l;
    }
    ds->cap_rows = cap;
    return TS_OK;
}

/* Appends a row; takes `path` (freed on failure too).  labels[t] for each
 * trait index t < n_labels; traits beyond get -1. */
static ts_status ds_add_row(ts_dataset *ds, char *path, const int *labels, int n_labels)
{
    ts_status st = path ? ds_grow(ds) : ts_error(TS_ERR_OOM, "dataset: out of memory");
    if (st != TS_OK) {
        free(path);
        return st;
    }
    ds->paths[ds->n_rows] = path;
    for (int t = 0; t < ds->n_traits; t++)
        ds->traits[t].labels[ds->n_rows] = t < n_labels ? labels[t] : -1;
    ds->n_rows++;
    return TS_OK;
}

static ts_status ds_trait_add(ts_dataset *ds, const char *name, int n_classes,
                              const char *const *classes, int *index);

/* Index of the trait `name`, adding it (all existing rows excluded) when it
 * is new.  An existing trait must have the same classes. */
static ts_status ds_trait_ensure(ts_dataset *ds, const char *raw_name, int n_classes,
                                 const char *const *classes, int *index)
{
    /* Trait and class names come from file headers and label columns and
     * end up in JSON, model metadata and the app's widgets: they are kept
     * as valid UTF-8 (safetext.h), invalid bytes as U+FFFD. */
    char *name = ts_utf8_repair(raw_name);
    if (!name) return ts_error(TS_ERR_OOM, "dataset: out of memory");
    ts_status st = ds_trait_add(ds, name, n_classes, classes, index);
    free(name);
    return st;
}

static ts_status ds_trait_add(ts_dataset *ds, const char *name, int n_classes,
                              const char *const *classes, int *index)
{
    int i = ts_dataset_trait_index(ds, name);
    if (i >= 0) {
        const ts_trait *t = &ds->traits[i];
        bool same = t->n_classes == n_classes;
        for (int c = 0; same && c < n_classes; c++) {
            char *rc = ts_utf8_repair(classes[c]);
            same = rc && strcmp(t->classes[c], rc) == 0;
            free(rc);
        }
        if (!same) return ts_error(TS_ERR_FORMAT, "trait '%s' appears twice with different classes", name);
        *index = i;
        return TS_OK;
    }
    ts_trait *tr = realloc(ds->traits, (size_t)(ds->n_traits + 1) * sizeof *tr);
    if (!tr) return ts_error(TS_ERR_OOM, "dataset: out of memory");
    ds->traits = tr;
    ts_trait *t = &tr[ds->n_traits];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->classes = calloc((size_t)(n_classes > 0 ? n_classes : 1), sizeof *t->classes);
    t->labels = malloc((size_t)(ds->cap_rows > 0 ? ds->cap_rows : 1) * sizeof *t->labels);
    bool ok = t->name && t->classes && t->labels;
    for (int c = 0; ok && c < n_classes; c++) {
        t->classes[c] = ts_utf8_repair(classes[c]);
        ok = t->classes[c] != NULL;
        t->n_classes = c + 1;
    }
    if (!ok) {
        trait_free(t);
        return ts_error(TS_ERR_OOM, "dataset: out of memory");
    }
    t->n_classes = n_classes;
    for (int r = 0; r < ds->n_rows; r++) t->labels[r] = -1;
    *index = ds->n_traits++;
    return TS_OK;
}

int ts_dataset_trait_index(const ts_dataset *ds, const char *name)
{
    for (int t = 0; t < ds->n_traits; t++)
        if (strcmp(ds->traits[t].name, name) == 0) return t;
    return -1;
}

const ts_trait *ts_dataset_trait(const ts_dataset *ds, const char *name)
{
    int t = ts_dataset_trait_index(ds, name);
    return t >= 0 ? &ds->traits[t] : NULL;
}

int ts_trait_class_counts(const ts_trait *t, int n_rows, int *counts)
{
    int excluded = 0;
    for (int c = 0; c < t->n_classes; c++) counts[c] = 0;
    for (int r = 0; r < n_rows; r++) {
        int l = t->labels[r];
        if (l >= 0 && l < t->n_classes) counts[l]++;
        else excluded++;
    }
    return excluded;
}

/* ---- small text helpers ------------------------------------------------ */

/* Joins a folder and a file name from a label file.  Names are not
 * restricted here (a CSV may point anywhere the user likes); the folder
 * layouts with fixed structure (Adience) check their own components.
 * "dir/name", or name alone when dir is NULL/empty or name is absolute.
 * transfer: full (NULL when out of memory). */
static char *path_join(const char *dir, const char *name)
{
    if (!dir || !dir[0] || name[0] == '/') return strdup(name);
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/') a--;
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Strict base-10 integer in [lo, hi]: no sign-only, no trailing junk, no
 * overflow (strtol alone accepts "12abc" and saturates silently). */
static bool parse_int(const char *s, long lo, long hi, int *out)
{
    if (!s[0]) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

/* Walks a buffer line by line (LF or CRLF; a leading UTF-8 BOM is dropped),
 * copying each line into a growable NUL-terminated scratch buffer. */
typedef struct line_reader {
    const char *buf;
    size_t len, pos;
    int lineno;
    char *line; /* scratch: the current line */
    size_t cap;
    bool has_nul; /* the current line held a NUL byte */
} line_reader;

static void lr_init(line_reader *lr, const char *buf, size_t len)
{
    memset(lr, 0, sizeof *lr);
    lr->buf = buf ? buf : "";
    lr->len = buf ? len : 0;
    if (lr->len >= 3 && memcmp(lr->buf, "\xEF\xBB\xBF", 3) == 0) lr->pos = 3;
}

/* 1 with lr->line set, 0 at the end, -1 out of memory. */
static int lr_next(line_reader *lr)
{
    if (lr->pos >= lr->len) return 0;
    const char *start = lr->buf + lr->pos;
    const char *nl = memchr(start, '\n', lr->len - lr->pos);
    size_t n = nl ? (size_t)(nl - start) : lr->len - lr->pos;
    lr->pos += n + (nl ? 1 : 0);
    lr->lineno++;
    if (n && start[n - 1] == '\r') n--;
    if (n + 1 > lr->cap) {
        size_t cap = n + 1 > 2 * lr->cap ? n + 1 : 2 * lr->cap;
        char *l = realloc(lr->line, cap);
        if (!l) return -1;
        lr->line = l;
        lr->cap = cap;
    }
    memcpy(lr->line, start, n);
    lr->line[n] = '\0';
    lr->has_nul = memchr(start, '\0', n) != NULL;
    return 1;
}

static void lr_clear(line_reader *lr) { free(lr->line); }

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* Splits `s` in place on runs of spaces/tabs.  Returns the number of
 * tokens (may exceed max; only max are stored). */
static int split_ws(char *s, char **tok, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) return n;
        if (n < max) tok[n] = s;
        n++;
        while (*s && *s != ' ' && *s != '\t') s++;
        if (*s) *s++ = '\0';
    }
}

/* Splits `s` in place on `sep` (no quoting). */
static int split_char(char *s, char sep, char **tok, int max)
{
    int n = 0;
    for (;;) {
        if (n < max) tok[n] = s;
        n++;
        char *e = strchr(s, sep);
        if (!e) return n;
        *e = '\0';
        s = e + 1;
    }
}

/* Splits one CSV line in place: fields separated by ',', a field may be
 * quoted with '"' and hold "" for a quote (RFC 4180, without line breaks
 * inside quotes).  Unquoted fields are trimmed.  Returns the field count
 * (may exceed max), or -1 for an unterminated quote or junk after one. */
static int split_csv(char *s, char **tok, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        char *field = s, *w = s;
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) return -1;
                if (*s == '"') {
                    if (s[1] == '"') {
                        *w++ = '"';
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                *w++ = *s++;
            }
            while (*s == ' ' || *s == '\t') s++;
            if (*s && *s != ',') return -1;
        } else {
            while (*s && *s != ',') s++;
            w = s;
            while (w > field && (w[-1] == ' ' || w[-1] == '\t')) w--;
        }
        bool more = *s == ',';
        *w = '\0';
        if (n < max) tok[n] = field;
        n++;
        if (!more) return n;
        s++;
    }
}

static bool stat_is(const char *path, mode_t type)
{
    struct stat sb;
    return stat(path, &sb) == 0 && (sb.st_mode & S_IFMT) == type;
}

static bool limit_reached(const ts_dataset *ds, int limit) { return limit > 0 && ds->n_rows >= limit; }

#define LR_OOM(name) ts_error(TS_ERR_OOM, "%s: out of memory", name)

/* ---- CelebA attribute file --------------------------------------------- */

#define CELEBA_MAX_ATTRS 4096

ts_status ts_dataset_parse_celeba(ts_dataset *ds, const char *buf, size_t len,
                                  const char *name, const char *image_dir, int limit)
{
    ts_status st = TS_OK;
    line_reader lr;
    lr_init(&lr, buf, len);
    char **names = NULL, **tok = NULL, *header = NULL;
    signed char *values = NULL;
    int n_names = 0, declared = -1, declared_line = 1, rows = 0, r;
    int trait_idx[TS_CELEBA_TRAITS], labels_by_trait[64];
    ts_celeba_columns cols;

    /* Line 1: the image count.  It is only a cross-check (a mismatch is a
     * warning): the rows that follow are what counts. */
    while ((r = lr_next(&lr)) == 1 && blank(lr.line)) {}
    if (r < 0) { st = LR_OOM(name); goto out; }
    if (r == 0) { st = ts_error(TS_ERR_FORMAT, "%s: empty attribute file", name); goto out; }
    if (lr.has_nul || !parse_int(trim(lr.line), 0, 1L << 30, &declared)) {
        st = ts_error(TS_ERR_FORMAT, "%s:%d: expected the image count on the first line", name, lr.lineno);
        goto out;
    }
    declared_line = lr.lineno;
    /* Line 2: the attribute names. */
    while ((r = lr_next(&lr)) == 1 && blank(lr.line)) {}
    if (r < 0) { st = LR_OOM(name); goto out; }
    if (r == 0 || lr.has_nul) {
        st = ts_error(TS_ERR_FORMAT, "%s:%d: expected the attribute names", name, lr.lineno);
        goto out;
    }
    header = strdup(lr.line);
    names = malloc(CELEBA_MAX_ATTRS * sizeof *names);
    tok = malloc((CELEBA_MAX_ATTRS + 2) * sizeof *tok);
    values = malloc(CELEBA_MAX_ATTRS);
    if (!header || !names || !tok || !values) { st = LR_OOM(name); goto out; }
    n_names = split_ws(header, names, CELEBA_MAX_ATTRS);
    if (n_names < 1 || n_names > CELEBA_MAX_ATTRS) {
        st = ts_error(TS_ERR_FORMAT, "%s:%d: expected 1..%d attribute names, found %d", name,
                      lr.lineno, CELEBA_MAX_ATTRS, n_names);
        goto out;
    }
    ts_celeba_columns_find(&cols, (const char *const *)names, n_names);
    for (int t = 0; t < TS_CELEBA_TRAITS; t++) {
        trait_idx[t] = -1;
        if (!ts_celeba_trait_available(&cols, t)) continue;
        const ts_trait_def *d = &ts_celeba_traits[t];
        if ((st = ds_trait_ensure(ds, d->name, d->n_classes, d->classes, &trait_idx[t])) != TS_OK) goto out;
    }
    if (ds->n_traits > 64) { st = ts_error(TS_ERR_FORMAT, "%s: too many traits", name); goto out; }

    /* Rows: NAME v1 .. vK.  CelebA writes 1 / -1; some converted copies
     * write 0 for "not set", which reads the same.  Anything else would be
     * a guess, so the row is skipped. */
    while (!limit_reached(ds, limit) && (r = lr_next(&lr)) == 1) {
        if (blank(lr.line)) continue;
        if (lr.has_nul) {
            ds_warn(ds, "%s:%d: NUL byte in the line; row skipped", name, lr.lineno);
            continue;
        }
        int n = split_ws(lr.line, tok, CELEBA_MAX_ATTRS + 2);
        if (n != n_names + 1) {
            ds_warn(ds, "%s:%d: expected an image name and %d values, found %d fields; row skipped",
                    name, lr.lineno, n_names, n);
            continue;
        }
        bool ok = true;
        for (int i = 0; i < n_names && ok; i++) {
            const char *v = tok[i + 1];
            if (!strcmp(v, "1")) values[i] = 1;
            else if (!strcmp(v, "-1") || !strcmp(v, "0")) values[i] = -1;
            else {
                ds_warn(ds, "%s:%d: value '%.40s' of %.60s is not 1 or -1; row skipped", name,
                        lr.lineno, v, names[i]);
                ok = false;
            }
        }
        if (!ok) continue;
        /* Traits of other parsers (none in a fresh dataset) stay -1. */
        for (int t = 0; t < ds->n_traits; t++) labels_by_trait[t] = -1;
        for (int t = 0; t < TS_CELEBA_TRAITS; t++)
            if (trait_idx[t] >= 0) labels_by_trait[trait_idx[t]] = ts_celeba_trait_label(&cols, t, values);
        if ((st = ds_add_row(ds, path_join(image_dir, tok[0]), labels_by_trait, ds->n_traits)) != TS_OK)
            goto out;
        rows++;
    }
    if (r < 0) { st = LR_OOM(name); goto out; }
    /* Skipped rows make the count differ too; their warnings say why. */
    if (!limit_reached(ds, limit) && rows != declared)
        ds_warn(ds, "%s:%d: the header counts %d images, %d rows were read", name, declared_line,
                declared, rows);
out:
    lr_clear(&lr);
    free(header);
    free(names);
    free(tok);
    free(values);
    return st;
}

/* ---- UTKFace ----------------------------------------------------------- */

/* A labels.csv number that may be blank (missing). */
static bool utk_field(const char *s, long lo, long hi, int *out)
{
    if (!s[0]) {
        *out = -1; /* blank = missing */
        return true;
    }
    return parse_int(s, lo, hi, out);
}

static ts_status utk_traits(ts_dataset *ds, int idx[TS_UTK_TRAITS])
{
    for (int t = 0; t < TS_UTK_TRAITS; t++)
        TS_TRY(ds_trait_ensure(ds, ts_utk_traits[t].name, ts_utk_traits[t].n_classes,
                               ts_utk_traits[t].classes, &idx[t]));
    return TS_OK;
}

static ts_status utk_add(ts_dataset *ds, const int idx[TS_UTK_TRAITS], char *path, int age,
                         int gender, int race)
{
    int labels[64];
    if (ds->n_traits > 64) {
        free(path);
        return ts_error(TS_ERR_FORMAT, "dataset: too many traits");
    }
    for (int t = 0; t < ds->n_traits; t++) labels[t] = -1;
    labels[idx[TS_UTK_ETHNICITY]] = ts_utk_ethnicity(race);
    labels[idx[TS_UTK_GENDER]] = ts_utk_gender(gender);
    labels[idx[TS_UTK_AGE_GROUP]] = age >= 0 ? ts_age_group(age) : -1;
    return ds_add_row(ds, path, labels, ds->n_traits);
}

ts_status ts_dataset_parse_utkface(ts_dataset *ds, const char *buf, size_t len,
                                   const char *name, const char *image_dir, int limit)
{
    int idx[TS_UTK_TRAITS], r = 0;
    TS_TRY(utk_traits(ds, idx));
    line_reader lr;
    lr_init(&lr, buf, len);
    ts_status st = TS_OK;
    bool first = true, any = false;
    char *f[5];
    while (!limit_reached(ds, limit) && (r = lr_next(&lr)) == 1) {
        if (blank(lr.line)) continue;
        any = true;
        if (lr.has_nul) {
            ds_warn(ds, "%s:%d: NUL byte in the line; row skipped", name, lr.lineno);
            first = false;
            continue;
        }
        int n = split_csv(lr.line, f, 5);
        if (first) {
            first = false;
            /* A header names its columns; a data row has a numeric age. */
            int dummy;
            if (n >= 2 && !parse_int(f[1], 0, 1000, &dummy) && f[1][0]) continue;
        }
        /* Exactly four: a short line is more likely a truncated file than a
         * missing race, which labels.csv writes as an empty fourth field. */
        if (n != 4) {
            ds_warn(ds, "%s:%d: expected 4 fields (file,age,gender,race), found %d; row skipped",
                    name, lr.lineno, n < 0 ? 0 : n);
            continue;
        }
        int age, gender, race;
        if (!f[0][0]) {
            ds_warn(ds, "%s:%d: empty file name; row skipped", name, lr.lineno);
            continue;
        }
        if (!utk_field(f[1], 0, 200, &age)) {
            ds_warn(ds, "%s:%d: age '%.40s' is not a whole number 0..200; row skipped", name, lr.lineno, f[1]);
            continue;
        }
        if (!utk_field(f[2], 0, 1, &gender)) {
            ds_warn(ds, "%s:%d: gender '%.40s' is not 0 or 1; row skipped", name, lr.lineno, f[2]);
            continue;
        }
        if (!utk_field(f[3], 0, 4, &race)) {
            ds_warn(ds, "%s:%d: race '%.40s' is not 0..4; row skipped", name, lr.lineno, f[3]);
            continue;
        }
        if ((st = utk_add(ds, idx, path_join(image_dir, f[0]), age, gender, race)) != TS_OK) break;
    }
    if (st == TS_OK && r < 0) st = LR_OOM(name);
    /* as for an empty CelebA attribute file: no labels is not a dataset */
    if (st == TS_OK && !any && !limit_reached(ds, limit)) st = ts_error(TS_ERR_FORMAT, "%s: empty labels file", name);
    lr_clear(&lr);
    return st;
}

ts_status ts_utk_parse_name(const char *file, int *age, int *gender, int *race)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char buf[256];
    if (strlen(base) >= sizeof buf) return ts_error(TS_ERR_FORMAT, "%s: name too long", file);
    strcpy(buf, base);
    char *f[4];
    int n = split_char(buf, '_', f, 4);
    /* AGE_GENDER_RACE_DATE... or AGE_GENDER_DATE... (race missing): the
     * date part is a long run of digits followed by ".jpg". */
    bool ok = n >= 3 && parse_int(f[0], 0, 200, age) && parse_int(f[1], 0, 1, gender);
    if (ok) {
        if (n >= 4 && parse_int(f[2], 0, 4, race)) return TS_OK;
        if (n == 3 && isdigit((unsigned char)f[2][0]) && strlen(f[2]) > 8) {
            *race = -1;
            return TS_OK;
        }
    }
    return ts_error(TS_ERR_FORMAT, "%s: not a UTKFace name AGE_GENDER_RACE_DATE.jpg", file);
}

/* ---- Adience fold files ------------------------------------------------ */

/* Adience age text: "(25, 32)", "35", "None" or blank.  Sets *group (-1
 * for unknown); false when the text is none of these. */
static bool adience_age(char *s, int *group)
{
    s = trim(s);
    if (!s[0] || !strcmp(s, "None") || !strcmp(s, "none")) {
        *group = -1;
        return true;
    }
    int a, b;
    if (s[0] != '(') {
        if (!parse_int(s, 0, 200, &a)) return false;
        *group = ts_age_group(a);
        return true;
    }
    size_t n = strlen(s);
    if (n < 5 || s[n - 1] != ')') return false;
    s[n - 1] = '\0';
    char *comma = strchr(s + 1, ',');
    if (!comma) return false;
    *comma = '\0';
    if (!parse_int(trim(s + 1), 0, 200, &a) || !parse_int(trim(comma + 1), 0, 200, &b) || b < a)
        return false;
    *group = ts_age_group_of_range(a, b);
    return true;
}

/* A path component from an untrusted file: non-empty, no '/', not . or ..
 * The Adience layout fixes the folder structure, so a user_id that climbs
 * out of faces/ is a broken or hostile row, not a feature. */
static bool safe_component(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

ts_status ts_dataset_parse_adience(ts_dataset *ds, const char *buf, size_t len,
                                   const char *name, const char *faces_dir,
                                   const char *face_prefix, int limit)
{
    int idx[TS_ADIENCE_TRAITS], r = 0;
    for (int t = 0; t < TS_ADIENCE_TRAITS; t++)
        TS_TRY(ds_trait_ensure(ds, ts_adience_traits[t].name, ts_adience_traits[t].n_classes,
                               ts_adience_traits[t].classes, &idx[t]));
    if (ds->n_traits > 64) return ts_error(TS_ERR_FORMAT, "%s: too many traits", name);
    line_reader lr;
    lr_init(&lr, buf, len);
    ts_status st = TS_OK;
    char *f[16];
    int labels[64];
    while (!limit_reached(ds, limit) && (r = lr_next(&lr)) == 1) {
        if (blank(lr.line)) continue;
        if (lr.has_nul) {
            ds_warn(ds, "%s:%d: NUL byte in the line; row skipped", name, lr.lineno);
            continue;
        }
        int n = split_char(lr.line, '\t', f, 16);
        if (!strcmp(trim(f[0]), "user_id")) continue; /* the header */
        if (n < 5) {
            ds_warn(ds, "%s:%d: expected at least 5 tab-separated fields, found %d; row skipped",
                    name, lr.lineno, n);
            continue;
        }
        char *user = trim(f[0]), *orig = trim(f[1]), *gender_s = trim(f[4]);
        int face, group, gender;
        if (!safe_component(user) || !safe_component(orig)) {
            ds_warn(ds, "%s:%d: user_id or original_image is empty or not a plain name; row skipped",
                    name, lr.lineno);
            continue;
        }
        if (!parse_int(trim(f[2]), 0, 1L << 30, &face)) {
            ds_warn(ds, "%s:%d: face_id '%.40s' is not a number; row skipped", name, lr.lineno, f[2]);
            continue;
        }
        /* adience_age() edits its argument; keep the text for the warning. */
        char age_copy[64];
        snprintf(age_copy, sizeof age_copy, "%s", f[3]);
        if (!adience_age(f[3], &group)) {
            ds_warn(ds, "%s:%d: age '%.40s' is not \"(lo, hi)\", a number or None; row skipped",
                    name, lr.lineno, age_copy);
            continue;
        }
        if (!strcmp(gender_s, "m")) gender = 1;
        else if (!strcmp(gender_s, "f")) gender = 0;
        else if (!strcmp(gender_s, "u") || !gender_s[0]) gender = -1;
        else {
            ds_warn(ds, "%s:%d: gender '%.40s' is not m, f or u; row skipped", name, lr.lineno, gender_s);
            continue;
        }
        /* faces/USER/coarse_tilt_aligned_face.FACE.ORIGINAL (Adience's
         * aligned release names every face crop this way). */
        size_t need = strlen(user) + strlen(face_prefix) + strlen(orig) + 32;
        char *rel = malloc(need);
        if (!rel) { st = LR_OOM(name); break; }
        snprintf(rel, need, "%s/%s.%d.%s", user, face_prefix, face, orig);
        char *path = path_join(faces_dir, rel);
        free(rel);
        for (int t = 0; t < ds->n_traits; t++) labels[t] = -1;
        labels[idx[TS_ADIENCE_GENDER]] = gender;
        labels[idx[TS_ADIENCE_AGE_GROUP]] = group;
        if ((st = ds_add_row(ds, path, labels, ds->n_traits)) != TS_OK) break;
    }
    if (st == TS_OK && r < 0) st = LR_OOM(name);
    lr_clear(&lr);
    return st;
}

/* ---- plain CSV ---------------------------------------------------------- */

#define CSV_MAX_COLS 256

typedef struct csv_column {
    char *name;
    char **values; /* distinct values, first-seen order */
    int n_values;
    bool dropped;  /* more than TS_CSV_MAX_CLASSES values */
    int *ids;      /* per new row: index into values or -1 */
} csv_column;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_num(const void *a, const void *b)
{
    long x = strtol(*(char *const *)a, NULL, 10), y = strtol(*(char *const *)b, NULL, 10);
    return (x > y) - (x < y);
}

static bool is_integer(const char *s)
{
    int v;
    return parse_int(s, -2147483647L, 2147483647L, &v);
}

/* Turns a parsed column into a trait over rows [first, ds->n_rows). */
static ts_status csv_finish_column(ts_dataset *ds, csv_column *c, int first, const char *file)
{
    if (c->dropped) {
        ds_warn(ds, "%s: column '%.60s' has more than %d distinct values; not used as a trait", file,
                c->name, TS_CSV_MAX_CLASSES);
        return TS_OK;
    }
    int n = c->n_values;
    if (n == 0) {
        ds_warn(ds, "%s: column '%.60s' has no values; not used as a trait", file, c->name);
        return TS_OK;
    }
    char **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    int *remap = malloc((size_t)(n ? n : 1) * sizeof *remap);
    ts_status st = TS_OK;
    if (!sorted || !remap) { st = LR_OOM(file); goto out; }
    memcpy(sorted, c->values, (size_t)n * sizeof *sorted);
    /* Integer labels ("0","1","10") sort as numbers so class k is label k
     * when the labels are 0..K-1; anything else sorts by bytes, the same on
     * every machine and locale. */
    bool numeric = true;
    for (int i = 0; i < n && numeric; i++) numeric = is_integer(sorted[i]);
    qsort(sorted, (size_t)n, sizeof *sorted, numeric ? cmp_num : cmp_str);
    /* first-seen id -> sorted class index (pointer identity: the sorted
     * array holds the same strings). */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (sorted[j] == c->values[i]) remap[i] = j;
    int t;
    if ((st = ds_trait_ensure(ds, c->name, n, (const char *const *)sorted, &t)) != TS_OK) goto out;
    for (int r = first; r < ds->n_rows; r++) {
        int id = c->ids[r - first];
        ds->traits[t].labels[r] = id >= 0 ? remap[id] : -1;
    }
out:
    free(sorted);
    free(remap);
    return st;
}

ts_status ts_dataset_parse_csv(ts_dataset *ds, const char *buf, size_t len,
                               const char *name, const char *base_dir, int limit)
{
    line_reader lr;
    lr_init(&lr, buf, len);
    ts_status st = TS_OK;
    char **f = malloc((CSV_MAX_COLS + 1) * sizeof *f);
    csv_column *col = NULL;
    int n_cols = 0, first_row = ds->n_rows, cap_ids = 0, r;
    if (!f) return LR_OOM(name);

    /* The header: path, then one trait per column. */
    while ((r = lr_next(&lr)) == 1 && blank(lr.line)) {}
    if (r < 0) { st = LR_OOM(name); goto out; }
    int n = r == 1 && !lr.has_nul ? split_csv(lr.line, f, CSV_MAX_COLS + 1) : -1;
    if (n < 1 || n > CSV_MAX_COLS) {
        st = ts_error(TS_ERR_FORMAT, "%s:%d: expected a header 'path,TRAIT,...' (1..%d columns)",
                      name, lr.lineno ? lr.lineno : 1, CSV_MAX_COLS);
        goto out;
    }
    if (strcasecmp(f[0], "path") && strcasecmp(f[0], "file") && strcasecmp(f[0], "image") &&
        strcasecmp(f[0], "filename")) {
        st = ts_error(TS_ERR_FORMAT, "%s:%d: the first column must be 'path', not '%.60s'", name,
                      lr.lineno, f[0]);
        goto out;
    }
    n_cols = n - 1;
    col = calloc((size_t)(n_cols ? n_cols : 1), sizeof *col);
    if (!col) { st = LR_OOM(name); goto out; }
    for (int c = 0; c < n_cols; c++) {
        const char *h = f[c + 1];
        bool dup = false;
        for (int d = 0; d < c; d++) dup = dup || !strcmp(col[d].name, h);
        if (!h[0] || dup || ts_dataset_trait_index(ds, h) >= 0) {
            st = ts_error(TS_ERR_FORMAT, "%s:%d: column %d's name '%.60s' is empty or repeated", name,
                          lr.lineno, c + 2, h);
            goto out;
        }
        col[c].name = strdup(h);
        col[c].values = malloc((TS_CSV_MAX_CLASSES + 1) * sizeof(char *));
        if (!col[c].name || !col[c].values) { st = LR_OOM(name); goto out; }
    }

    /* Rows.  Label ids are kept per column until the classes are known. */
    int ids_row[CSV_MAX_COLS];
    while (!limit_reached(ds, limit) && (r = lr_next(&lr)) == 1) {
        if (blank(lr.line)) continue;
        if (lr.has_nul) {
            ds_warn(ds, "%s:%d: NUL byte in the line; row skipped", name, lr.lineno);
            continue;
        }
        n = split_csv(lr.line, f, CSV_MAX_COLS + 1);
        if (n < 0) {
            ds_warn(ds, "%s:%d: unterminated or misplaced quote; row skipped", name, lr.lineno);
            continue;
        }
        if (n != n_cols + 1) {
            ds_warn(ds, "%s:%d: expected %d fields, found %d; row skipped", name, lr.lineno, n_cols + 1, n);
            continue;
        }
        if (!f[0][0]) {
            ds_warn(ds, "%s:%d: empty path; row skipped", name, lr.lineno);
            continue;
        }
        /* Linear search over at most TS_CSV_MAX_CLASSES values: label
         * columns have a handful, and a column that grows past the cap is
         * dropped, which bounds the work at rows x cap. */
        for (int c = 0; c < n_cols; c++) {
            const char *v = f[c + 1];
            ids_row[c] = -1;
            if (!v[0] || col[c].dropped) continue;
            for (int k = 0; k < col[c].n_values; k++)
                if (!strcmp(col[c].values[k], v)) { ids_row[c] = k; break; }
            if (ids_row[c] >= 0) continue;
            if (col[c].n_values == TS_CSV_MAX_CLASSES) {
                col[c].dropped = true;
                continue;
            }
            char *copy = strdup(v);
            if (!copy) { st = LR_OOM(name); goto out; }
            ids_row[c] = col[c].n_values;
            col[c].values[col[c].n_values++] = copy;
        }
        int k = ds->n_rows - first_row;
        if (k == cap_ids) {
            cap_ids = cap_ids ? 2 * cap_ids : 256;
            for (int c = 0; c < n_cols; c++) {
                int *ids = realloc(col[c].ids, (size_t)cap_ids * sizeof *ids);
                if (!ids) { st = LR_OOM(name); goto out; }
                col[c].ids = ids;
            }
        }
        for (int c = 0; c < n_cols; c++) col[c].ids[k] = ids_row[c];
        if ((st = ds_add_row(ds, path_join(base_dir, f[0]), NULL, 0)) != TS_OK) goto out;
    }
    if (r < 0) { st = LR_OOM(name); goto out; }
    for (int c = 0; c < n_cols && st == TS_OK; c++) st = csv_finish_column(ds, &col[c], first_row, name);
out:
    for (int c = 0; col && c < n_cols; c++) {
        free(col[c].name);
        for (int k = 0; col[c].values && k < col[c].n_values; k++) free(col[c].values[k]);
        free(col[c].values);
        free(col[c].ids);
    }
    free(col);
    free(f);
    lr_clear(&lr);
    return st;
}

/* ---- folders and specs ------------------------------------------------- */

static bool is_image_name(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Sorted image file names in dir.  transfer: full (free each, then the
 * array). */
static ts_status list_images(const char *dir, char ***out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return ts_error(TS_ERR_IO, "%s: %s", dir, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    ts_status st = TS_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) { st = ts_error(TS_ERR_OOM, "%s: out of memory", dir); break; }
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) { st = ts_error(TS_ERR_OOM, "%s: out of memory", dir); break; }
        n++;
    }
    closedir(d);
    if (st != TS_OK) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return TS_OK;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static ts_status load_folder(ts_dataset *ds, const char *dir, int limit)
{
    char **names;
    int n;
    TS_TRY(list_images(dir, &names, &n));
    ts_status st = TS_OK;
    for (int i = 0; i < n && st == TS_OK && !limit_reached(ds, limit); i++)
        st = ds_add_row(ds, path_join(dir, names[i]), NULL, 0);
    free_list(names, n);
    return st;
}

static ts_status load_file_with(ts_dataset *ds, const char *file, const char *dir_for_rows, int limit,
                                ts_status (*parse)(ts_dataset *, const char *, size_t, const char *,
                                                   const char *, int))
{
    uint8_t *buf;
    size_t len;
    TS_TRY(ts_read_file(file, TS_DATASET_MAX_FILE, &buf, &len));
    ts_status st = parse(ds, (const char *)buf, len, file, dir_for_rows, limit);
    free(buf);
    return st;
}

/* DIR/images when it exists, else DIR.  transfer: full. */
static char *images_dir(const char *dir)
{
    char *p = path_join(dir, "images");
    if (p && !stat_is(p, S_IFDIR)) {
        free(p);
        p = strdup(dir);
    }
    return p;
}

static ts_status load_celeba(ts_dataset *ds, const char *dir, int limit)
{
    static const char *const files[] = { "attributes.txt", "list_attr_celeba.txt",
                                         "CelebAMask-HQ-attribute-anno.txt" };
    char *file = NULL;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        file = path_join(dir, files[i]);
        if (!file) return ts_error(TS_ERR_OOM, "out of memory");
        if (stat_is(file, S_IFREG)) break;
        free(file);
        file = NULL;
    }
    if (!file) return ts_error(TS_ERR_IO, "%s: no attributes.txt (CelebA attribute file) in it", dir);
    char *img = images_dir(dir);
    ts_status st = img ? load_file_with(ds, file, img, limit, ts_dataset_parse_celeba)
                       : ts_error(TS_ERR_OOM, "out of memory");
    free(img);
    free(file);
    return st;
}

static ts_status load_utkface(ts_dataset *ds, const char *dir, int limit)
{
    char *csv = path_join(dir, "labels.csv"), *img = images_dir(dir);
    ts_status st = TS_OK;
    if (!csv || !img) {
        st = ts_error(TS_ERR_OOM, "out of memory");
    } else if (stat_is(csv, S_IFREG)) {
        st = load_file_with(ds, csv, img, limit, ts_dataset_parse_utkface);
    } else {
        /* No labels.csv: the labels are in the file names. */
        int idx[TS_UTK_TRAITS], n = 0;
        char **names = NULL;
        st = utk_traits(ds, idx);
        if (st == TS_OK) st = list_images(img, &names, &n);
        for (int i = 0; i < n && st == TS_OK && !limit_reached(ds, limit); i++) {
            int age, gender, race;
            if (ts_utk_parse_name(names[i], &age, &gender, &race) != TS_OK) {
                ds_warn(ds, "%s/%s: not a UTKFace name AGE_GENDER_RACE_DATE.jpg; skipped", img, names[i]);
                continue;
            }
            st = utk_add(ds, idx, path_join(img, names[i]), age, gender, race);
        }
        free_list(names, n);
        if (st == TS_OK && n == 0)
            st = ts_error(TS_ERR_IO, "%s: no labels.csv and no images in %s", dir, img);
    }
    free(csv);
    free(img);
    return st;
}

/* Fold number of "PREFIX<digits>_data.txt", or -1. */
static int fold_number(const char *name, const char *prefix)
{
    size_t p = strlen(prefix);
    if (strncmp(name, prefix, p) != 0) return -1;
    const char *s = name + p;
    int v = 0, digits = 0;
    while (isdigit((unsigned char)*s) && digits < 6) v = v * 10 + (*s++ - '0'), digits++;
    return digits && !strcmp(s, "_data.txt") ? v : -1;
}

typedef struct fold_file { int fold; char *name; } fold_file;

static int cmp_fold(const void *a, const void *b)
{
    const fold_file *x = a, *y = b;
    return (x->fold > y->fold) - (x->fold < y->fold);
}

/* The five cross-validation folds fold_0..4 hold every face once; the
 * fold_frontal_N files are a subset of the same faces, so reading both
 * would duplicate rows.  Frontal files are read only when they are all
 * there is.  Folds are read in numeric order (fold_10 after fold_9). */
static ts_status load_adience(ts_dataset *ds, const char *dir, int limit)
{
    DIR *d = opendir(dir);
    if (!d) return ts_error(TS_ERR_IO, "%s: %s", dir, strerror(errno));
    fold_file *folds = NULL;
    int n = 0, cap = 0;
    ts_status st = TS_OK;
    for (int pass = 0; pass < 2 && n == 0 && st == TS_OK; pass++) {
        const char *prefix = pass == 0 ? "fold_" : "fold_frontal_";
        rewinddir(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            int k = fold_number(e->d_name, prefix);
            if (k < 0) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                fold_file *nf = realloc(folds, (size_t)cap * sizeof *nf);
                if (!nf) { st = ts_error(TS_ERR_OOM, "out of memory"); break; }
                folds = nf;
            }
            folds[n].fold = k;
            if (!(folds[n].name = path_join(dir, e->d_name))) { st = ts_error(TS_ERR_OOM, "out of memory"); break; }
            n++;
        }
    }
    closedir(d);
    if (st == TS_OK && n == 0) st = ts_error(TS_ERR_IO, "%s: no fold_N_data.txt (Adience fold file) in it", dir);
    if (n) qsort(folds, (size_t)n, sizeof *folds, cmp_fold);

    /* faces/ (coarse tilt aligned crops) is the usual download; the
     * landmark-aligned release unpacks to aligned/ with its own prefix. */
    char *faces = path_join(dir, "faces");
    const char *prefix = "coarse_tilt_aligned_face";
    if (faces && !stat_is(faces, S_IFDIR)) {
        char *aligned = path_join(dir, "aligned");
        if (aligned && stat_is(aligned, S_IFDIR)) {
            free(faces);
            faces = aligned;
            prefix = "landmark_aligned_face";
        } else {
            free(aligned);
        }
    }
    if (!faces && st == TS_OK) st = ts_error(TS_ERR_OOM, "out of memory");
    for (int i = 0; i < n && st == TS_OK && !limit_reached(ds, limit); i++) {
        uint8_t *buf;
        size_t len;
        st = ts_read_file(folds[i].name, TS_DATASET_MAX_FILE, &buf, &len);
        if (st != TS_OK) break;
        st = ts_dataset_parse_adience(ds, (const char *)buf, len, folds[i].name, faces, prefix, limit);
        free(buf);
    }
    for (int i = 0; i < n; i++) free(folds[i].name);
    free(folds);
    free(faces);
    return st;
}

static ts_status load_csv(ts_dataset *ds, const char *file, int limit)
{
    struct stat sb;
    if (stat(file, &sb) != 0) return ts_error(TS_ERR_IO, "%s: %s", file, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return ts_error(TS_ERR_IO, "%s: not a file", file);
    char *base = strdup(file);
    if (!base) return ts_error(TS_ERR_OOM, "out of memory");
    char *slash = strrchr(base, '/');
    /* The CSV's folder: "/" for a file at the root, "" (the working
     * directory) for a bare file name. */
    if (slash) slash == base ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
    else strcpy(base, "");
    ts_status st = load_file_with(ds, file, base, limit, ts_dataset_parse_csv);
    free(base);
    return st;
}

ts_status ts_dataset_load(ts_dataset *ds, const char *spec, int limit)
{
    ts_dataset_init(ds);
    static const char *const kinds[] = { "celeba", "utkface", "adience", "csv", "folder" };
    const char *kind = NULL, *where = spec;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t k = strlen(kinds[i]);
        if (!strncmp(spec, kinds[i], k) && spec[k] == ':') {
            kind = kinds[i];
            where = spec + k + 1;
        }
    }
    /* No known prefix: only a folder is accepted, so a typo such as
     * "celebA:DIR" fails loudly instead of loading an unlabelled folder. */
    if (!kind) {
        if (!stat_is(spec, S_IFDIR))
            return ts_error(TS_ERR_ARG,
                            "dataset '%s': expected celeba:DIR, utkface:DIR, adience:DIR, csv:FILE, "
                            "folder:DIR or a folder of images", spec);
        kind = "folder";
    }
    if (!where[0]) return ts_error(TS_ERR_ARG, "dataset '%s': no path after '%s:'", spec, kind);
    if (strcmp(kind, "csv") != 0 && !stat_is(where, S_IFDIR))
        return ts_error(TS_ERR_IO, "%s: %s", where, stat_is(where, S_IFREG) ? "not a folder" : strerror(ENOENT));

    ts_status st;
    if (!strcmp(kind, "celeba")) st = load_celeba(ds, where, limit);
    else if (!strcmp(kind, "utkface")) st = load_utkface(ds, where, limit);
    else if (!strcmp(kind, "adience")) st = load_adience(ds, where, limit);
    else if (!strcmp(kind, "csv")) st = load_csv(ds, where, limit);
    else st = load_folder(ds, where, limit);
    /* Rows may all have been skipped (their warnings say why): an empty
     * dataset is an error, never a run over nothing that exits 0. */
    if (st == TS_OK && ds->n_rows == 0)
        st = ts_error(TS_ERR_FORMAT, "dataset '%s' has no usable rows%s%s%s", spec,
                      ds->n_warnings ? " (" : "", ds->n_warnings ? ds->warnings[0] : "", ds->n_warnings ? ")" : "");
    if (st == TS_OK) {
        ds->spec = strdup(spec);
        ds->kind = strdup(kind);
        if (!ds->spec || !ds->kind) st = ts_error(TS_ERR_OOM, "out of memory");
    }
    if (st != TS_OK) ts_dataset_clear(ds);
    return st;
}
