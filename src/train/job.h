/* job.h - a training run as one call: data, split, faces, network, SGD,
 * progress, cancel, per-epoch checkpoints and resume.
 *
 * Flow (ARCHITECTURE.md, "the flow of a training run"):
 *   dataset spec -> rows -> stratified train/test split (data/split.h,
 *      seeded; test_fraction of each class) -> a validation set carved out
 *      of the training part (val_fraction of it, stratified, seeded)
 *   -> faces prepared once (faceset.h: landmark/A(x,y) cache on disk)
 *   -> views (sample.h) made by a prefetch thread, by `augment`:
 *        paper   the LACNN paper's rotations (0, -40, -20, +20, +40
 *                degrees: x5 data) and a random mirror (probability 1/2);
 *        random  one view per face and epoch: rotation U(-20, 20) degrees,
 *                zoom U(0.9, 1.1), shift U(-0.06, 0.06) of the frame,
 *                mirror (1/2), brightness U(-25, 25)/255, contrast
 *                U(0.75, 1.25), and with probability 0.4 a tight crop
 *                (up to 12% of each side, 8% of the bottom, left black);
 *        none    the faces as they are;
 *   -> forward / loss (class-weighted when asked) / backward on the chosen
 *      backend -> SGD (sgd.h; fixed, step or cosine learning rate, warm-up)
 *   -> progress callback and abort poll every step
 *   -> at the end of each epoch: accuracy and balanced accuracy of every
 *      trait on the validation set; the model is written when their mean
 *      balanced accuracy is the best so far (model selection), the training
 *      state always; training stops early after `patience` epochs without
 *      a better one
 *   -> at the end: the selected model is evaluated ONCE on the test split
 *      and the figures go into its metadata.
 * Without validation (val_fraction 0) the model is written after every
 * epoch and the last one is tested.  The test split never takes part in
 * selection; eval_each_epoch (a look at the test curve, not used for any
 * choice) is the one exception, and is off by default.
 *
 * Class weights (sigmoid: per trait; softmax: per class of the trait),
 * from the training faces' class shares p_c over the K classes:
 *   balanced  w_c = 1 / (K p_c), so each class weighs as much in the loss
 *             (a net that answers the majority class gains nothing);
 *   sqrt      w_c proportional to 1 / sqrt(p_c), scaled so the mean weight
 *             of a face is 1: half way, in log terms, to balanced.
 *
 * Losses: softmax cross-entropy over the trait's classes (the LACNN paper's
 * choice: one network per trait), or, with TS_LOSS_SIGMOID, one sigmoid
 * output per trait for a comma-separated list of two-class traits (the
 * paper's eq. 3 multi-label net): output k is P(class 1 of trait k).  A row
 * a trait leaves out (label -1) has its target set to the net's own output
 * for that trait, so that output gets no gradient from the row.
 *
 * Files (OUT is settings.out):
 *   OUT          the model (nn/model.h), the selected epoch's (or, without
 *                validation, the last epoch's); its "training" metadata
 *                holds the settings, the epochs, the split (seed,
 *                fractions, fingerprint, sizes), "history" (per epoch:
 *                loss, training accuracy, learning rate, seconds and the
 *                validation figures of every trait), "validation" (the
 *                selected epoch and its figures), "outputs" (each trait's
 *                classes) and, at the end, "test" (every trait's accuracy,
 *                Wilson 95% interval and balanced accuracy).
 *   OUT.state    the training state (below), rewritten after every epoch.
 *   OUT.split.json  the split (data/split.h's file).
 *   OUT.lock     held while the run lasts (fileio.h, ts_output_lock_take):
 *                a second run on the same OUT fails at once, naming the
 *                first.  Holding it, the run removes the temporaries
 *                (OUT.tmp-*, OUT.state.tmp-*) a killed run left behind.
 * Training state file (little-endian, untrusted on read):
 *   "TSTRAIN1" | u64 L | L bytes of JSON | u64 P | P floats of parameters
 *   (the graph's parameter arena) | P floats of momentum | SHA-256 of all
 *   bytes before it.  The JSON holds the settings, epochs done, SGD
 *   iteration, the graph's dropout step and the split.
 * The state holds the parameters itself, so OUT and OUT.state never have to
 * agree: a kill -9 at any moment loses at most the epoch in progress, and
 * `resume` continues from the last completed epoch with the same sample
 * order (each epoch's shuffle is seeded by (seed, epoch)).
 *
 * Several processes (issue 17): started by mpirun or srun after
 * ts_dist_init (dist.h), the ranks train one model together, each on its
 * shard of every global batch, and the model's "training" metadata records
 * "ranks" and "allreduce" (1 and "none" alone); rank 0 writes the files.
 * See job.c's file comment and docs/cluster.md.
 *
 * Threads: ts_train_run blocks; call it from a worker thread (the app uses
 * a GTask).  Callbacks run on that thread.  Besides it, the run starts one
 * prefetch thread, and the face preparation uses settings.threads threads.
 */
#ifndef TS_JOB_H
#define TS_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "nn/model.h"

typedef enum ts_variant {
    TS_VARIANT_BASELINE = 0, /* RGB, 3 channels */
    TS_VARIANT_LACNN,        /* RGB + A(x,y), 4 channels */
} ts_variant;

typedef enum ts_loss_kind {
    TS_LOSS_SOFTMAX = 0,
    TS_LOSS_SIGMOID,
} ts_loss_kind;

/* Values 0 and 1 keep the meaning the old bool had (off / the paper's). */
typedef enum ts_augment {
    TS_AUGMENT_NONE = 0,
    TS_AUGMENT_PAPER = 1,  /* rotations x5 + mirror */
    TS_AUGMENT_RANDOM = 2, /* one random view per face and epoch */
    TS_AUGMENT_WILD = 3,   /* random, and some views grey or blurred (faces in the wild) */
} ts_augment;

typedef enum ts_class_weights {
    TS_WEIGHTS_NONE = 0,
    TS_WEIGHTS_BALANCED,
    TS_WEIGHTS_SQRT,
} ts_class_weights;

typedef enum ts_lr_policy {
    TS_LR_STEP = 0, /* Caffe's step policy; lr_step_epochs 0 = fixed */
    TS_LR_COSINE,
} ts_lr_policy;

const char *ts_variant_name(ts_variant v); /* "baseline", "lacnn" */
bool ts_variant_parse(const char *s, ts_variant *out);
const char *ts_augment_name(ts_augment a); /* "none", "paper", "random" */
bool ts_augment_parse(const char *s, ts_augment *out);
const char *ts_class_weights_name(ts_class_weights w); /* "none", "balanced", "sqrt" */
bool ts_class_weights_parse(const char *s, ts_class_weights *out);

typedef struct ts_train_settings {
    const char *data;      /* dataset spec (data/dataset.h) */
    const char *trait;     /* trait name; comma list with TS_LOSS_SIGMOID */
    ts_variant variant;
    const char *arch;      /* built-in name or description file; "alexnet" */
    int size;              /* input side; 150 (the paper) */
    int epochs;            /* >= 1 */
    int batch;             /* >= 1; 50 */
    float lr;              /* base learning rate; 0.01 */
    float momentum;        /* 0.9 */
    float weight_decay;    /* 5e-4 */
    float lr_gamma;        /* step policy factor; 0.1 */
    int lr_step_epochs;    /* lr *= gamma every this many epochs; 0 = fixed */
    ts_lr_policy lr_policy; /* step */
    int warmup_epochs;     /* linear warm-up; 0 */
    ts_augment augment;    /* paper */
    ts_class_weights class_weights; /* none */
    ts_loss_kind loss;
    ts_alignment align;    /* of the training faces; none */
    ts_device device;      /* TS_DEVICE_AUTO */
    int limit;             /* > 0: only the first `limit` dataset rows */
    uint64_t seed;         /* split, shuffles, initialisation; TS_SPLIT_DEFAULT_SEED */
    uint64_t run_seed;     /* > 0: shuffles, views, initialisation and dropout from this seed
                            * instead, the split kept (another member of an ensemble or soup); 0 */
    double test_fraction;  /* 0.2 */
    double val_fraction;   /* of the training part, for model selection; 0.1; 0 = none */
    int patience;          /* stop after this many epochs without a better validation score; 0 = never */
    const char *out;       /* model path (required) */
    const char *cache_dir; /* NULL: cache.h's default */
    bool resume;           /* continue from OUT.state */
    const char *init;      /* start from this model's parameters (fine-tuning); NULL: fresh ones */
    int threads;           /* face preparation threads; 0 = 2 */
    int compute_threads;   /* > 0: ts_cpu_set_threads() for the run (process-wide) */
    bool eval_each_epoch;  /* test accuracy after every epoch, not only the last */
} ts_train_settings;

/* The defaults above (data, trait, out NULL). */
void ts_train_settings_default(ts_train_settings *s);

typedef enum ts_train_phase {
    TS_TRAIN_PREPARING = 0, /* decoding images, landmarks (done/total faces) */
    TS_TRAIN_TRAINING,      /* epoch/step */
    TS_TRAIN_EVALUATING,    /* done/total images of the validation set (`validating`) or the test set */
    TS_TRAIN_DONE,
} ts_train_phase;

typedef struct ts_train_progress {
    ts_train_phase phase;
    int epoch, epochs;     /* 1-based current epoch */
    int step, steps;       /* 1-based step within the epoch */
    int done, total;       /* preparing / evaluating: items */
    float loss;            /* mean training loss of this epoch so far */
    float accuracy;        /* training accuracy of this epoch so far */
    float lr;
    double images_per_s;   /* training images (views) per second, this run */
    double elapsed_s;      /* since ts_train_run started */
    double eta_s;          /* remaining, estimated; < 0 unknown */
    float test_accuracy;   /* last evaluated; < 0 none yet */
    float val_accuracy;    /* mean over traits, last epoch; < 0 none */
    float val_balanced;    /* mean balanced accuracy, last epoch; < 0 none */
    int best_epoch;        /* selected so far (1-based); 0 none */
    bool epoch_end;        /* this report closes an epoch (checkpoint written) */
    bool validating;       /* TS_TRAIN_EVALUATING: the validation set, not the test set */
} ts_train_progress;

typedef struct ts_train_callbacks {
    void (*on_progress)(const ts_train_progress *p, void *user); /* may be NULL */
    bool (*should_abort)(void *user);                            /* may be NULL */
    void *user;
} ts_train_callbacks;

/* One trait's figures on a set of faces. */
typedef struct ts_trait_score {
    char name[64];
    int n, correct;
    double accuracy, lo, hi;   /* Wilson 95% */
    double balanced;           /* balanced accuracy: mean recall of the classes present */
} ts_trait_score;

#define TS_TRAIN_MAX_TRAITS 16

typedef struct ts_train_result {
    int epochs_done;
    int n_train, n_val, n_test; /* faces */
    int n_skipped;             /* dataset rows whose face could not be prepared */
    int n_skipped_shown;       /* the first of them, in row order: */
    char skipped[5][400];      /*   "PATH: why", for the caller to show */
    int n_stale_removed;       /* temporaries of OUT a killed run had left, removed at the start */
    int best_epoch;            /* the selected epoch (1-based); the last one without validation */
    bool stopped_early;
    int n_traits;
    ts_trait_score val[TS_TRAIN_MAX_TRAITS];  /* at best_epoch */
    ts_trait_score test[TS_TRAIN_MAX_TRAITS]; /* of the selected model; n = 0 if not tested */
    float final_loss;          /* mean loss of the last epoch */
    float train_accuracy;      /* of the last epoch */
    float test_accuracy;       /* mean over traits; -1 if not evaluated */
    double seconds;            /* this run */
    double images_per_s;       /* training views per second */
    int resumed_from_epoch;    /* 0 for a fresh run */
    char backend[16];          /* "cpu", "cuda" */
    int ranks;                 /* processes that trained it together (train/dist.h); 1 alone */
    char allreduce[16];        /* how their gradients were summed: "none", "mpi", "mpi-staged", "nccl" */
    char note[256];            /* e.g. the device fall-back line; "" */
} ts_train_result;

/* Runs (or resumes) the training.  TS_CANCELLED when should_abort said so
 * (the last completed epoch's checkpoint stays valid); TS_ERR_ARG for bad
 * settings, a resume whose state does not match the settings, a resume
 * whose OUT exists without OUT.state (it cannot continue exactly, and
 * starting over would overwrite a trained model), or missing traits; I/O,
 * format and device errors from below.  Resuming a finished run trains
 * nothing and reports the finished run's figures.  result may be NULL. */
ts_status ts_train_run(const ts_train_settings *s, const ts_train_callbacks *cb, ts_train_result *result);

/* Parses a training state file held in memory (untrusted; format above):
 * *json (transfer: full, free()) is its JSON text, *n_params the parameter
 * count, *params and *momentum (may be NULL) point into buf (unaligned:
 * copy with memcpy).  verify_digest false skips the trailing SHA-256 (the
 * fuzz target's way past it).  TS_ERR_FORMAT naming `name` and the offset. */
ts_status ts_train_state_parse(const uint8_t *buf, size_t len, const char *name, bool verify_digest,
                               char **json, size_t *n_params, const float **params, const float **momentum);

/* Per-trait figures as a cJSON object {"traits":{T:{"n","accuracy","ci95",
 * "balanced_accuracy"}},"images","mean_accuracy","mean_balanced_accuracy"}
 * (the form the model metadata and `train`'s output use).  transfer: full
 * (cJSON_Delete). */
struct cJSON;
struct cJSON *ts_trait_scores_json(const ts_trait_score *scores, int n);

/* The state file path for a model path ("OUT.state").  transfer: full. */
char *ts_train_state_path(const char *out);

#endif
