/*
 * test_config.c — config.json / preprocessor_config.json parsing: official names give the
 * published hyper-parameters (v1 and v2 layouts), extra_kwargs override them, and unknown
 * keys, unsupported backbones and inconsistent sizes are refused with a message naming
 * the key.
 */
#include <string.h>

#include "io/config.h"
#include "testutil.h"

static const char *V2 =
    "{\"architectures\":[\"CLYPModel\"],\"model_type\":\"clyp\",\"learn_temperature\":true,\"temperature_init\":0.07,"
    "\"text_encoder_config\":{\"backbone_config\":{\"model_name\":\"rinna/japanese-clip-vit-b-16\",\"pretrained\":false},"
    "\"neck_config\":{\"bias\":false,\"in_channels\":768,\"out_channels\":256},\"pooler_config\":{\"input_type\":\"huggingface\"}},"
    "\"vision_encoder_config\":{\"backbone_config\":{\"extra_kwargs\":{},\"model_name\":\"eva02_base_patch16_clip_224.merged2b\","
    "\"pretrained\":false},\"neck_config\":{\"bias\":false,\"in_channels\":768,\"out_channels\":256},"
    "\"pooler_config\":{\"input_type\":\"timm\",\"return_patch_features\":false}}}";
static const char *PP = "{\"image_size\":224,\"normalization_type\":\"openai_clip\",\"image_processor_type\":\"CLYPImageProcessor\"}";

/* V2 with `from` replaced by `to` */
static jaclip_status parse_variant(const char *from, const char *to, const char *pp, jc_clyp_config *c, jaclip_err *e)
{
    char buf[4096];
    const char *p = strstr(V2, from);
    if (!p) return JACLIP_ERR_INTERNAL;
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - V2), V2, to, p + strlen(from));
    return jc_config_parse(buf, "config.json", pp ? pp : PP, "preprocessor_config.json", c, e);
}

int main(void)
{
    jc_clyp_config c = {0};
    jaclip_err e = {0};
    REQUIRE(jc_config_parse(V2, "config.json", PP, "pp.json", &c, &e) == JACLIP_OK, "%s", e.msg);
    CHECK(c.vision.embed_dim == 768 && c.vision.depth == 12 && c.vision.num_heads == 12 && c.vision.patch_size == 16,
          "eva02 base");
    CHECK(c.vision.mlp_hidden == 2048, "swiglu hidden %d", c.vision.mlp_hidden);
    CHECK(c.vision.ref_feat_shape[0] == 16 && c.vision.ref_feat_shape[1] == 16, "ref feat shape");
    CHECK(c.text.hidden_size == 768 && c.text.intermediate_size == 3072 && c.text.vocab_size == 32000 &&
              c.text.max_position_embeddings == 512 && c.text.type_vocab_size == 2 && c.text.layer_norm_eps == 1e-12,
          "bert");
    CHECK(c.vision_neck_out == 256 && strcmp(c.normalization_type, "openai_clip") == 0 && c.image_size == 224, "v2");

    /* extra_kwargs override (timm names / HF BertConfig names) */
    REQUIRE(parse_variant("\"extra_kwargs\":{}",
                          "\"extra_kwargs\":{\"embed_dim\":64,\"depth\":3,\"num_heads\":4,\"mlp_ratio\":2.5,"
                          "\"patch_size\":8,\"img_size\":64,\"ref_feat_shape\":[12,10],\"drop_path_rate\":0.1}",
                          "{\"image_size\":64}", &c, &e) == JACLIP_ERR_MISMATCH,
            "neck in_channels must follow embed_dim: %s", e.msg);
    CHECK(strstr(e.msg, "in_channels") != NULL, "%s", e.msg);
    REQUIRE(parse_variant("\"extra_kwargs\":{},\"model_name\":\"eva02_base_patch16_clip_224.merged2b\","
                          "\"pretrained\":false},\"neck_config\":{\"bias\":false,\"in_channels\":768",
                          "\"extra_kwargs\":{\"embed_dim\":64,\"depth\":3,\"num_heads\":4,\"mlp_ratio\":2.5,"
                          "\"patch_size\":8,\"img_size\":64,\"ref_feat_shape\":[12,10],\"drop_path_rate\":0.1},"
                          "\"model_name\":\"eva02_base_patch16_clip_224\",\"pretrained\":false},"
                          "\"neck_config\":{\"bias\":false,\"in_channels\":64",
                          "{\"image_size\":64,\"normalization_type\":\"imagenet\"}", &c, &e) == JACLIP_OK,
            "%s", e.msg);
    CHECK(c.vision.embed_dim == 64 && c.vision.depth == 3 && c.vision.num_heads == 4 && c.vision.mlp_hidden == 160 &&
              c.vision.patch_size == 8 && c.vision.img_size == 64 && c.vision.ref_feat_shape[0] == 12 &&
              c.vision.ref_feat_shape[1] == 10 && strcmp(c.normalization_type, "imagenet") == 0,
          "overrides");

    /* errors */
    CHECK(parse_variant("\"learn_temperature\"", "\"fancy_new_option\":1,\"learn_temperature\"", NULL, &c, &e) ==
                  JACLIP_ERR_UNSUPPORTED && strstr(e.msg, "fancy_new_option"),
          "unknown top-level key: %s", e.msg);
    c.allow_unknown_keys = true; /* lenient: the same key is a warning */
    CHECK(parse_variant("\"learn_temperature\"", "\"fancy_new_option\":1,\"learn_temperature\"", NULL, &c, &e) ==
              JACLIP_OK && c.allow_unknown_keys && c.vision.embed_dim == 768,
          "lenient: %s", e.msg);
    c.allow_unknown_keys = false;
    CHECK(parse_variant("\"extra_kwargs\":{}", "\"extra_kwargs\":{\"qkv_fused\":true}", NULL, &c, &e) ==
                  JACLIP_ERR_UNSUPPORTED && strstr(e.msg, "qkv_fused"),
          "unknown extra_kwarg: %s", e.msg);
    CHECK(parse_variant("eva02_base_patch16_clip_224.merged2b", "vit_base_patch16_224", NULL, &c, &e) ==
                  JACLIP_ERR_UNSUPPORTED && strstr(e.msg, "vit_base_patch16_224"),
          "backbone: %s", e.msg);
    CHECK(parse_variant("\"out_channels\":256},\"pooler_config\":{\"input_type\":\"timm\"",
                        "\"out_channels\":512},\"pooler_config\":{\"input_type\":\"timm\"", NULL, &c, &e) ==
                  JACLIP_ERR_MISMATCH,
          "necks differ: %s", e.msg);
    CHECK(parse_variant("\"bias\":false,\"in_channels\":768,\"out_channels\":256},\"pooler_config\":{\"input_type\":\"h",
                        "\"bias\":true,\"in_channels\":768,\"out_channels\":256},\"pooler_config\":{\"input_type\":\"h",
                        NULL, &c, &e) == JACLIP_ERR_UNSUPPORTED,
          "neck bias: %s", e.msg);
    CHECK(jc_config_parse(V2, "config.json", "{\"image_size\":224,\"normalization_type\":\"weird\"}", "pp.json", &c,
                          &e) == JACLIP_ERR_UNSUPPORTED && strstr(e.msg, "normalization_type"),
          "normalization: %s", e.msg);
    CHECK(jc_config_parse(V2, "config.json", "{\"image_size\":224,\"crop\":1}", "pp.json", &c, &e) ==
                  JACLIP_ERR_UNSUPPORTED && strstr(e.msg, "crop") && strstr(e.msg, "pp.json"),
          "unknown preprocessor key: %s", e.msg);
    CHECK(jc_config_parse("{\"vision_encoder_config\":", "config.json", PP, "pp.json", &c, &e) == JACLIP_ERR_FORMAT,
          "broken JSON: %s", e.msg);
    CHECK(jc_config_load("/nonexistent-dir", &c, &e) == JACLIP_ERR_IO && strstr(e.msg, "config.json"), "missing: %s",
          e.msg);
    return test_done();
}
