/*
 * config.c — reads CLYP's config.json and preprocessor_config.json (see config.h).
 *
 * Hyper-parameters of the official backbones (model-spec.md sections 3-4):
 *   eva02_base_patch16_clip_224[.merged2b]: 768 wide, 12 blocks, 12 heads, mlp_ratio 4*2/3,
 *     patch 16, 224 px, RoPE reference grid 16x16
 *   rinna/japanese-clip-vit-b-16 (BERT): 768, 12 layers, 12 heads, 3072, vocab 32000,
 *     512 positions, 2 token types, LayerNorm eps 1e-12
 * Keys that only matter for training or for Hugging Face's loader (dropouts, auto_map,
 * temperature bounds, ...) are accepted and ignored; every other unknown key is an error.
 */
#include "io/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

/* Every key of obj must be in known (or ignored); names the first that is not. */
static jaclip_status check_keys_(const cJSON *obj, const char *where, const char *file, const char *const *known,
                                 const char *const *ignored, bool lenient, jaclip_err *err)
{
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (in_list(e->string, known)) continue;
        if (ignored && in_list(e->string, ignored)) continue;
        if (lenient) {
            jc_warn("%s: ignoring unknown key \"%s\" in %s", file, e->string, where);
            continue;
        }
        return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                      "%s: unknown key \"%s\" in %s (it may change the architecture; "
                      "--allow-unknown-config ignores it)", file, e->string, where);
    }
    return JACLIP_OK;
}
#define check_keys(obj, where, file, known, ignored, err) \
    check_keys_(obj, where, file, known, ignored, cfg->allow_unknown_keys, err)

static jaclip_status get_int(const cJSON *obj, const char *key, const char *where, const char *file, int lo,
                             int hi, int *out, jaclip_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) return JACLIP_OK; /* keep default */
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < lo || j->valuedouble > hi)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: %s.%s must be an integer in [%d, %d]", file, where, key, lo, hi);
    *out = (int)j->valuedouble;
    return JACLIP_OK;
}

static jaclip_status get_double(const cJSON *obj, const char *key, const char *where, const char *file, double lo,
                                double hi, double *out, jaclip_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j) return JACLIP_OK;
    if (!cJSON_IsNumber(j) || !(j->valuedouble > lo) || !(j->valuedouble <= hi))
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: %s.%s must be a number in (%g, %g]", file, where, key, lo, hi);
    *out = j->valuedouble;
    return JACLIP_OK;
}

static const cJSON *get_obj(const cJSON *obj, const char *key, bool required, const char *where, const char *file,
                            jaclip_status *rc, jaclip_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) *rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: missing \"%s\" in %s", file, key, where);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        *rc = jc_err(err, JACLIP_ERR_FORMAT, "%s: %s.%s must be an object", file, where, key);
        return NULL;
    }
    return j;
}

#define TRY(x)                                                                                                     \
    do {                                                                                                           \
        jaclip_status rc_ = (x);                                                                                   \
        if (rc_) return rc_;                                                                                       \
    } while (0)

static const char *const BACKBONE_KEYS[] = {"model_name", "extra_kwargs", "pretrained", NULL};
static const char *const ENCODER_KEYS[] = {"backbone_config", "pooler_config", "neck_config", NULL};
static const char *const NECK_KEYS[] = {"in_channels", "out_channels", "bias", NULL};
/* dropout and drop-path settings do nothing at inference */
static const char *const TRAIN_ONLY_KWARGS[] = {"drop_rate", "drop_path_rate", "attn_drop_rate", "proj_drop_rate",
                                                "pos_drop_rate", "patch_drop_rate", "hidden_dropout_prob",
                                                "attention_probs_dropout_prob", "classifier_dropout",
                                                "initializer_range", "pad_token_id", "bos_token_id",
                                                "eos_token_id", "num_classes", "global_pool", NULL};

static jaclip_status parse_neck(const cJSON *enc, const char *where, const char *file, const jc_clyp_config *cfg,
                                int *in, int *out, jaclip_err *err)
{
    jaclip_status rc = JACLIP_OK;
    const cJSON *neck = get_obj(enc, "neck_config", true, where, file, &rc, err);
    if (!neck) return rc;
    TRY(check_keys(neck, "neck_config", file, NECK_KEYS, NULL, err));
    *in = *out = 0;
    TRY(get_int(neck, "in_channels", "neck_config", file, 1, 1 << 16, in, err));
    TRY(get_int(neck, "out_channels", "neck_config", file, 1, 1 << 16, out, err));
    if (!*in || !*out) return jc_err(err, JACLIP_ERR_FORMAT, "%s: %s.neck_config needs in_channels and out_channels", file, where);
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(neck, "bias");
    if (bias && !cJSON_IsFalse(bias))
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: %s.neck_config.bias must be false (CLYP necks have no bias)",
                      file, where);
    return JACLIP_OK;
}

static jaclip_status parse_vision(const cJSON *enc, const char *file, jc_clyp_config *cfg, jaclip_err *err)
{
    const char *W = "vision_encoder_config";
    jaclip_status rc = JACLIP_OK;
    TRY(check_keys(enc, W, file, ENCODER_KEYS, NULL, err));
    const cJSON *bb = get_obj(enc, "backbone_config", true, W, file, &rc, err);
    if (!bb) return rc;
    TRY(check_keys(bb, "vision_encoder_config.backbone_config", file, BACKBONE_KEYS, NULL, err));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(bb, "model_name");
    if (!cJSON_IsString(name))
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: vision_encoder_config.backbone_config.model_name missing", file);
    if (strcmp(name->valuestring, "eva02_base_patch16_clip_224") != 0 &&
        strncmp(name->valuestring, "eva02_base_patch16_clip_224.", 28) != 0)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                      "%s: vision backbone \"%s\" is not supported (only eva02_base_patch16_clip_224)", file,
                      name->valuestring);
    jc_vision_config *v = &cfg->vision;
    *v = (jc_vision_config){.embed_dim = 768, .depth = 12, .num_heads = 12, .patch_size = 16, .img_size = 224,
                            .ref_feat_shape = {16, 16}, .mlp_ratio = 4.0 * 2.0 / 3.0, .norm_eps = 1e-6};
    const cJSON *kw = get_obj(bb, "extra_kwargs", false, "backbone_config", file, &rc, err);
    if (rc) return rc;
    if (kw) {
        static const char *const K[] = {"embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size", "img_size",
                                        "ref_feat_shape", NULL};
        const char *w = "vision extra_kwargs";
        TRY(check_keys(kw, w, file, K, TRAIN_ONLY_KWARGS, err));
        TRY(get_int(kw, "embed_dim", w, file, 1, 1 << 14, &v->embed_dim, err));
        TRY(get_int(kw, "depth", w, file, 1, 256, &v->depth, err));
        TRY(get_int(kw, "num_heads", w, file, 1, 1024, &v->num_heads, err));
        TRY(get_int(kw, "patch_size", w, file, 1, 1024, &v->patch_size, err));
        TRY(get_int(kw, "img_size", w, file, 1, 8192, &v->img_size, err));
        TRY(get_double(kw, "mlp_ratio", w, file, 0, 64, &v->mlp_ratio, err));
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(kw, "ref_feat_shape");
        if (rf) {
            if (cJSON_IsNumber(rf) && rf->valuedouble >= 1 && rf->valuedouble <= 1024 &&
                rf->valuedouble == floor(rf->valuedouble)) {
                v->ref_feat_shape[0] = v->ref_feat_shape[1] = (int)rf->valuedouble;
            } else if (cJSON_IsArray(rf) && cJSON_GetArraySize(rf) == 2) {
                for (int i = 0; i < 2; i++) {
                    const cJSON *x = cJSON_GetArrayItem(rf, i);
                    if (!cJSON_IsNumber(x) || x->valuedouble < 1 || x->valuedouble > 1024)
                        return jc_err(err, JACLIP_ERR_FORMAT, "%s: ref_feat_shape must be two positive integers", file);
                    v->ref_feat_shape[i] = (int)x->valuedouble;
                }
            } else {
                return jc_err(err, JACLIP_ERR_FORMAT, "%s: ref_feat_shape must be an integer or [h, w]", file);
            }
        }
    }
    if (v->embed_dim % v->num_heads || (v->embed_dim / v->num_heads) % 4)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                      "%s: vision embed_dim %d / num_heads %d must give a head size divisible by 4 (2-D RoPE)", file,
                      v->embed_dim, v->num_heads);
    if (v->img_size % v->patch_size)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: vision img_size %d is not a multiple of patch_size %d", file,
                      v->img_size, v->patch_size);
    v->mlp_hidden = (int)(v->embed_dim * v->mlp_ratio); /* timm: int(dim * mlp_ratio) */
    if (v->mlp_hidden < 1) return jc_err(err, JACLIP_ERR_FORMAT, "%s: vision mlp_ratio gives an empty MLP", file);
    const cJSON *pool = get_obj(enc, "pooler_config", false, W, file, &rc, err);
    if (rc) return rc;
    if (pool) {
        static const char *const K[] = {"input_type", "return_patch_features", NULL};
        TRY(check_keys(pool, "vision pooler_config", file, K, NULL, err));
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(pool, "input_type");
        if (it && (!cJSON_IsString(it) || strcmp(it->valuestring, "timm") != 0))
            return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: vision pooler input_type must be \"timm\"", file);
        const cJSON *rp = cJSON_GetObjectItemCaseSensitive(pool, "return_patch_features");
        if (rp && !cJSON_IsFalse(rp))
            return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: return_patch_features is not supported", file);
    }
    TRY(parse_neck(enc, W, file, cfg, &cfg->vision_neck_in, &cfg->vision_neck_out, err));
    return JACLIP_OK;
}

static jaclip_status parse_text(const cJSON *enc, const char *file, jc_clyp_config *cfg, jaclip_err *err)
{
    const char *W = "text_encoder_config";
    jaclip_status rc = JACLIP_OK;
    TRY(check_keys(enc, W, file, ENCODER_KEYS, NULL, err));
    const cJSON *bb = get_obj(enc, "backbone_config", true, W, file, &rc, err);
    if (!bb) return rc;
    TRY(check_keys(bb, "text_encoder_config.backbone_config", file, BACKBONE_KEYS, NULL, err));
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(bb, "model_name");
    if (!cJSON_IsString(name))
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: text_encoder_config.backbone_config.model_name missing", file);
    if (strcmp(name->valuestring, "rinna/japanese-clip-vit-b-16") != 0)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED,
                      "%s: text backbone \"%s\" is not supported (only rinna/japanese-clip-vit-b-16)", file,
                      name->valuestring);
    jc_text_config *t = &cfg->text;
    *t = (jc_text_config){.hidden_size = 768, .num_hidden_layers = 12, .num_attention_heads = 12,
                          .intermediate_size = 3072, .vocab_size = 32000, .max_position_embeddings = 512,
                          .type_vocab_size = 2, .layer_norm_eps = 1e-12};
    const cJSON *kw = get_obj(bb, "extra_kwargs", false, "backbone_config", file, &rc, err);
    if (rc) return rc;
    if (kw) {
        static const char *const K[] = {"hidden_size", "num_hidden_layers", "num_attention_heads",
                                        "intermediate_size", "vocab_size", "max_position_embeddings",
                                        "type_vocab_size", "layer_norm_eps", "hidden_act",
                                        "position_embedding_type", NULL};
        const char *w = "text extra_kwargs";
        TRY(check_keys(kw, w, file, K, TRAIN_ONLY_KWARGS, err));
        TRY(get_int(kw, "hidden_size", w, file, 1, 1 << 14, &t->hidden_size, err));
        TRY(get_int(kw, "num_hidden_layers", w, file, 1, 256, &t->num_hidden_layers, err));
        TRY(get_int(kw, "num_attention_heads", w, file, 1, 1024, &t->num_attention_heads, err));
        TRY(get_int(kw, "intermediate_size", w, file, 1, 1 << 16, &t->intermediate_size, err));
        TRY(get_int(kw, "vocab_size", w, file, 7, 1 << 22, &t->vocab_size, err));
        TRY(get_int(kw, "max_position_embeddings", w, file, 1, 1 << 16, &t->max_position_embeddings, err));
        TRY(get_int(kw, "type_vocab_size", w, file, 1, 1 << 10, &t->type_vocab_size, err));
        TRY(get_double(kw, "layer_norm_eps", w, file, 0, 1, &t->layer_norm_eps, err));
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(kw, "hidden_act");
        if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
            return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: text hidden_act must be \"gelu\"", file);
        const cJSON *pe = cJSON_GetObjectItemCaseSensitive(kw, "position_embedding_type");
        if (pe && (!cJSON_IsString(pe) || strcmp(pe->valuestring, "absolute") != 0))
            return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: text position_embedding_type must be \"absolute\"", file);
    }
    if (t->hidden_size % t->num_attention_heads)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: text hidden_size %d not divisible by num_attention_heads %d",
                      file, t->hidden_size, t->num_attention_heads);
    const cJSON *pool = get_obj(enc, "pooler_config", false, W, file, &rc, err);
    if (rc) return rc;
    if (pool) {
        static const char *const K[] = {"input_type", NULL};
        TRY(check_keys(pool, "text pooler_config", file, K, NULL, err));
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(pool, "input_type");
        if (it && (!cJSON_IsString(it) || strcmp(it->valuestring, "huggingface") != 0))
            return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: text pooler input_type must be \"huggingface\"", file);
    }
    TRY(parse_neck(enc, W, file, cfg, &cfg->text_neck_in, &cfg->text_neck_out, err));
    return JACLIP_OK;
}

jaclip_status jc_config_parse(const char *config_json, const char *config_name, const char *pp_json,
                              const char *pp_name, jc_clyp_config *cfg, jaclip_err *err)
{
    bool lenient = cfg->allow_unknown_keys;
    memset(cfg, 0, sizeof *cfg);
    cfg->allow_unknown_keys = lenient;
    cJSON *root = cJSON_Parse(config_json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a JSON object", config_name);
    }
    static const char *const TOP[] = {"vision_encoder_config", "text_encoder_config", NULL};
    /* Hugging Face bookkeeping and training-only settings */
    static const char *const TOP_IGNORED[] = {
        "architectures", "auto_map", "model_type", "torch_dtype", "transformers_version", "learn_temperature",
        "temperature_init", "temperature_min", "temperature_max", "_name_or_path", "_commit_hash",
        "initializer_range", "initializer_factor", "dtype",
        /* attributes every transformers PretrainedConfig may serialise; none changes inference */
        "return_dict", "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16",
        "tf_legacy_loss", "pruned_heads", "tie_word_embeddings", "chunk_size_feed_forward", "is_encoder_decoder",
        "is_decoder", "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "finetuning_task",
        "id2label", "label2id", "tokenizer_class", "prefix", "bos_token_id", "pad_token_id", "eos_token_id",
        "sep_token_id", "decoder_start_token_id", "task_specific_params", "problem_type", "use_cache", NULL};
    jaclip_status rc = check_keys(root, "config.json (top level)", config_name, TOP, TOP_IGNORED, err);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!rc && mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "clyp") != 0))
        rc = jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: model_type is not \"clyp\"", config_name);
    const cJSON *v = NULL, *t = NULL;
    if (!rc) v = get_obj(root, "vision_encoder_config", true, "config.json", config_name, &rc, err);
    if (!rc) t = get_obj(root, "text_encoder_config", true, "config.json", config_name, &rc, err);
    if (!rc) rc = parse_vision(v, config_name, cfg, err);
    if (!rc) rc = parse_text(t, config_name, cfg, err);
    cJSON_Delete(root);
    if (rc) return rc;

    cfg->image_size = cfg->vision.img_size;
    snprintf(cfg->normalization_type, sizeof cfg->normalization_type, "imagenet"); /* CLYP's default */
    cJSON *pp = cJSON_Parse(pp_json);
    if (!pp || !cJSON_IsObject(pp)) {
        cJSON_Delete(pp);
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a JSON object", pp_name);
    }
    static const char *const PK[] = {"image_size", "normalization_type", NULL};
    static const char *const PI[] = {"auto_map", "image_processor_type", "processor_class", NULL};
    rc = check_keys(pp, "preprocessor_config.json", pp_name, PK, PI, err);
    if (!rc) rc = get_int(pp, "image_size", "preprocessor_config", pp_name, 1, 8192, &cfg->image_size, err);
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(pp, "normalization_type");
    if (!rc && nt) {
        if (!cJSON_IsString(nt) || (strcmp(nt->valuestring, "imagenet") && strcmp(nt->valuestring, "openai_clip") &&
                                    strcmp(nt->valuestring, "imagenet_inception")))
            rc = jc_err(err, JACLIP_ERR_UNSUPPORTED,
                        "%s: normalization_type must be \"imagenet\", \"openai_clip\" or \"imagenet_inception\"",
                        pp_name);
        else
            snprintf(cfg->normalization_type, sizeof cfg->normalization_type, "%s", nt->valuestring);
    }
    cJSON_Delete(pp);
    if (rc) return rc;
    if (cfg->image_size != cfg->vision.img_size)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s: image_size %d differs from the vision backbone's img_size %d",
                      pp_name, cfg->image_size, cfg->vision.img_size);
    if (cfg->vision_neck_in != cfg->vision.embed_dim || cfg->text_neck_in != cfg->text.hidden_size)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s: neck in_channels (%d, %d) differ from the tower widths (%d, %d)",
                      config_name, cfg->vision_neck_in, cfg->text_neck_in, cfg->vision.embed_dim,
                      cfg->text.hidden_size);
    if (cfg->vision_neck_out != cfg->text_neck_out)
        return jc_err(err, JACLIP_ERR_MISMATCH, "%s: vision and text necks have different out_channels (%d vs %d)",
                      config_name, cfg->vision_neck_out, cfg->text_neck_out);
    return JACLIP_OK;
}

jaclip_status jc_config_load(const char *dir, jc_clyp_config *cfg, jaclip_err *err)
{
    char *cp = jc_path_join(dir, "config.json");
    char *pp = jc_path_join(dir, "preprocessor_config.json");
    char *cj = NULL, *pj = NULL;
    size_t n;
    jaclip_status rc = (!cp || !pp) ? jc_err(err, JACLIP_ERR_NOMEM, "out of memory") : JACLIP_OK;
    if (!rc) rc = jc_read_file(cp, 1 << 20, &cj, &n, err);
    if (!rc) rc = jc_read_file(pp, 1 << 20, &pj, &n, err);
    if (!rc) rc = jc_config_parse(cj, cp, pj, pp, cfg, err);
    free(cj);
    free(pj);
    free(cp);
    free(pp);
    return rc;
}
