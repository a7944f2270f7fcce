/*
 * clyp.c — the CLYP tokenizer as the model sees it (model-spec.md §6.2-6.3), and the public
 * jaclip_tokenizer_* / jaclip_tokenize* functions.
 *
 * CLYPTokenizer wraps rinna's SentencePiece model in transformers' slow-tokenizer rules:
 *   1. lower-case one code point at a time with Python's str.lower() (generated table in
 *      lowercase_table.c), leaving the special-token strings intact;
 *   2. split literal special tokens (<unk> <s> </s> [PAD] [CLS] [SEP] [MASK]) out of the
 *      lower-cased text — they map straight to their ids — and run SentencePiece (normalizer.c,
 *      unigram.c) on every segment between them, each with its own dummy prefix;
 *   3. keep the first max-1 SentencePiece ids and prepend [CLS] (id 4);
 *   4. for a batch: right-pad with [PAD] (id 3) to the longest row, mask, positions 0..len-1.
 * Input is a byte string: it may hold NUL bytes and malformed UTF-8 (each bad byte passes
 * lower-casing unchanged and becomes U+FFFD in the normalizer).
 */
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

#define N_SPECIALS 7
static const char *const kSpecials[N_SPECIALS] = {"<unk>", "<s>", "</s>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"};
static const uint8_t kSpecialLen[N_SPECIALS] = {5, 3, 4, 5, 5, 5, 6};

#define MODEL_MAX_BYTES ((size_t)1 << 30)

struct jaclip_tokenizer {
    char *path;
    char *file; /* the .model bytes; pieces point into it */
    jc_sp_model model;
    jc_normalizer nz;
    jc_unigram uni;
    int32_t special_ids[N_SPECIALS];
    uint8_t changes_bmp[0x110000 / 8]; /* code points that str.lower() changes */
};

/* SentencePieceProcessor::PieceToId: the piece's id, or <unk> when absent. */
static int32_t piece_to_id(const jc_sp_model *m, int unk_id, const char *s)
{
    size_t n = strlen(s);
    for (int i = 0; i < m->n_pieces; i++)
        if (m->pieces[i].len == n && memcmp(m->pieces[i].str, s, n) == 0) return i;
    return unk_id;
}

/* Builds a tokenizer over t->file (len bytes); `name` is used in messages. */
static jaclip_status tokenizer_init(jaclip_tokenizer *t, size_t len, const char *name, jaclip_err *err)
{
    const jc_sp_model *m = &t->model;
    jaclip_status st = jc_sp_model_parse((const uint8_t *)t->file, len, name, &t->model, err);
    if (st) return st;
    if (m->model_type != 1)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: model_type %d is not UNIGRAM (1); only unigram models are supported",
                      name, m->model_type);
    if (m->byte_fallback || m->treat_whitespace_as_suffix)
        return jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: %s is not supported", name,
                      m->byte_fallback ? "byte_fallback" : "treat_whitespace_as_suffix");
    if ((st = jc_normalizer_init(&t->nz, m, name, err))) return st;
    if ((st = jc_unigram_init(&t->uni, m, name, err))) return st;
    for (int k = 0; k < N_SPECIALS; k++) t->special_ids[k] = piece_to_id(m, t->uni.unk_id, kSpecials[k]);
    for (int i = 0; i < jc_lower_table_size; i++) {
        uint32_t cp = jc_lower_table[i].cp;
        t->changes_bmp[cp >> 3] |= (uint8_t)(1u << (cp & 7));
    }
    return JACLIP_OK;
}

jaclip_status jaclip_tokenizer_load(const char *spm_path, jaclip_tokenizer **out, jaclip_err *err)
{
    *out = NULL;
    if (!spm_path) return jc_err(err, JACLIP_ERR_ARG, "tokenizer path is NULL");
    if (jc_is_dir(spm_path))
        return jc_err(err, JACLIP_ERR_IO, "%s: is a directory, expected a SentencePiece .model file", spm_path);
    jaclip_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = jc_strdup(spm_path))) {
        free(t);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", spm_path);
    }
    size_t len;
    jaclip_status st = jc_read_file(spm_path, MODEL_MAX_BYTES, &t->file, &len, err);
    if (!st) st = tokenizer_init(t, len, spm_path, err);
    if (st) {
        jaclip_tokenizer_free(t);
        return st;
    }
    *out = t;
    return JACLIP_OK;
}

jaclip_status jc_tokenizer_load_mem(const void *data, size_t len, const char *name, jaclip_tokenizer **out,
                                    jaclip_err *err)
{
    *out = NULL;
    jaclip_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !(t->path = jc_strdup(name)) || !(t->file = malloc(len ? len : 1))) {
        jaclip_tokenizer_free(t);
        return jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory", name);
    }
    if (len) memcpy(t->file, data, len);
    jaclip_status st = tokenizer_init(t, len, name, err);
    if (st) {
        jaclip_tokenizer_free(t);
        return st;
    }
    *out = t;
    return JACLIP_OK;
}

void jaclip_tokenizer_free(jaclip_tokenizer *t)
{
    if (!t) return;
    jc_unigram_free(&t->uni);
    jc_normalizer_free(&t->nz);
    jc_sp_model_free(&t->model);
    free(t->file);
    free(t->path);
    free(t);
}

/* Index of the special token that starts at s, or -1. */
static inline int match_special(const uint8_t *s, size_t avail)
{
    if (s[0] != '<' && s[0] != '[') return -1;
    for (int k = 0; k < N_SPECIALS; k++)
        if (avail >= kSpecialLen[k] && memcmp(s, kSpecials[k], kSpecialLen[k]) == 0) return k;
    return -1;
}

static const jc_lower_entry *lower_lookup(int32_t cp)
{
    int lo = 0, hi = jc_lower_table_size - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t c = jc_lower_table[mid].cp;
        if (c == (uint32_t)cp) return &jc_lower_table[mid];
        if (c < (uint32_t)cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* Step 1: str.lower() per code point, special tokens intact. */
static bool lower_text(const jaclip_tokenizer *t, const uint8_t *s, size_t len, jc_bytes *out)
{
    out->len = 0;
    if (len > (SIZE_MAX - 16) / 2 || !jc_bytes_reserve(out, 2 * len + 16)) return false; /* lower() grows <= 1.5x */
    uint8_t *o = out->p;
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            int k;
            if ((c == '<' || c == '[') && (k = match_special(s + i, len - i)) >= 0) {
                memcpy(o, s + i, kSpecialLen[k]);
                o += kSpecialLen[k];
                i += kSpecialLen[k];
                continue;
            }
            *o++ = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
            i++;
            continue;
        }
        int n;
        int32_t cp = jc_utf8_decode(s + i, len - i, &n);
        const jc_lower_entry *e = NULL;
        if (cp >= 0 && (t->changes_bmp[cp >> 3] >> (cp & 7) & 1)) e = lower_lookup(cp);
        if (e) {
            memcpy(o, e->bytes, e->len);
            o += e->len;
        } else {
            memcpy(o, s + i, (size_t)n);
            o += n;
        }
        i += (size_t)n;
    }
    out->len = (size_t)(o - out->p);
    return true;
}

/* One text -> ids (with [CLS]) using caller scratch. */
static jaclip_status tokenize_one(const jaclip_tokenizer *t, const uint8_t *text, size_t len, jc_tok_scratch *scr,
                                  int32_t *ids, int max_ids, int *n_ids, jaclip_err *err)
{
    int n = 0;
    ids[n++] = JACLIP_TOKEN_CLS;
    if (!lower_text(t, text, len, &scr->lowered)) goto oom;
    const uint8_t *s = scr->lowered.p;
    const size_t sl = scr->lowered.len;
    long total = 0;
    size_t seg = 0;
    for (size_t i = 0; i <= sl && n < max_ids;) {
        int k = i < sl ? match_special(s + i, sl - i) : -1;
        if (i < sl && k < 0) {
            i++;
            continue;
        }
        if (i > seg) { /* SentencePiece on the text between specials */
            scr->normalized.len = 0;
            jc_normalize(&t->nz, s + seg, i - seg, &scr->normalized);
            if (scr->normalized.oom) goto oom;
            if (!jc_unigram_encode(&t->uni, scr->normalized.p, scr->normalized.len, scr, ids, max_ids, &n, &total))
                goto oom;
        }
        if (k < 0) break; /* end of text */
        if (n < max_ids) ids[n++] = t->special_ids[k];
        i += kSpecialLen[k];
        seg = i;
    }
    *n_ids = n;
    return JACLIP_OK;
oom:
    return jc_err(err, JACLIP_ERR_NOMEM, "tokenize: out of memory for a %zu-byte text", len);
}

jaclip_status jaclip_tokenize(const jaclip_tokenizer *tok, const char *text, size_t len, int32_t *ids, int max_ids,
                              int *n_ids, jaclip_err *err)
{
    if (n_ids) *n_ids = 0;
    if (!tok || !ids || !n_ids || (!text && len)) return jc_err(err, JACLIP_ERR_ARG, "tokenize: NULL argument");
    if (max_ids < 1) return jc_err(err, JACLIP_ERR_ARG, "tokenize: max_ids %d leaves no room for [CLS]", max_ids);
    jc_tok_scratch scr = {0};
    jaclip_status st = tokenize_one(tok, (const uint8_t *)(text ? text : ""), len, &scr, ids, max_ids, n_ids, err);
    jc_tok_scratch_free(&scr);
    return st;
}

void jaclip_token_batch_free(jaclip_token_batch *b)
{
    if (!b) return;
    free(b->ids);
    free(b->mask);
    free(b->positions);
    free(b->lengths);
    memset(b, 0, sizeof *b);
}

jaclip_status jaclip_tokenize_batch(const jaclip_tokenizer *tok, const char *const *texts, int n, int max_len,
                                    jaclip_token_batch *out, jaclip_err *err)
{
    if (!out) return jc_err(err, JACLIP_ERR_ARG, "tokenize_batch: NULL output");
    memset(out, 0, sizeof *out);
    if (!tok || n < 0 || (n > 0 && !texts)) return jc_err(err, JACLIP_ERR_ARG, "tokenize_batch: invalid arguments");
    if (max_len <= 0) max_len = JACLIP_MAX_TEXT_LEN;
    if (n == 0) return JACLIP_OK;
    jaclip_status st = JACLIP_OK;
    jc_tok_scratch scr = {0};
    int32_t *rows = jc_malloc_array((size_t)n * (size_t)max_len, sizeof *rows);
    out->lengths = jc_calloc((size_t)n, sizeof *out->lengths);
    if (!rows || !out->lengths) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "tokenize_batch: out of memory for %d texts", n);
        goto done;
    }
    int longest = 0;
    for (int r = 0; r < n; r++) {
        if (!texts[r]) {
            st = jc_err(err, JACLIP_ERR_ARG, "tokenize_batch: text %d is NULL", r);
            goto done;
        }
        int len;
        st = tokenize_one(tok, (const uint8_t *)texts[r], strlen(texts[r]), &scr, rows + (size_t)r * max_len, max_len,
                          &len, err);
        if (st) goto done;
        out->lengths[r] = len;
        if (len > longest) longest = len;
    }
    size_t total = (size_t)n * (size_t)longest;
    out->ids = jc_malloc_array(total, sizeof *out->ids);
    out->mask = jc_malloc_array(total, sizeof *out->mask);
    out->positions = jc_malloc_array(total, sizeof *out->positions);
    if (!out->ids || !out->mask || !out->positions) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "tokenize_batch: out of memory for %d x %d ids", n, longest);
        goto done;
    }
    out->n = n;
    out->len = longest;
    for (int r = 0; r < n; r++) {
        for (int j = 0; j < longest; j++) {
            size_t o = (size_t)r * longest + j;
            bool real = j < out->lengths[r];
            out->ids[o] = real ? rows[(size_t)r * max_len + j] : JACLIP_TOKEN_PAD;
            out->mask[o] = real;
            out->positions[o] = j;
        }
    }
done:
    free(rows);
    jc_tok_scratch_free(&scr);
    if (st) jaclip_token_batch_free(out);
    return st;
}
