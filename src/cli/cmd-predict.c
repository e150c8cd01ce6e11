/* cmd-predict.c - `traitscope-cli predict --model MODEL IMAGE...`: class
 * probabilities of face crops.
 *
 * Each image goes through ts_model_input_from_image (face/input.h: the
 * model's metadata decides the input).  A model that needs the face's
 * landmarks (an LACNN's A(x,y) channel, or a face alignment) gets them as
 * `explain` does (explain.h's landmarker: the face found by face/locate.h,
 * or --landmarks FILE|ert|cnn); a model without either takes the image as a
 * face crop.  Images run in batches.
 *
 * Output (stdout, one JSON object per line and per image, a contract):
 *   {"image":PATH,"probabilities":{"CLASS":p,...},"predicted":"CLASS",
 *    "traits":{"TRAIT":{"predicted":"CLASS","probabilities":{"CLASS":p,..}}}}
 * A multi-label model (one output per trait, nn/model.h's heads) prints
 * "traits" only, every trait with its two classes.  In the order of the
 * arguments.  An image that cannot be read (or whose landmarks cannot be
 * found) is reported on stderr and skipped; the exit status is then 1 after
 * all the others are done.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "explain/explain.h"
#include "face/image.h"
#include "face/input.h"
#include "nn/loss.h"
#include "nn/model.h"

#define DEFAULT_BATCH 16

static void help(void)
{
    printf("usage: traitscope-cli predict --model MODEL [options] IMAGE...\n\n"
           "Prints one JSON line per image:\n"
           "  {\"image\":..,\"probabilities\":{\"CLASS\":p,..},\"predicted\":\"CLASS\"}\n"
           "  (with \"traits\":{TRAIT:{\"predicted\",\"probabilities\"}} for every trait; a\n"
           "  multi-label model prints only \"traits\").  A model that needs landmarks (an\n"
           "  LACNN, or an aligned model) finds the face and its landmarks itself (an image\n"
           "  no larger than 2.5 times its face is a dataset's crop: its landmarks come from\n"
           "  the crop's fixed face box, as in training and eval); others take each image as\n"
           "  a face crop.  Unreadable images are reported on stderr and\n"
           "  skipped (exit status 1 at the end).\n\n"
           "  --model MODEL         .safetensors (init, train), .onnx or .caffemodel\n"
           "  --landmarks SRC       ert or cnn (the localizer after face detection; default:\n"
           "                        the model's), or a landmarks JSON file for one image\n"
           CLI_DEVICE_HELP
           "  --batch N             images per forward pass (default %d)\n", DEFAULT_BATCH);
}

/* Rounds p to 7 significant digits (enough for a float) for printing. */
static double print_prob(float p)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", p);
    return strtod(buf, NULL);
}

/* One trait's prediction as {"predicted":C,"probabilities":{..}}. */
static cJSON *head_json(const ts_model *m, const ts_model_head *h, const float *z, int K)
{
    float p[TS_MODEL_MAX_CLASSES > 64 ? 64 : TS_MODEL_MAX_CLASSES];
    int n = h->n_classes < 64 ? h->n_classes : 64;
    int best = ts_model_head_probs(h, z, K, p);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "predicted", ts_model_head_class(m, h, best));
    cJSON *pr = cJSON_AddObjectToObject(o, "probabilities");
    for (int c = 0; c < n; c++) cJSON_AddNumberToObject(pr, ts_model_head_class(m, h, c), print_prob(p[c]));
    return o;
}

/* Runs `n` prepared inputs and prints their lines. */
static ts_status run_batch(ts_model *m, ts_tensor *input, const char **names, int n, float *probs, float *logits_host)
{
    ts_graph *g = m->graph;
    TS_TRY(ts_graph_set_batch(g, n));
    ts_tensor in = *input;
    in.n = n;
    TS_TRY(ts_graph_forward(g, &in));
    const ts_tensor *logits = &g->nodes[g->output].out; /* (n,K,1,1) */
    int k = m->meta.n_classes;
    ts_model_head heads[TS_MODEL_MAX_HEADS];
    int nh = ts_model_heads(m, heads, TS_MODEL_MAX_HEADS);
    bool multilabel = heads[0].sigmoid;
    TS_TRY(ts_graph_read(g, logits->data, logits_host, (size_t)n * k));
    if (!multilabel) {
        /* the softmax where the logits are (on a GPU kernels/softmax.cu,
         * into the logits' dout buffer, which inference does not use), then
         * the probabilities to the host */
        float *dev_probs = g->nodes[g->output].dout.data;
        void *ctx;
        const ts_backend *be = ts_graph_backend(g, &ctx);
        TS_TRY(be->softmax(ctx, logits->data, dev_probs, n, k));
        TS_TRY(ts_graph_read(g, dev_probs, probs, (size_t)n * k));
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "image", names[i]);
        if (!multilabel) {
            cJSON *pr = cJSON_AddObjectToObject(o, "probabilities");
            int best = 0;
            for (int c = 0; c < k; c++) {
                float v = probs[(size_t)i * k + c];
                cJSON_AddNumberToObject(pr, m->meta.classes[c], print_prob(v));
                if (v > probs[(size_t)i * k + best]) best = c;
            }
            cJSON_AddStringToObject(o, "predicted", m->meta.classes[best]);
        }
        cJSON *tr = cJSON_AddObjectToObject(o, "traits");
        for (int h = 0; h < nh; h++)
            cJSON_AddItemToObject(tr, heads[h].trait, head_json(m, &heads[h], logits_host + (size_t)i * k, k));
        int rc = cli_print_json(o, false);
        cJSON_Delete(o);
        if (rc != CMD_OK) return ts_error(TS_ERR_OOM, "out of memory printing JSON");
    }
    return TS_OK;
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = NULL, *lm_src = NULL, *v;
    ts_device device = TS_DEVICE_AUTO;
    int batch = DEFAULT_BATCH;
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_images = 0;
    if (!images) return cli_fail("predict", ts_error(TS_ERR_OOM, "out of memory"));
    for (int i = 1; i < argc; i++) {
        int bad_usage = 0;
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            free(images);
            return CMD_OK;
        } else if (cli_opt(argc, argv, &i, "--model", &v)) {
            model_path = v;
        } else if (cli_opt(argc, argv, &i, "--landmarks", &v)) {
            lm_src = v;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (!cli_parse_device(v, &device))
                bad_usage = cli_usage_error("predict", "--device wants cpu, cuda or auto, not '%s'", v);
        } else if (cli_opt(argc, argv, &i, "--batch", &v)) {
            if (!cli_parse_int(v, &batch) || batch < 1 || batch > 1024)
                bad_usage = cli_usage_error("predict", "--batch wants 1..1024, not '%s'", v);
        } else if (cli_flag(argv, i, "--")) {
            while (++i < argc) images[n_images++] = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            bad_usage = cli_usage_error("predict", "unknown option '%s'", argv[i]);
        } else {
            images[n_images++] = argv[i];
        }
        if (bad_usage) {
            free(images);
            return bad_usage;
        }
    }
    if (!model_path || n_images == 0) {
        free(images);
        return cli_usage_error("predict", "--model MODEL and at least one IMAGE are required");
    }

    /* The graph runs where its arenas live: on a GPU pick the loaded model
     * moves there (one copy per arena) and the logits come back per batch.
     * No GPU (or none usable) is the CPU plus one line saying why. */
    const ts_backend *be = NULL;
    void *be_ctx = NULL;
    cli_backend_open("predict", device, &be, &be_ctx);

    ts_model *m = NULL;
    ts_status st = ts_model_load_any(model_path, &m);
    if (st == TS_OK && be->device != TS_DEVICE_CPU) st = ts_graph_to_backend(m->graph, be, be_ctx);
    if (st != TS_OK) {
        free(images);
        ts_model_free(m);
        ts_backend_close(be, be_ctx);
        return cli_fail("predict", st);
    }
    m->graph->training = false; /* dropout off */
    int s = m->meta.in_size, ch = m->meta.in_channels;
    if (batch > n_images) batch = n_images;
    size_t per = (size_t)ch * s * s;
    float *in_buf = malloc(per * (size_t)batch * sizeof *in_buf);
    float *probs = malloc((size_t)batch * (size_t)m->meta.n_classes * sizeof *probs);
    float *logits = malloc((size_t)batch * (size_t)m->meta.n_classes * sizeof *logits);
    const char **names = calloc((size_t)batch, sizeof *names);
    ts_points *pts = malloc(sizeof *pts);
    ts_landmarker *lmk = NULL;
    if (!in_buf || !probs || !logits || !names || !pts)
        st = ts_error(TS_ERR_OOM, "out of memory for a batch of %d", batch);
    if (st == TS_OK) st = ts_landmarker_new(lm_src, be, be_ctx, &lmk);
    ts_tensor input = { in_buf, batch, ch, s, s };

    int filled = 0;
    cli_skips skips;
    cli_skips_init(&skips, "predict");
    for (int i = 0; i < n_images && st == TS_OK; i++) {
        ts_image img = { 0 };
        ts_status ist = ts_image_load(images[i], &img);
        bool have = false;
        if (ist == TS_OK && (lm_src || ts_model_needs_landmarks(m))) ist = ts_landmarker_get(lmk, m, &img, pts, &have);
        if (ist == TS_OK) {
            ts_tensor one = { in_buf + (size_t)filled * per, 1, ch, s, s };
            ist = ts_model_input_from_image(m, &img, have ? pts : NULL, &one);
            if (ist == TS_ERR_UNSUPPORTED) { /* the model, not the image: stop */
                ts_image_clear(&img);
                st = ist;
                break;
            }
        }
        ts_image_clear(&img);
        if (ist != TS_OK) {
            cli_skips_add(&skips, images[i], ts_last_error());
        } else {
            names[filled++] = images[i];
        }
        if (filled == batch || (i == n_images - 1 && filled > 0)) {
            st = run_batch(m, &input, names, filled, probs, logits);
            filled = 0;
        }
    }
    free(in_buf);
    free(probs);
    free(logits);
    free(names);
    free(pts);
    free(images);
    ts_landmarker_free(lmk);
    ts_model_free(m);
    ts_backend_close(be, be_ctx);
    if (st != TS_OK) return cli_fail("predict", st);
    if (skips.n) {
        cli_skips_done(&skips, n_images);
        return CMD_FAIL;
    }
    return CMD_OK;
}
