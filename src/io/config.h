/*
 * config.h — the CLYP model configuration read from a Hugging Face snapshot directory:
 * config.json (vision_encoder_config / text_encoder_config, each with backbone_config,
 * pooler_config and neck_config) and preprocessor_config.json (image_size,
 * normalization_type). The official backbone names fix the hyper-parameters; a backbone's
 * extra_kwargs override them with timm EVA names (vision) and Hugging Face BertConfig names
 * (text), which is how smaller test models are described. Unknown keys are errors, since a
 * key we do not understand may change the architecture.
 */
#ifndef JACLIP_IO_CONFIG_H
#define JACLIP_IO_CONFIG_H

#include "base/base.h"

typedef struct jc_vision_config {
    int embed_dim, depth, num_heads, patch_size, img_size;
    int ref_feat_shape[2]; /* RoPE reference grid (EVA02: 16x16) */
    double mlp_ratio;      /* SwiGLU hidden = int(embed_dim * mlp_ratio) */
    int mlp_hidden;
    double norm_eps;       /* 1e-6 */
} jc_vision_config;

typedef struct jc_text_config {
    int hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int vocab_size, max_position_embeddings, type_vocab_size;
    double layer_norm_eps; /* 1e-12 */
} jc_text_config;

typedef struct jc_clyp_config {
    jc_vision_config vision;
    jc_text_config text;
    int vision_neck_in, vision_neck_out, text_neck_in, text_neck_out;
    int image_size;               /* preprocessor_config.json */
    char normalization_type[32];  /* "imagenet", "openai_clip", "imagenet_inception" */
    bool allow_unknown_keys;      /* set by the caller before parsing: warn instead of failing */
} jc_clyp_config;

/* Reads DIR/config.json and DIR/preprocessor_config.json. cfg->allow_unknown_keys is an input. */
jaclip_status jc_config_load(const char *dir, jc_clyp_config *cfg, jaclip_err *err);

/* Parses the two JSON texts (names used in messages); cfg->allow_unknown_keys is an input. */
jaclip_status jc_config_parse(const char *config_json, const char *config_name, const char *pp_json,
                              const char *pp_name, jc_clyp_config *cfg, jaclip_err *err);

#endif
