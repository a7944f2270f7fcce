/*
 * spm_model.c — reads a SentencePiece .model file: a serialized `ModelProto` (protobuf wire
 * format, sentencepiece_model.proto). We keep our own reader instead of linking protobuf: the
 * file is small, we need only a handful of fields, and a hostile or truncated file must end in a
 * clear error naming the file and byte offset — every varint, length and field is bounds-checked.
 *
 * Fields read (others are skipped after their length is validated):
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL)
 *   TrainerSpec     3 model_type, 24 treat_whitespace_as_suffix, 35 byte_fallback
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                   4 remove_extra_whitespaces, 5 escape_whitespaces
 * A message field that occurs twice is merged (later scalars win), as protobuf does.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

typedef struct pb_reader {
    const uint8_t *base; /* start of the whole file, for offsets in messages */
    const uint8_t *p, *end;
    const char *name;
    jaclip_err *err;
} pb_reader;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

static jaclip_status pb_fail(pb_reader *r, const char *what)
{
    return jc_err(r->err, JACLIP_ERR_FORMAT, "%s: corrupt SentencePiece model at byte %zu: %s", r->name,
                  (size_t)(r->p - r->base), what);
}

static jaclip_status pb_varint(pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    *out = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return pb_fail(r, "truncated varint");
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7E)) return pb_fail(r, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return JACLIP_OK;
        }
    }
    return pb_fail(r, "varint longer than 10 bytes");
}

/* Reads a tag; field 0 is invalid in protobuf. */
static jaclip_status pb_tag(pb_reader *r, uint32_t *field, int *wt)
{
    uint64_t t;
    *field = 0;
    *wt = 0;
    jaclip_status st = pb_varint(r, &t);
    if (st) return st;
    if ((t >> 3) == 0 || (t >> 3) > 0x1FFFFFFF) return pb_fail(r, "invalid field number");
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return JACLIP_OK;
}

/* A length-delimited payload: checks the length against the bytes that remain. */
static jaclip_status pb_bytes(pb_reader *r, const uint8_t **data, size_t *len)
{
    uint64_t n;
    *data = NULL;
    *len = 0;
    jaclip_status st = pb_varint(r, &n);
    if (st) return st;
    if (n > (uint64_t)(r->end - r->p)) return pb_fail(r, "length-delimited field runs past its end (file truncated?)");
    *data = r->p;
    *len = (size_t)n;
    r->p += n;
    return JACLIP_OK;
}

static jaclip_status pb_skip(pb_reader *r, int wt)
{
    uint64_t v;
    const uint8_t *d;
    size_t n;
    switch (wt) {
    case WT_VARINT: return pb_varint(r, &v);
    case WT_I64:
        if (r->end - r->p < 8) return pb_fail(r, "truncated 64-bit field");
        r->p += 8;
        return JACLIP_OK;
    case WT_LEN: return pb_bytes(r, &d, &n);
    case WT_I32:
        if (r->end - r->p < 4) return pb_fail(r, "truncated 32-bit field");
        r->p += 4;
        return JACLIP_OK;
    default: return pb_fail(r, "unsupported wire type (groups are not used by sentencepiece)");
    }
}

static jaclip_status pb_expect(pb_reader *r, int wt, int want, const char *field)
{
    if (wt == want) return JACLIP_OK;
    char msg[128];
    snprintf(msg, sizeof msg, "field %s has wire type %d, expected %d", field, wt, want);
    return pb_fail(r, msg);
}

static jaclip_status pb_bool(pb_reader *r, int wt, const char *field, bool *out)
{
    uint64_t v;
    jaclip_status st = pb_expect(r, wt, WT_VARINT, field);
    if (!st) st = pb_varint(r, &v);
    if (!st) *out = v != 0;
    return st;
}

/* A sub-reader over a nested message. */
static pb_reader pb_sub(const pb_reader *r, const uint8_t *data, size_t len)
{
    pb_reader s = *r;
    s.p = data;
    s.end = data + len;
    return s;
}

static jaclip_status parse_piece(pb_reader *r, jc_sp_piece *pc)
{
    pc->str = NULL;
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = JC_SP_NORMAL;
    bool has_piece = false;
    while (r->p < r->end) {
        uint32_t f;
        int wt;
        jaclip_status st = pb_tag(r, &f, &wt);
        if (st) return st;
        if (f == 1) {
            const uint8_t *d;
            size_t n;
            if ((st = pb_expect(r, wt, WT_LEN, "SentencePiece.piece")) || (st = pb_bytes(r, &d, &n))) return st;
            if (n > 65536) return pb_fail(r, "piece longer than 65536 bytes");
            pc->str = d;
            pc->len = (uint32_t)n;
            has_piece = true;
        } else if (f == 2) {
            if ((st = pb_expect(r, wt, WT_I32, "SentencePiece.score"))) return st;
            if (r->end - r->p < 4) return pb_fail(r, "truncated score");
            uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                         (uint32_t)r->p[3] << 24;
            memcpy(&pc->score, &u, 4);
            r->p += 4;
        } else if (f == 3) {
            uint64_t v;
            if ((st = pb_expect(r, wt, WT_VARINT, "SentencePiece.type")) || (st = pb_varint(r, &v))) return st;
            if (v < JC_SP_NORMAL || v > JC_SP_BYTE) return pb_fail(r, "unknown piece type");
            pc->type = (int)v;
        } else if ((st = pb_skip(r, wt))) {
            return st;
        }
    }
    if (!has_piece || pc->len == 0) return pb_fail(r, "piece must not be empty");
    return JACLIP_OK;
}

static jaclip_status parse_trainer(pb_reader *r, jc_sp_model *m)
{
    while (r->p < r->end) {
        uint32_t f;
        int wt;
        jaclip_status st = pb_tag(r, &f, &wt);
        if (st) return st;
        if (f == 3) {
            uint64_t v;
            if ((st = pb_expect(r, wt, WT_VARINT, "TrainerSpec.model_type")) || (st = pb_varint(r, &v))) return st;
            m->model_type = v > 100 ? 100 : (int)v;
        } else if (f == 24) {
            if ((st = pb_bool(r, wt, "TrainerSpec.treat_whitespace_as_suffix", &m->treat_whitespace_as_suffix)))
                return st;
        } else if (f == 35) {
            if ((st = pb_bool(r, wt, "TrainerSpec.byte_fallback", &m->byte_fallback))) return st;
        } else if ((st = pb_skip(r, wt))) {
            return st;
        }
    }
    return JACLIP_OK;
}

static jaclip_status parse_normalizer(pb_reader *r, jc_sp_model *m)
{
    while (r->p < r->end) {
        uint32_t f;
        int wt;
        jaclip_status st = pb_tag(r, &f, &wt);
        if (st) return st;
        if (f == 1) {
            if ((st = pb_expect(r, wt, WT_LEN, "NormalizerSpec.name")) ||
                (st = pb_bytes(r, &m->norm_name, &m->norm_name_len)))
                return st;
        } else if (f == 2) {
            if ((st = pb_expect(r, wt, WT_LEN, "NormalizerSpec.precompiled_charsmap")) ||
                (st = pb_bytes(r, &m->charsmap, &m->charsmap_len)))
                return st;
        } else if (f == 3) {
            if ((st = pb_bool(r, wt, "NormalizerSpec.add_dummy_prefix", &m->add_dummy_prefix))) return st;
        } else if (f == 4) {
            if ((st = pb_bool(r, wt, "NormalizerSpec.remove_extra_whitespaces", &m->remove_extra_whitespaces)))
                return st;
        } else if (f == 5) {
            if ((st = pb_bool(r, wt, "NormalizerSpec.escape_whitespaces", &m->escape_whitespaces))) return st;
        } else if ((st = pb_skip(r, wt))) {
            return st;
        }
    }
    return JACLIP_OK;
}

jaclip_status jc_sp_model_parse(const uint8_t *data, size_t size, const char *name, jc_sp_model *m,
                                jaclip_err *err)
{
    memset(m, 0, sizeof *m);
    m->model_type = 1;
    m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = true;
    pb_reader r = {data, data, data + size, name, err};

    /* First pass counts the pieces so that one allocation holds them. */
    size_t n_pieces = 0;
    bool has_trainer = false, has_normalizer = false;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        jaclip_status st = pb_tag(&r, &f, &wt);
        if (!st && f == 1 && wt == WT_LEN) n_pieces++;
        if (!st && f == 2) has_trainer = true;
        if (!st && f == 3) has_normalizer = true;
        if (!st) st = pb_skip(&r, wt);
        if (st) return st;
    }
    if (n_pieces == 0)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: not a SentencePiece model (no pieces found)", name);
    /* sentencepiece writes pieces, then trainer_spec, then normalizer_spec: a file cut at a
     * field boundary still parses, but lacks these. */
    if (!has_trainer || !has_normalizer)
        return jc_err(err, JACLIP_ERR_FORMAT, "%s: SentencePiece model without %s (file truncated?)", name,
                      has_trainer ? "normalizer_spec" : "trainer_spec");
    if (n_pieces > 10000000) return jc_err(err, JACLIP_ERR_LIMIT, "%s: more than 10M pieces", name);
    m->pieces = jc_calloc(n_pieces, sizeof *m->pieces);
    if (!m->pieces) return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for %zu pieces", name, n_pieces);

    r.p = data;
    while (r.p < r.end) {
        uint32_t f;
        int wt;
        const uint8_t *d;
        size_t n;
        jaclip_status st = pb_tag(&r, &f, &wt);
        if (st) goto fail;
        if (f >= 1 && f <= 3) {
            static const char *const names[] = {"", "ModelProto.pieces", "ModelProto.trainer_spec",
                                                "ModelProto.normalizer_spec"};
            if ((st = pb_expect(&r, wt, WT_LEN, names[f])) || (st = pb_bytes(&r, &d, &n))) goto fail;
            pb_reader sub = pb_sub(&r, d, n);
            if (f == 1) st = parse_piece(&sub, &m->pieces[m->n_pieces++]);
            else if (f == 2) st = parse_trainer(&sub, m);
            else st = parse_normalizer(&sub, m);
            if (st) goto fail;
        } else if ((st = pb_skip(&r, wt))) {
            goto fail;
        }
        continue;
    fail:
        jc_sp_model_free(m);
        return st;
    }
    return JACLIP_OK;
}

void jc_sp_model_free(jc_sp_model *m)
{
    free(m->pieces);
    m->pieces = NULL;
    m->n_pieces = 0;
}
