/* eval.h - evaluating trained models: accuracy with a confidence interval,
 * 1-off accuracy for age groups, ten-crop oversampling, test-set swapping,
 * and McNemar's test for comparing two models on the same images.
 *
 * Statistics:
 *   Wilson score interval (Wilson 1927) for k successes in n trials at
 *   normal quantile z (1.959964 for 95%):
 *     centre = (p + z^2/2n) / (1 + z^2/n),
 *     half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2),  p = k/n.
 *   McNemar's test on the discordant pairs b (model A right, B wrong) and
 *   c (A wrong, B right): when b + c < 25 the exact two-sided binomial
 *   test, p = min(1, 2 * sum_{i <= min(b,c)} C(b+c, i) / 2^(b+c)); else the
 *   chi-square statistic with continuity correction (|b - c| - 1)^2/(b + c)
 *   on one degree of freedom, p = erfc(sqrt(chi2 / 2)).  b + c = 0 gives
 *   p = 1.
 *
 * Which images: a model trained by job.h records its split (seed, test
 * fraction, trait, dataset fingerprint, row limit); "test" re-makes it on
 * the given data and refuses data with another fingerprint; "all" uses
 * every row the trait labels.  Alignment: the model's own (its metadata)
 * unless overridden, which is the test-set swapping of Lapuschkin et al.
 * (Tables 4-5): a model trained on one alignment evaluated on faces
 * prepared with another.  Oversampling averages the class probabilities of
 * the ten crops (sample.h).
 */
#ifndef TS_EVAL_H
#define TS_EVAL_H

#include <stdbool.h>

#include "backend/backend.h"
#include "nn/model.h"
#include "train/faceset.h"

#define TS_Z95 1.959963984540054

void ts_wilson_interval(int k, int n, double z, double *lo, double *hi);

typedef struct ts_mcnemar {
    int b, c;          /* discordant counts */
    double statistic;  /* chi-square (continuity-corrected); 0 for the exact test */
    double p;          /* two-sided p-value */
    bool exact;        /* the binomial test was used */
} ts_mcnemar;

void ts_mcnemar_test(int b, int c, ts_mcnemar *out);

/* True for a multi-label model trained with sigmoid outputs (one output per
 * trait; its training metadata says "loss":"sigmoid"). */
bool ts_model_is_multilabel(const ts_model *m);

/* Class probabilities (softmax; sigmoid per output for multi-label models)
 * of every face: probs is fs->n * K floats, K = the model's classes.
 * oversample averages the ten crops.  batch >= 1. */
ts_status ts_eval_predict(ts_model *m, const ts_faceset *fs, bool oversample, int batch, float *probs,
                          ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort, void *user);

/* The same, for the batches b with b % parts == part only (0 <= part <
 * parts): the rows of the other batches stay 0, so summing the probs of
 * parts 0..parts-1 (an all-reduce over ranks, train/dist.h) gives exactly
 * what ts_eval_predict gives: every batch is the one it would have run.
 * The graph's step counter advances by the number of batches of the whole
 * set, whichever ran, so that later dropout masks do not depend on the
 * part.  progress counts this part's faces. */
ts_status ts_eval_predict_part(ts_model *m, const ts_faceset *fs, bool oversample, int batch, int part, int parts,
                               float *probs, ts_faceset_progress_fn progress, ts_faceset_abort_fn should_abort,
                               void *user);

/* Which of the dataset's rows: the model's test split (as its training run
 * made it), its validation split (carved out of the training part by the
 * run: for choosing between models without touching the test split), or
 * every labelled row. */
typedef enum ts_eval_split { TS_EVAL_TEST = 0, TS_EVAL_VAL, TS_EVAL_ALL } ts_eval_split;

/* "test", "val", "all"; false for anything else. */
bool ts_eval_split_parse(const char *name, ts_eval_split *out);
const char *ts_eval_split_name(ts_eval_split s);

typedef struct ts_eval_options {
    const char *data;       /* dataset spec */
    ts_eval_split split;    /* test */
    bool oversample;
    bool align_override;    /* use `align` instead of the model's */
    ts_alignment align;
    int limit;              /* rows to load; -1: the model's training limit */
    const char *cache_dir;
    int batch;              /* 0: 50 */
    int threads;            /* face preparation; 0: 2 */
    const char *traits;     /* NULL: all the model's traits; else a comma list of some of them
                             * (a multi-label model on data that labels only some, e.g.
                             * a CelebA-HQ net's gender on UTKFace) */
    int shard_index, shard_count; /* shard_count > 1: only block shard_index of the rows:
                                   * contiguous blocks of whole batches of the whole set
                                   * (cli/shard.h's formula over units of the fewest faces
                                   * that fill whole batches), predicted in the whole set's
                                   * batches, so the blocks' counts add up to the whole's
                                   * and their probabilities are the whole's, bit for bit
                                   * (while no face fails to load) */
} ts_eval_options;

#define TS_EVAL_MAX_TRAITS 16
#define TS_EVAL_MAX_CLASSES 64 /* per trait, for the per-class counts */

typedef struct ts_eval_trait {
    char name[64];
    int output;                       /* the model output (multi-label) this trait reads */
    int n, correct;
    double accuracy, lo, hi;          /* Wilson 95% */
    double balanced;                  /* mean recall over the classes present */
    int n_classes;
    char **classes;                   /* n_classes names (owned by the result) */
    bool has_one_off;                 /* ordered age groups */
    int one_off_correct;
    double one_off, one_off_lo, one_off_hi;
    int class_n[TS_EVAL_MAX_CLASSES];       /* labelled images per true class */
    int class_correct[TS_EVAL_MAX_CLASSES]; /* ... of them predicted right */
} ts_eval_trait;

/* The figures of a trait from its counts (n, correct, one_off_correct,
 * class_n, class_correct over n_classes): accuracy and its Wilson interval,
 * balanced accuracy (the classes' recalls summed in class order), 1-off.
 * What ts_eval_run does; a merge of shards' counts calls it too, so that
 * the numbers come out the same. */
void ts_eval_trait_finish(ts_eval_trait *et);

typedef struct ts_eval_result {
    int n_images;          /* faces evaluated */
    int n_skipped;         /* images that could not be prepared */
    int n_skipped_kept;    /* the first of them, in row order, with why */
    ts_faceset_skip skipped[TS_FACESET_SKIPS_KEPT];
    int n_traits;
    ts_eval_trait traits[TS_EVAL_MAX_TRAITS];
    int *rows;             /* n_images dataset rows */
    int *pred;             /* n_images * n_traits predicted class (-1 none) */
    int *label;            /* n_images * n_traits true class (-1 excluded) */
    char **paths;          /* n_images image paths (owned) */
    int n_outputs;         /* the model's outputs (K) */
    bool multilabel;       /* sigmoid outputs, one per trait */
    float *probs;          /* n_images * n_outputs: softmax, or sigmoid per output */
    char split[8];         /* ts_eval_split_name: "test", "val" or "all" */
    ts_alignment align;    /* the alignment the faces were prepared with */
    bool swapped;          /* align differs from the model's */
    bool oversample;
    int dataset_rows;
    int rows_total;        /* rows of the split before sharding */
    int rows_first, rows_end; /* the block evaluated: [first, end) of them */
} ts_eval_result;

/* Evaluates a loaded model.  progress/abort as in faceset.h (preparing,
 * then predicting: two passes of done/total).  TS_ERR_ARG when the data
 * lacks the model's trait or its classes differ, or "test" or "val" is
 * asked for a model without a recorded split (or validation) or on other
 * data. */
ts_status ts_eval_run(ts_model *m, const ts_eval_options *o, ts_faceset_progress_fn progress,
                      ts_faceset_abort_fn should_abort, void *user, ts_eval_result *r);
void ts_eval_result_clear(ts_eval_result *r);

/* One JSON line per evaluated image, written atomically to `path`:
 *   {"path":P,"row":R,"traits":{T:{"label":L|null,"prediction":C,
 *    "correct":b|null,"probabilities":{class:p,...}},...}}
 * (a multi-label output's probability p of class 1 appears as
 * {class0: 1-p, class1: p}), so any other model can be compared image by
 * image.  TS_ERR_IO naming the file. */
ts_status ts_eval_write_per_image(const ts_eval_result *r, const char *path);

/* The dataset rows a model's recorded split assigns to test (or to
 * validation, or every row labelled for its trait with all).  Used by eval and compare so both
 * models see the same images.  transfer: full (*rows, free()). */
ts_status ts_eval_rows(const ts_model *m, const ts_dataset *ds, ts_eval_split split, int **rows, int *n);
/* The same for some of its traits (names: nt of them): "all" takes the
 * rows that label at least one of them. */
ts_status ts_eval_rows_of(const ts_model *m, const ts_dataset *ds, ts_eval_split split, const char (*names)[64], int nt,
                          int **rows, int *n);

/* The dataset row limit a model was trained with (0 = none, -1 unknown). */
int ts_model_training_limit(const ts_model *m);

#endif
