/* multilabel.h - real small models for the app tests, trained here in a
 * few seconds on the CPU from the tiny architecture (tests/app/tiny.arch),
 * one epoch on the first 200 CelebA-HQ faces at 32 pixels:
 *  - train_multilabel: a multi-label ("sigmoid") LACNN for gender, emotion
 *    and hair, aligned ("similarity"), as
 *      traitscope-cli train --data celeba:DIR --trait gender,emotion,hair
 *        --loss sigmoid --variant lacnn --arch tests/app/tiny.arch --size 32
 *        --epochs 1 --limit 200 --align similarity --out OUT
 *  - train_gender_only: a one-trait (softmax) baseline for gender, the
 *    kind of model that cannot explain another trait (the bundled nets
 *    predict all seven).
 * Included by one test file each (static). */
#ifndef TS_TEST_MULTILABEL_H
#define TS_TEST_MULTILABEL_H

#include <stdio.h>

#include "nn/model.h"
#include "train/job.h"

/* Trains to `out` (cache_dir NULL: $TRAITSCOPE_CACHE or the default) and
 * checks it has `outputs` outputs.  FALSE with the reason printed. */
static int train_small(const char *celeba_dir, const char *source_root, const char *out, const char *traits,
                       int sigmoid, int outputs)
{
    char spec[4096], arch[4096];
    snprintf(spec, sizeof spec, "celeba:%s", celeba_dir);
    snprintf(arch, sizeof arch, "%s/tests/app/tiny.arch", source_root);
    ts_train_settings s;
    ts_train_settings_default(&s);
    s.data = spec;
    s.trait = traits;
    s.loss = sigmoid ? TS_LOSS_SIGMOID : TS_LOSS_SOFTMAX;
    s.variant = sigmoid ? TS_VARIANT_LACNN : TS_VARIANT_BASELINE;
    s.arch = arch;
    s.size = 32;
    s.epochs = 1;
    s.limit = 200;
    s.align = TS_ALIGN_SIMILARITY;
    s.device = TS_DEVICE_CPU;
    s.out = out;
    ts_train_result r;
    if (ts_train_run(&s, NULL, &r) != TS_OK) {
        fprintf(stderr, "training the %s model: %s\n", traits, ts_last_error());
        return 0;
    }
    ts_model *m = NULL;
    int ok = ts_model_load(out, &m) == TS_OK && !ts_model_multilabel(m) == !sigmoid && m->meta.n_classes == outputs;
    if (!ok) fprintf(stderr, "%s: not the %s model asked for\n", out, traits);
    ts_model_free(m);
    return ok;
}

static int train_multilabel(const char *celeba_dir, const char *source_root, const char *out)
{
    return train_small(celeba_dir, source_root, out, "gender,emotion,hair", 1, 3);
}

static int train_gender_only(const char *celeba_dir, const char *source_root, const char *out)
{
    return train_small(celeba_dir, source_root, out, "gender", 0, 2);
}

#endif
