/* split.h - the stratified, seeded train/test split a model records.
 *
 * For a trait, each class's rows are shuffled on their own (Fisher-Yates
 * with ts_rng, seeded from the split seed and the class index) and the
 * first round(test_fraction * n_class) of them go to the test set, so each
 * class keeps its share in both sets to within half an image (the LACNN
 * paper: "training and test sets contain a similar distribution").  Rows
 * excluded from the trait (label -1) are in neither set.  Without a trait
 * every row is one class.  The same dataset, trait, fraction and seed give
 * the same split on every machine (ts_rng is integer-only; fractions are
 * rounded in double).
 *
 * Invariants: train and test are ascending, disjoint row indices in
 * [0, n_rows).
 *
 * File (JSON, written atomically):
 *   {"format":"traitscope-split","version":1,"trait":"gender"|null,
 *    "seed":"42","test_fraction":0.2,"rows":10000,
 *    "fingerprint":"<16 hex digits>","train":[...],"test":[...]}
 * "seed" is a decimal string so that 64-bit seeds survive JSON doubles.
 * "fingerprint" is ts_dataset_fingerprint() of the dataset the split was
 * made on; ts_split_check() compares it, so a model never evaluates on a
 * different dataset by accident.
 */
#ifndef TS_SPLIT_H
#define TS_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/status.h"
#include "data/dataset.h"

typedef struct ts_split {
    char *trait;          /* NULL: unstratified, every row */
    uint64_t seed;
    double test_fraction;
    int n_rows;           /* rows of the dataset it was made for */
    uint64_t fingerprint;
    int n_train, n_test;
    int *train, *test;    /* ascending row indices */
} ts_split;

#define TS_SPLIT_DEFAULT_SEED 20180713u /* any fixed value; kept stable */
#define TS_SPLIT_MAX_FILE (64u << 20)

void ts_split_init(ts_split *s);
void ts_split_clear(ts_split *s);

/* Makes the split.  trait NULL or "" = unstratified.  TS_ERR_ARG for an
 * unknown trait or a fraction outside (0, 1). */
ts_status ts_split_make(ts_split *s, const ts_dataset *ds, const char *trait,
                        double test_fraction, uint64_t seed);

/* A training run's validation carve-out (train/job.h): val_fraction of the
 * split's training rows, class by class of `trait` (the rows it leaves out,
 * label -1, form a class of their own), each class shuffled with its own
 * stream of `seed`; *val and *rest (the rows left for training) ascending,
 * both allocated (free()) even when empty.  val_fraction 0: no validation. */
ts_status ts_split_carve(const ts_split *s, const ts_trait *trait, double val_fraction, uint64_t seed,
                         int **rest, int *n_rest, int **val, int *n_val);

ts_status ts_split_save(const ts_split *s, const char *path);
ts_status ts_split_load(ts_split *s, const char *path);
/* Parses a split file from memory (untrusted); `name` for messages. */
ts_status ts_split_parse(ts_split *s, const char *buf, size_t len, const char *name);
/* transfer: full (free()).  The JSON text of the file. */
char *ts_split_to_json(const ts_split *s);

/* TS_ERR_FORMAT unless the split was made on this dataset (same row count
 * and fingerprint; the trait exists and labels every row in the split). */
ts_status ts_split_check(const ts_split *s, const ts_dataset *ds);

/* FNV-1a 64 over the rows' file names (the part after the last '/'), in
 * order, so the same data in another folder has the same fingerprint. */
uint64_t ts_dataset_fingerprint(const ts_dataset *ds);

#endif
