/* test-data-real.c - the dataset readers on the real face data in
 * $TS_SHARED_DATA (../shared/data: celebahq/ and utkface/, see its
 * README.md).  Exits 77 when the data is absent.
 *
 * Checks: 10,000 rows in each, no warnings; every trait's class balance
 * printed and sanity-checked against what is known of the data (both
 * classes present, shares in plausible ranges); image paths exist; the
 * UTKFace labels.csv and the UTKFace file names agree row for row; broken
 * lines in a temp copy of a small attribute file are reported with the
 * right line numbers and skipped; the stratified split of real traits keeps
 * every class's share within one image.  Times are printed, not asserted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/split.h"
#include "data/traits.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Prints the class balance; returns the share of class c among labelled. */
static double balance(const ts_dataset *ds, const char *name, int c)
{
    const ts_trait *t = ts_dataset_trait(ds, name);
    CHECK(t != NULL);
    if (!t) return -1;
    int counts[64] = { 0 };
    int excluded = ts_trait_class_counts(t, ds->n_rows, counts);
    int labelled = ds->n_rows - excluded;
    printf("  %-11s", t->name);
    for (int k = 0; k < t->n_classes; k++)
        printf(" %s %d (%.1f%%)", t->classes[k], counts[k], labelled ? 100.0 * counts[k] / labelled : 0.0);
    printf("; excluded %d\n", excluded);
    for (int k = 0; k < t->n_classes; k++) CHECK(counts[k] > 0);
    return labelled ? (double)counts[c] / labelled : -1;
}

static void check_split(const ts_dataset *ds, const char *trait)
{
    const ts_trait *t = ts_dataset_trait(ds, trait);
    ts_split s;
    if (!t || ts_split_make(&s, ds, trait, 0.2, TS_SPLIT_DEFAULT_SEED) != TS_OK) {
        CHECK(!"split");
        return;
    }
    int all[64] = { 0 }, te[64] = { 0 };
    ts_trait_class_counts(t, ds->n_rows, all);
    for (int i = 0; i < s.n_test; i++) te[t->labels[s.test[i]]]++;
    printf("  split %s: train %d test %d;", trait, s.n_train, s.n_test);
    for (int c = 0; c < t->n_classes; c++) {
        printf(" %s %d/%d", t->classes[c], te[c], all[c]);
        CHECK(fabs(te[c] - 0.2 * all[c]) <= 1.0);
    }
    printf("\n");
    CHECK(ts_split_check(&s, ds) == TS_OK);
    ts_split_clear(&s);
}

static void test_celeba(const char *root)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "celeba:%s/celebahq", root);
    ts_dataset ds;
    double t0 = now();
    ts_status st = ts_dataset_load(&ds, spec, 0);
    double dt = now() - t0;
    CHECK(st == TS_OK);
    if (st != TS_OK) {
        fprintf(stderr, "%s\n", ts_last_error());
        return;
    }
    printf("celebahq: %d rows, %d traits, %d warnings, loaded in %.1f ms\n", ds.n_rows, ds.n_traits,
           ds.n_warnings_total, 1e3 * dt);
    CHECK(ds.n_rows == 10000);
    CHECK(ds.n_traits == TS_CELEBA_TRAITS);
    CHECK(ds.n_warnings_total == 0);
    /* CelebA-HQ is about 37% male, 77% young, 47% smiling (CelebA
     * statistics); allow wide margins, these catch inverted or garbled
     * labels, not drift. */
    double male = balance(&ds, "gender", 1);
    double young = balance(&ds, "age", 0);
    double makeup = balance(&ds, "makeup", 1);
    double joy = balance(&ds, "emotion", 0);
    double attractive = balance(&ds, "attractive", 1);
    double chubby = balance(&ds, "chubby", 1);
    double dark = balance(&ds, "hair", 0);
    CHECK(male > 0.25 && male < 0.55);
    CHECK(young > 0.6 && young < 0.9);
    CHECK(makeup > 0.2 && makeup < 0.6);
    CHECK(joy > 0.3 && joy < 0.7);
    CHECK(attractive > 0.3 && attractive < 0.7);
    CHECK(chubby > 0.01 && chubby < 0.2);
    CHECK(dark > 0.5 && dark < 0.9);
    const ts_trait *hair = ts_dataset_trait(&ds, "hair");
    int hc[2];
    int hair_excluded = hair ? ts_trait_class_counts(hair, ds.n_rows, hc) : -1;
    CHECK(hair_excluded > 1000 && hair_excluded < 5000); /* no/both hair colours */
    /* Every image a row names is there (spot-check every 97th). */
    int missing = 0;
    for (int r = 0; r < ds.n_rows; r += 97) missing += !exists(ds.paths[r]);
    CHECK(missing == 0);
    check_split(&ds, "gender");
    check_split(&ds, "hair");
    ts_dataset_clear(&ds);

    /* --limit */
    CHECK(ts_dataset_load(&ds, spec, 25) == TS_OK && ds.n_rows == 25 && ds.n_warnings_total == 0);
    ts_dataset_clear(&ds);
}

static void test_celeba_broken(const char *root)
{
    /* A temp copy of the first 20 rows with three lines broken. */
    char src[1024];
    snprintf(src, sizeof src, "%s/celebahq/attributes.txt", root);
    FILE *in = fopen(src, "rb");
    CHECK(in != NULL);
    if (!in) return;
    char tmp[] = "/tmp/ts-test-data-real-XXXXXX";
    if (!mkdtemp(tmp)) {
        CHECK(!"mkdtemp");
        fclose(in);
        return;
    }
    char dst[256];
    snprintf(dst, sizeof dst, "%s/attributes.txt", tmp);
    FILE *out = fopen(dst, "wb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while (out && lineno < 22 && (n = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (lineno == 1) fputs("20\n", out);
        else if (lineno == 5) fputs("broken.jpg 1 -1 1\n", out);           /* too few values */
        else if (lineno == 9) { line[n / 2] = 'X'; fputs(line, out); }     /* a garbled value */
        else if (lineno == 17) fputs("\n", out);                           /* blank: ignored, no row */
        else if (lineno == 20) fputs("20.jpg 1 1 1\n", out);
        else fputs(line, out);
    }
    free(line);
    fclose(in);
    if (out) fclose(out);
    char spec[300];
    snprintf(spec, sizeof spec, "celeba:%s", tmp);
    ts_dataset ds;
    ts_status st = ts_dataset_load(&ds, spec, 0);
    CHECK(st == TS_OK);
    if (st == TS_OK) {
        printf("broken copy: %d rows, %d warnings\n", ds.n_rows, ds.n_warnings_total);
        for (int i = 0; i < ds.n_warnings; i++) printf("  %s\n", ds.warnings[i]);
        /* 20 data lines, 3 broken, 1 blank: 16 rows. */
        CHECK(ds.n_rows == 16);
        char want[400];
        int lines[] = { 5, 9, 20 };
        for (int k = 0; k < 3; k++) {
            snprintf(want, sizeof want, "%s:%d:", dst, lines[k]);
            bool found = false;
            for (int i = 0; i < ds.n_warnings; i++) found = found || strstr(ds.warnings[i], want);
            CHECK(found);
        }
        /* 3 row warnings and the count mismatch. */
        CHECK(ds.n_warnings_total == 4);
    }
    ts_dataset_clear(&ds);
    unlink(dst);
    rmdir(tmp);
}

static int cmp_path_base(const ts_dataset *a, int i, const ts_dataset *b, int j)
{
    const char *x = strrchr(a->paths[i], '/'), *y = strrchr(b->paths[j], '/');
    return strcmp(x ? x + 1 : a->paths[i], y ? y + 1 : b->paths[j]);
}

static void test_utkface(const char *root)
{
    char spec[1024];
    snprintf(spec, sizeof spec, "utkface:%s/utkface", root);
    ts_dataset ds;
    double t0 = now();
    ts_status st = ts_dataset_load(&ds, spec, 0);
    double dt = now() - t0;
    CHECK(st == TS_OK);
    if (st != TS_OK) {
        fprintf(stderr, "%s\n", ts_last_error());
        return;
    }
    printf("utkface: %d rows, %d traits, %d warnings, loaded in %.1f ms\n", ds.n_rows, ds.n_traits,
           ds.n_warnings_total, 1e3 * dt);
    CHECK(ds.n_rows == 10000);
    CHECK(ds.n_warnings_total == 0);
    double white = balance(&ds, "ethnicity", 0);
    double male = balance(&ds, "gender", 1);
    balance(&ds, "age-group", 0);
    CHECK(white > 0.3 && white < 0.6);  /* UTKFace: about 42% White */
    CHECK(male > 0.4 && male < 0.6);
    const ts_trait *eth = ts_dataset_trait(&ds, "ethnicity");
    int ec[2];
    int eth_excluded = eth ? ts_trait_class_counts(eth, ds.n_rows, ec) : -1;
    CHECK(eth_excluded >= 0 && eth_excluded < 50); /* blank race only */
    const ts_trait *age = ts_dataset_trait(&ds, "age-group");
    int ac[TS_AGE_GROUPS];
    CHECK(age && ts_trait_class_counts(age, ds.n_rows, ac) == 0);
    int missing = 0;
    for (int r = 0; r < ds.n_rows; r += 97) missing += !exists(ds.paths[r]);
    CHECK(missing == 0);
    check_split(&ds, "age-group");
    check_split(&ds, "ethnicity");

    /* The file names alone (DIR/images has no labels.csv) give the same
     * labels.  The CSV lists the files in name order too. */
    char spec2[1100];
    snprintf(spec2, sizeof spec2, "utkface:%s/utkface/images", root);
    ts_dataset byname;
    t0 = now();
    st = ts_dataset_load(&byname, spec2, 0);
    dt = now() - t0;
    CHECK(st == TS_OK);
    if (st == TS_OK) {
        printf("utkface by file name: %d rows, %d warnings, loaded in %.1f ms\n", byname.n_rows,
               byname.n_warnings_total, 1e3 * dt);
        CHECK(byname.n_rows == ds.n_rows);
        int mismatches = 0;
        for (int r = 0; r < ds.n_rows && r < byname.n_rows; r++) {
            if (cmp_path_base(&ds, r, &byname, r) != 0) {
                mismatches++;
                continue;
            }
            for (int t = 0; t < ds.n_traits; t++)
                if (ds.traits[t].labels[r] != byname.traits[t].labels[r]) mismatches++;
        }
        printf("  csv vs file names: %d mismatches\n", mismatches);
        CHECK(mismatches == 0);
        ts_dataset_clear(&byname);
    }
    ts_dataset_clear(&ds);
}

int main(void)
{
    const char *root = getenv("TS_SHARED_DATA");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/celebahq/attributes.txt", root ? root : "");
    char probe2[1024];
    snprintf(probe2, sizeof probe2, "%s/utkface/labels.csv", root ? root : "");
    if (!root || !exists(probe) || !exists(probe2)) {
        printf("skip: no shared face data at $TS_SHARED_DATA (%s)\n", root ? root : "unset");
        return 77;
    }
    test_celeba(root);
    test_celeba_broken(root);
    test_utkface(root);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("data real: all checks passed\n");
    return 0;
}
