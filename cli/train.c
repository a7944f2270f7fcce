/*
 * train.c — `jaclip train`: CLIP contrastive training of a CLYP model of any size its
 * config.json describes, from WebDataset shards, with checkpoints `jaclip embed` loads.
 * Options come from --config FILE.json (keys = the option names) and/or flags; flags win.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train/train.h"

static const char *const CMD = "train";

static void usage(FILE *f)
{
    jc_train_opts d = jc_train_default_opts();
    fprintf(f,
            "usage: jaclip train --config FILE.json [options]\n"
            "       jaclip train --model DIR --data ROOT --out DIR [options]\n"
            "\n"
            "Trains both towers of a CLYP model with the symmetric InfoNCE loss and its learnable\n"
            "temperature (clamped to the config's temperature_min/max), AdamW, linear warm-up then\n"
            "cosine decay, gradient clipping, and gradient accumulation into large contrastive batches\n"
            "(--accum). Data are WebDataset shards in the CLIP_benchmark layout (ROOT/SPLIT/N.tar +\n"
            "nshards.txt): each sample's key.txt is its caption, or its key.cls label becomes a Japanese\n"
            "caption from ROOT/classnames.txt and a template of ROOT/zeroshot_classification_templates.txt\n"
            "drawn per sample and epoch.\n"
            "A background thread decodes and tokenises ahead of compute.\n"
            "\n"
            "model and data:\n"
            "  --config FILE.json     options as a JSON object ({\"model\": \"...\", \"lr\": 1e-3, ...});\n"
            "                         flags given as well override it\n"
            "  --model DIR            config.json + preprocessor_config.json (any size, via the backbones'\n"
            "                         extra_kwargs); its model.safetensors is the start unless --scratch\n"
            "  --scratch              random initialisation (truncated normal, std 1/sqrt(fan_in) for\n"
            "                         matrices, 0.02 for embeddings; LayerNorm 1/0; temperature =\n"
            "                         temperature_init)\n"
            "  --tokenizer FILE       SentencePiece model (default DIR/spiece.model)\n"
            "  --data ROOT            training shards root; --split NAME (default %s)\n"
            "  --eval-data ROOT       held-out classification set for zero-shot top-1 (classnames.txt +\n"
            "                         templates); --eval-split NAME (default %s), --eval-samples N (0 = all)\n"
            "  --out DIR              checkpoint dir (a model dir + optimizer state) and DIR/log.jsonl\n"
            "  --resume DIR           continue from a checkpoint exactly (same seed/batch/accum)\n"
            "schedule:\n"
            "  --epochs X             length in epochs (default %g), or --steps N optimizer steps\n"
            "  --batch N              pairs per micro-batch (default %d); the contrastive batch is batch x accum\n"
            "  --accum N              micro-batches per optimizer step (default %d), forming ONE contrastive\n"
            "                         batch of N x batch pairs: every pair's negatives come from all of them\n"
            "                         (as a single step on N x batch pairs, to float rounding). Computed\n"
            "                         GradCache-style: a feature-only forward of each micro-batch, the loss\n"
            "                         over all features, then per micro-batch a second forward with\n"
            "                         activations and its backward. Cost: one extra forward pass per\n"
            "                         micro-batch (roughly +1/3 compute per step); memory: one micro-batch's\n"
            "                         activations plus the N x batch inputs and features\n"
            "  --lr X                 peak learning rate (default %g); --min-lr X (default %g)\n"
            "  --warmup N             linear warm-up steps (default %g of the steps: --warmup-frac X)\n"
            "  --weight-decay X       AdamW decay on weight matrices only (default %g)\n"
            "  --clip X               global gradient-norm clip, 0 = off (default %g)\n"
            "  --beta1 X --beta2 X --eps X   AdamW constants (default %g, %g, %g)\n"
            "  --seed N               initialisation and data order (default %llu)\n"
            "  --hflip                random horizontal flips (deterministic per sample and epoch)\n"
            "logging:\n"
            "  --log-every N          a progress line every N steps (default %d)\n"
            "  --eval-every N         zero-shot eval every N steps (and at the end; default: end only)\n"
            "  --ckpt-every N         checkpoint every N steps (and at the end; default %d)\n"
            "  --stop-after N         stop after N steps of this run, with a checkpoint (resume later)\n"
            "  --threads N            compute threads (default: all CPUs)\n"
            "\n"
            "A NaN or Inf loss stops training with an error naming the step; the last checkpoint is kept.\n"
            "\n"
            "example:\n"
            "  jaclip train --model examples/cifar10/model --scratch --data ../shared/datasets/cifar10 \\\n"
            "      --tokenizer ../shared/tokenizer/rinna-japanese-sp.model --eval-data ../shared/datasets/cifar10 \\\n"
            "      --out run1 --epochs 5 --batch 128 --lr 1e-3 --warmup 300 --hflip\n"
            "prints lines like:\n"
            "  step 320/1950  loss 4.3009  batch-acc 0.039  temperature 0.1020  lr 0.001  |g| 2.72  "
            "73.5 img/s  elapsed 7m39s  ETA 47m17s\n"
            "  eval step 1950  zero-shot top-1 60.77%% on 10000 images of ../shared/datasets/cifar10/test ...\n",
            d.split, d.eval_split, d.epochs, d.batch, d.accum, d.lr, d.min_lr, d.warmup_frac, d.weight_decay, d.clip,
            d.beta1, d.beta2, d.eps, (unsigned long long)d.seed, d.log_every, d.ckpt_every);
}

static int run_train(int argc, char **argv)
{
    jc_train_opts o = jc_train_default_opts();
    char **owned = NULL;
    int n_owned = 0, rc = 1;
    jaclip_err err = {0};
    /* --config first, so that flags override it wherever they stand */
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0) {
            const char *v = cli_value(CMD, argc, argv, &i);
            if (!v) return 1;
            if (jc_train_opts_from_json(v, &o, &owned, &n_owned, &err)) {
                rc = cli_fail(CMD, &err);
                goto done;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long lv;
        double dv;
#define STR(flag, field)                                                                                               \
    if (strcmp(a, flag) == 0) {                                                                                        \
        if (!(v = cli_value(CMD, argc, argv, &i))) goto done;                                                          \
        o.field = v;                                                                                                   \
        continue;                                                                                                      \
    }
#define INT(flag, field, lo, hi)                                                                                       \
    if (strcmp(a, flag) == 0) {                                                                                        \
        if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_int(CMD, a, v, lo, hi, &lv)) goto done;               \
        o.field = lv;                                                                                                  \
        continue;                                                                                                      \
    }
#define DBL(flag, field, lo, hi)                                                                                       \
    if (strcmp(a, flag) == 0) {                                                                                        \
        if (!(v = cli_value(CMD, argc, argv, &i)) || !cli_parse_double(CMD, a, v, lo, hi, &dv)) goto done;            \
        o.field = dv;                                                                                                  \
        continue;                                                                                                      \
    }
#define FLAG(flag, field)                                                                                              \
    if (strcmp(a, flag) == 0) {                                                                                        \
        o.field = true;                                                                                                \
        continue;                                                                                                      \
    }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        STR("--model", model) STR("--tokenizer", tokenizer) STR("--data", data) STR("--split", split)
        STR("--eval-data", eval_data) STR("--eval-split", eval_split) STR("--out", out) STR("--resume", resume)
        INT("--steps", steps, 1, 1000000000L) DBL("--epochs", epochs, 1e-6, 1e6)
        INT("--batch", batch, 2, 1 << 20) INT("--accum", accum, 1, 1 << 20)
        DBL("--lr", lr, 0, 10) DBL("--min-lr", min_lr, 0, 10) INT("--warmup", warmup, 0, 1000000000L)
        DBL("--warmup-frac", warmup_frac, 0, 1) DBL("--weight-decay", weight_decay, 0, 10) DBL("--clip", clip, 0, 1e9)
        DBL("--beta1", beta1, 0, 0.999999) DBL("--beta2", beta2, 0, 0.999999) DBL("--eps", eps, 1e-30, 1)
        INT("--seed", seed, 0, 0x7fffffffL) INT("--log-every", log_every, 0, 1000000000L)
        INT("--eval-every", eval_every, 0, 1000000000L) INT("--eval-samples", eval_samples, 0, 1000000000L)
        INT("--ckpt-every", ckpt_every, 0, 1000000000L) INT("--stop-after", stop_after, 0, 1000000000L)
        INT("--threads", threads, 0, 1024)
        FLAG("--scratch", scratch) FLAG("--hflip", hflip) FLAG("--quiet", quiet)
        cli_failf(CMD, "unknown option '%s' (jaclip train --help)", a);
        goto done;
    }
#undef STR
#undef INT
#undef DBL
#undef FLAG
    if (jc_train_run(&o, &err)) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    rc = 0;
done:
    for (int k = 0; k < n_owned; k++) free(owned[k]);
    free(owned);
    return rc;
}

JACLIP_COMMAND(cmd_train, "train", "CLIP contrastive training from WebDataset shards, with checkpoints", run_train);
