/* multilabel.h - a real multi-label ("sigmoid") model for the app tests:
 * the tiny architecture (tests/app/tiny.arch) trained for one epoch on the
 * first 200 CelebA-HQ faces for gender, emotion and hair, LACNN, aligned
 * ("similarity"), 32 pixels: a few seconds on the CPU, the same recipe as
 *   traitscope-cli train --data celeba:DIR --trait gender,emotion,hair
 *     --loss sigmoid --variant lacnn --arch tests/app/tiny.arch --size 32
 *     --epochs 1 --limit 200 --align similarity --out OUT
 * Included by one test file each (static). */
#ifndef TS_TEST_MULTILABEL_H
#define TS_TEST_MULTILABEL_H

#include <stdio.h>

#include "nn/model.h"
#include "train/job.h"

/* Trains it to `out` (cache_dir NULL: $TRAITSCOPE_CACHE or the default).
 * FALSE with the reason printed. */
static int train_multilabel(const char *celeba_dir, const char *source_root, const char *out)
{
    char spec[4096], arch[4096];
    snprintf(spec, sizeof spec, "celeba:%s", celeba_dir);
    snprintf(arch, sizeof arch, "%s/tests/app/tiny.arch", source_root);
    ts_train_settings s;
    ts_train_settings_default(&s);
    s.data = spec;
    s.trait = "gender,emotion,hair";
    s.loss = TS_LOSS_SIGMOID;
    s.variant = TS_VARIANT_LACNN;
    s.arch = arch;
    s.size = 32;
    s.epochs = 1;
    s.limit = 200;
    s.align = TS_ALIGN_SIMILARITY;
    s.device = TS_DEVICE_CPU;
    s.out = out;
    ts_train_result r;
    if (ts_train_run(&s, NULL, &r) != TS_OK) {
        fprintf(stderr, "training the multi-label model: %s\n", ts_last_error());
        return 0;
    }
    ts_model *m = NULL;
    int ok = ts_model_load(out, &m) == TS_OK && ts_model_multilabel(m) && m->meta.n_classes == 3;
    if (!ok) fprintf(stderr, "%s: not the multi-label model asked for\n", out);
    ts_model_free(m);
    return ok;
}

#endif
