/* split.c - stratified seeded train/test split and its JSON file; see
 * split.h for the method and the file layout. */
#include "data/split.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "nn/fileio.h"
#include "nn/tensor.h"

void ts_split_init(ts_split *s) { memset(s, 0, sizeof *s); }

void ts_split_clear(ts_split *s)
{
    if (!s) return;
    free(s->trait);
    free(s->train);
    free(s->test);
    memset(s, 0, sizeof *s);
}

uint64_t ts_dataset_fingerprint(const ts_dataset *ds)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int r = 0; r < ds->n_rows; r++) {
        const char *p = ds->paths[r], *slash = strrchr(p, '/');
        for (const unsigned char *c = (const unsigned char *)(slash ? slash + 1 : p); *c; c++) {
            h ^= *c;
            h *= 0x100000001b3ull;
        }
        h ^= '\n';
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Integer in [0, n) from the top 32 bits by multiply-shift (Lemire): no
 * division, no floating point, so every machine draws the same index; the
 * bias is below n / 2^32, irrelevant for a shuffle of a dataset. */
static uint32_t rng_below(ts_rng *rng, uint32_t n)
{
    return (uint32_t)(((ts_rng_next(rng) >> 32) * (uint64_t)n) >> 32);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

ts_status ts_split_make(ts_split *s, const ts_dataset *ds, const char *trait,
                        double test_fraction, uint64_t seed)
{
    ts_split_init(s);
    if (!(test_fraction > 0 && test_fraction < 1))
        return ts_error(TS_ERR_ARG, "split: test fraction %g is not in (0, 1)", test_fraction);
    const ts_trait *t = NULL;
    if (trait && trait[0]) {
        t = ts_dataset_trait(ds, trait);
        if (!t) return ts_error(TS_ERR_ARG, "split: the dataset has no trait '%s'", trait);
    }
    int n = ds->n_rows, n_classes = t ? t->n_classes : 1;
    int *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
    s->train = malloc((size_t)(n ? n : 1) * sizeof *s->train);
    s->test = malloc((size_t)(n ? n : 1) * sizeof *s->test);
    s->trait = t ? strdup(trait) : NULL;
    if (!rows || !s->train || !s->test || (t && !s->trait)) {
        free(rows);
        ts_split_clear(s);
        return ts_error(TS_ERR_OOM, "split: out of memory for %d rows", n);
    }
    s->seed = seed;
    s->test_fraction = test_fraction;
    s->n_rows = n;
    s->fingerprint = ts_dataset_fingerprint(ds);
    for (int c = 0; c < n_classes; c++) {
        int m = 0;
        for (int r = 0; r < n; r++)
            if (!t || t->labels[r] == c) rows[m++] = r;
        /* Each class has its own stream: adding rows of one class leaves
         * the others' splits alone. */
        ts_rng rng;
        ts_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(c + 1)));
        for (int i = m - 1; i > 0; i--) {
            int j = (int)rng_below(&rng, (uint32_t)i + 1);
            int tmp = rows[i];
            rows[i] = rows[j];
            rows[j] = tmp;
        }
        /* round(), half up: within half an image of the exact share. */
        int k = (int)floor(test_fraction * m + 0.5);
        for (int i = 0; i < m; i++) {
            if (i < k) s->test[s->n_test++] = rows[i];
            else s->train[s->n_train++] = rows[i];
        }
    }
    free(rows);
    /* Ascending order makes the file diff-able and lets the loader
     * reject duplicates with one comparison per entry. */
    qsort(s->train, (size_t)s->n_train, sizeof *s->train, cmp_int);
    qsort(s->test, (size_t)s->n_test, sizeof *s->test, cmp_int);
    return TS_OK;
}

ts_status ts_split_carve(const ts_split *s, const ts_trait *trait, double val_fraction, uint64_t seed,
                         int **rest, int *n_rest, int **val, int *n_val)
{
    int n = s->n_train;
    size_t cap = (size_t)(n ? n : 1);
    int *idx = malloc(cap * sizeof *idx);
    char *is_val = calloc((size_t)(s->n_rows > 0 ? s->n_rows : 1), 1);
    *rest = malloc(cap * sizeof **rest);
    *val = malloc(cap * sizeof **val);
    *n_rest = *n_val = 0;
    if (!idx || !is_val || !*rest || !*val) {
        free(idx);
        free(is_val);
        free(*rest);
        free(*val);
        *rest = *val = NULL;
        return ts_error(TS_ERR_OOM, "split: out of memory");
    }
    for (int c = -1; c < trait->n_classes && val_fraction > 0; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (trait->labels[s->train[i]] == c) idx[m++] = s->train[i];
        ts_rng rng;
        ts_rng_seed(&rng, seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(c + 2)) ^ 0x76616c6964ull);
        for (int i = m - 1; i > 0; i--) {
            int j = (int)(ts_rng_next(&rng) % (uint64_t)(i + 1));
            int tmp = idx[i];
            idx[i] = idx[j], idx[j] = tmp;
        }
        int take = (int)floor(val_fraction * m + 0.5);
        for (int i = 0; i < take; i++) is_val[idx[i]] = 1;
    }
    for (int i = 0; i < n; i++) {
        int r = s->train[i];
        if (is_val[r]) (*val)[(*n_val)++] = r;
        else (*rest)[(*n_rest)++] = r;
    }
    free(idx);
    free(is_val);
    return TS_OK;
}

char *ts_split_to_json(const ts_split *s)
{
    cJSON *o = cJSON_CreateObject();
    char seed[32], fp[32];
    snprintf(seed, sizeof seed, "%" PRIu64, s->seed);
    snprintf(fp, sizeof fp, "%016" PRIx64, s->fingerprint);
    bool ok = o && cJSON_AddStringToObject(o, "format", "traitscope-split") &&
              cJSON_AddNumberToObject(o, "version", 1) &&
              (s->trait ? cJSON_AddStringToObject(o, "trait", s->trait) != NULL
                        : cJSON_AddNullToObject(o, "trait") != NULL) &&
              cJSON_AddStringToObject(o, "seed", seed) &&
              cJSON_AddNumberToObject(o, "test_fraction", s->test_fraction) &&
              cJSON_AddNumberToObject(o, "rows", s->n_rows) &&
              cJSON_AddStringToObject(o, "fingerprint", fp);
    cJSON *train = ok ? cJSON_CreateIntArray(s->train, s->n_train) : NULL;
    cJSON *test = ok ? cJSON_CreateIntArray(s->test, s->n_test) : NULL;
    if (train) cJSON_AddItemToObject(o, "train", train);
    if (test) cJSON_AddItemToObject(o, "test", test);
    char *text = ok && train && test ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return NULL;
    /* cJSON's buffer is malloc'd by default hooks; hand back a plain copy
     * with a trailing newline so callers free() it. */
    size_t n = strlen(text);
    char *out = malloc(n + 2);
    if (out) {
        memcpy(out, text, n);
        out[n] = '\n';
        out[n + 1] = '\0';
    }
    cJSON_free(text);
    return out;
}

ts_status ts_split_save(const ts_split *s, const char *path)
{
    char *text = ts_split_to_json(s);
    if (!text) return ts_error(TS_ERR_OOM, "%s: out of memory", path);
    ts_status st = ts_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* Reads an array of row indices, each in [0, rows) and not yet seen.
 * `seen` spans both arrays, so a row in train and test is refused too.
 * Doubles are checked before the cast: (int) of 1e300 is undefined. */
static ts_status read_rows(const cJSON *a, const char *name, const char *field, int rows,
                           uint8_t *seen, int **out, int *n_out)
{
    if (!cJSON_IsArray(a)) return ts_error(TS_ERR_FORMAT, "%s: '%s' is not an array", name, field);
    int n = cJSON_GetArraySize(a);
    if (n < 0 || n > rows) return ts_error(TS_ERR_FORMAT, "%s: '%s' has more entries than rows", name, field);
    int *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return ts_error(TS_ERR_OOM, "%s: out of memory", name);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(d >= 0 && d < rows) || d != floor(d) || seen[(int)d] || i >= n) {
            free(v);
            return ts_error(TS_ERR_FORMAT, "%s: '%s' entry %d is not a new row index in [0, %d)", name,
                            field, i, rows);
        }
        seen[(int)d] = 1;
        v[i++] = (int)d;
    }
    for (int k = 1; k < i; k++)
        if (v[k] <= v[k - 1]) {
            free(v);
            return ts_error(TS_ERR_FORMAT, "%s: '%s' is not in ascending order", name, field);
        }
    *out = v;
    *n_out = i;
    return TS_OK;
}

ts_status ts_split_parse(ts_split *s, const char *buf, size_t len, const char *name)
{
    ts_split_init(s);
    cJSON *o = cJSON_ParseWithLength(buf, len);
    if (!o) return ts_error(TS_ERR_FORMAT, "%s: not JSON", name);
    ts_status st = TS_OK;
    uint8_t *seen = NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "version");
    const cJSON *trait = cJSON_GetObjectItemCaseSensitive(o, "trait");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    const cJSON *frac = cJSON_GetObjectItemCaseSensitive(o, "test_fraction");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(o, "rows");
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fingerprint");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "traitscope-split") != 0) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'format' is not \"traitscope-split\"", name);
        goto out;
    }
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) {
        st = ts_error(TS_ERR_UNSUPPORTED, "%s: split file version is not 1", name);
        goto out;
    }
    if (!cJSON_IsNumber(rows) || !(rows->valuedouble >= 0 && rows->valuedouble <= (1 << 30)) ||
        rows->valuedouble != floor(rows->valuedouble)) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'rows' is not a row count", name);
        goto out;
    }
    if (!cJSON_IsNumber(frac) || !(frac->valuedouble > 0 && frac->valuedouble < 1)) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'test_fraction' is not in (0, 1)", name);
        goto out;
    }
    char *end;
    /* The seed is written as a string (64 bits do not fit a JSON double);
     * a plain number is accepted when it is exact. */
    if (cJSON_IsString(seed) && seed->valuestring[0] >= '0' && seed->valuestring[0] <= '9') {
        s->seed = strtoull(seed->valuestring, &end, 10);
        if (*end) seed = NULL;
    } else if (cJSON_IsNumber(seed) && seed->valuedouble >= 0 && seed->valuedouble < 9007199254740992.0) {
        s->seed = (uint64_t)seed->valuedouble;
    } else {
        seed = NULL;
    }
    if (!seed) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'seed' is not a non-negative integer", name);
        goto out;
    }
    if (!cJSON_IsString(fp) || strlen(fp->valuestring) != 16 ||
        strspn(fp->valuestring, "0123456789abcdefABCDEF") != 16) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'fingerprint' is not 16 hex digits", name);
        goto out;
    }
    s->fingerprint = strtoull(fp->valuestring, NULL, 16);
    if (cJSON_IsString(trait) && trait->valuestring[0]) {
        if (!(s->trait = strdup(trait->valuestring))) { st = ts_error(TS_ERR_OOM, "%s: out of memory", name); goto out; }
    } else if (trait && !cJSON_IsNull(trait)) {
        st = ts_error(TS_ERR_FORMAT, "%s: 'trait' is neither a name nor null", name);
        goto out;
    }
    s->n_rows = (int)rows->valuedouble;
    s->test_fraction = frac->valuedouble;
    seen = calloc((size_t)s->n_rows + 1, 1);
    if (!seen) { st = ts_error(TS_ERR_OOM, "%s: out of memory", name); goto out; }
    st = read_rows(cJSON_GetObjectItemCaseSensitive(o, "train"), name, "train", s->n_rows, seen,
                   &s->train, &s->n_train);
    if (st == TS_OK)
        st = read_rows(cJSON_GetObjectItemCaseSensitive(o, "test"), name, "test", s->n_rows, seen,
                       &s->test, &s->n_test);
out:
    free(seen);
    cJSON_Delete(o);
    if (st != TS_OK) ts_split_clear(s);
    return st;
}

ts_status ts_split_load(ts_split *s, const char *path)
{
    uint8_t *buf;
    size_t len;
    ts_split_init(s);
    TS_TRY(ts_read_file(path, TS_SPLIT_MAX_FILE, &buf, &len));
    ts_status st = ts_split_parse(s, (const char *)buf, len, path);
    free(buf);
    return st;
}

ts_status ts_split_check(const ts_split *s, const ts_dataset *ds)
{
    if (s->n_rows != ds->n_rows)
        return ts_error(TS_ERR_FORMAT, "split: made for %d rows, the dataset has %d", s->n_rows, ds->n_rows);
    uint64_t fp = ts_dataset_fingerprint(ds);
    if (fp != s->fingerprint)
        return ts_error(TS_ERR_FORMAT, "split: made for other images (fingerprint %016" PRIx64
                        ", the dataset's is %016" PRIx64 ")", s->fingerprint, fp);
    /* The fingerprint covers file names, not labels: check that the trait
     * still labels every row of the split (a relabelled file would not). */
    if (!s->trait) return TS_OK;
    const ts_trait *t = ts_dataset_trait(ds, s->trait);
    if (!t) return ts_error(TS_ERR_FORMAT, "split: the dataset has no trait '%s'", s->trait);
    for (int i = 0; i < s->n_train + s->n_test; i++) {
        int r = i < s->n_train ? s->train[i] : s->test[i - s->n_train];
        if (r < 0 || r >= ds->n_rows || t->labels[r] < 0)
            return ts_error(TS_ERR_FORMAT, "split: row %d has no '%s' label", r, s->trait);
    }
    return TS_OK;
}
