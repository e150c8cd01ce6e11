/* cmd-predict.c - `traitscope-cli predict --model MODEL IMAGE...`: class
 * probabilities of face crops.
 *
 * Images are already cropped to a face (the detection and alignment
 * pipeline is another command).  Each image goes through
 * ts_model_input_from_image (face/input.h: bilinear resize to the model's
 * input, normalised as its metadata says), images are run in batches, and
 * the softmax of the logits is printed.
 *
 * Output (stdout, one JSON object per line and per image, a contract):
 *   {"image":PATH,"probabilities":{"CLASS":p,...},"predicted":"CLASS"}
 * in the order of the arguments.  An image that cannot be read is reported
 * on stderr and skipped; the exit status is then 1 after all the others are
 * done.  A 4-channel (LACNN) model needs landmarks, which this command does
 * not compute yet: it stops with a message.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli.h"
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
           "Images (PNG or JPEG) must already be face crops.  Unreadable images are\n"
           "reported on stderr and skipped (exit status 1 at the end).\n\n"
           "  --model MODEL         .safetensors (init, train), .onnx or .caffemodel\n"
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

/* Runs `n` prepared inputs and prints their lines. */
static ts_status run_batch(ts_model *m, ts_tensor *input, const char **names, int n, float *probs)
{
    ts_graph *g = m->graph;
    TS_TRY(ts_graph_set_batch(g, n));
    ts_tensor in = *input;
    in.n = n;
    TS_TRY(ts_graph_forward(g, &in));
    const ts_tensor *logits = &g->nodes[g->output].out; /* (n,K,1,1) */
    int k = m->meta.n_classes;
    /* the softmax where the logits are (on a GPU kernels/softmax.cu, into
     * the logits' dout buffer, which inference does not use), then the
     * probabilities to the host */
    float *dev_probs = g->nodes[g->output].dout.data;
    void *ctx;
    const ts_backend *be = ts_graph_backend(g, &ctx);
    TS_TRY(be->softmax(ctx, logits->data, dev_probs, n, k));
    TS_TRY(ts_graph_read(g, dev_probs, probs, (size_t)n * k));
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "image", names[i]);
        cJSON *pr = cJSON_AddObjectToObject(o, "probabilities");
        int best = 0;
        for (int c = 0; c < k; c++) {
            float v = probs[(size_t)i * k + c];
            cJSON_AddNumberToObject(pr, m->meta.classes[c], print_prob(v));
            if (v > probs[(size_t)i * k + best]) best = c;
        }
        cJSON_AddStringToObject(o, "predicted", m->meta.classes[best]);
        int rc = cli_print_json(o, false);
        cJSON_Delete(o);
        if (rc != CMD_OK) return ts_error(TS_ERR_OOM, "out of memory printing JSON");
    }
    return TS_OK;
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = NULL, *v;
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
    const char **names = calloc((size_t)batch, sizeof *names);
    if (!in_buf || !probs || !names) st = ts_error(TS_ERR_OOM, "out of memory for a batch of %d", batch);
    ts_tensor input = { in_buf, batch, ch, s, s };

    int filled = 0;
    cli_skips skips;
    cli_skips_init(&skips, "predict");
    for (int i = 0; i < n_images && st == TS_OK; i++) {
        ts_image img = { 0 };
        ts_status ist = ts_image_load(images[i], &img);
        if (ist == TS_OK) {
            ts_tensor one = { in_buf + (size_t)filled * per, 1, ch, s, s };
            ist = ts_model_input_from_image(m, &img, NULL, &one);
            ts_image_clear(&img);
            if (ist == TS_ERR_UNSUPPORTED) { /* the model, not the image: stop */
                st = ist;
                break;
            }
        }
        if (ist != TS_OK) {
            cli_skips_add(&skips, images[i], ts_last_error());
        } else {
            names[filled++] = images[i];
        }
        if (filled == batch || (i == n_images - 1 && filled > 0)) {
            st = run_batch(m, &input, names, filled, probs);
            filled = 0;
        }
    }
    free(in_buf);
    free(probs);
    free(names);
    free(images);
    ts_model_free(m);
    ts_backend_close(be, be_ctx);
    if (st != TS_OK) return cli_fail("predict", st);
    if (skips.n) {
        cli_skips_done(&skips, n_images);
        return CMD_FAIL;
    }
    return CMD_OK;
}
