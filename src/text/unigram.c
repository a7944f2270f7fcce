/*
 * unigram.c — the unigram language-model segmenter of sentencepiece 0.1.97
 * (src/unigram_model.cc, Model::EncodeOptimized) and the vocabulary trie it walks.
 *
 * The trie is a double array built at load time (children of node s sit at base[s] + byte,
 * check[] names the parent), holding the NORMAL and UNUSED pieces — control symbols never match
 * inside text. Viterbi keeps, per byte position, the best path ending there:
 *   - a candidate's score is computed in double (score + best-so-far) but stored as float, and it
 *     replaces the stored one only when strictly greater (the first path found wins ties); that
 *     float rounding decides some near-ties, so it is reproduced exactly;
 *   - a character with no single-character piece gets an <unk> node scored min_score - 10,
 *     summed in float;
 *   - UNUSED pieces are skipped.
 * After backtracking, consecutive <unk> pieces are merged into one id, as
 * SentencePieceProcessor::PopulateSentencePieceText does.
 */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

#define MAX_TRIE_PIECE_BYTES 1024
#define DA_WINDOW 256

/* ---- building ------------------------------------------------------------------------- */

typedef struct da_builder {
    jc_da_unit *da;
    size_t n, cap;
    size_t first_free; /* every slot below it is taken */
    const jc_sp_piece *pieces;
    bool oom;
} da_builder;

static bool da_grow(da_builder *b, size_t need)
{
    if (need <= b->n) return true;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need) cap *= 2;
        if (cap > (size_t)INT32_MAX) return false;
        jc_da_unit *p = realloc(b->da, cap * sizeof *p);
        if (!p) return false;
        b->da = p;
        b->cap = cap;
    }
    for (size_t i = b->n; i < need; i++) b->da[i] = (jc_da_unit){0, -1, -1};
    b->n = need;
    return true;
}

static bool da_free_slot(const da_builder *b, size_t i) { return i >= b->n || b->da[i].check == -1; }

/* keys[lo,hi) are sorted piece ids sharing their first `depth` bytes; `node` is their trie node. */
static bool da_build(da_builder *b, size_t node, const int32_t *keys, size_t lo, size_t hi, size_t depth)
{
    const jc_sp_piece *P = b->pieces;
    if (lo < hi && P[keys[lo]].len == depth) b->da[node].value = keys[lo++]; /* a piece ends here */
    if (lo == hi) return true;

    uint8_t labels[256];
    int nl = 0;
    for (size_t i = lo; i < hi; i++) {
        uint8_t c = P[keys[i]].str[depth];
        if (nl == 0 || labels[nl - 1] != c) labels[nl++] = c;
    }
    /* First fit among the last DA_WINDOW slots: searching from the lowest free slot would scan
     * ever longer runs of taken slots past a few holes that nothing fits (seconds per load). */
    while (!da_free_slot(b, b->first_free)) b->first_free++;
    size_t start = b->first_free;
    if (b->n > DA_WINDOW && b->n - DA_WINDOW > start) start = b->n - DA_WINDOW;
    if (start < (size_t)labels[0] + 1) start = (size_t)labels[0] + 1;
    size_t base;
    for (size_t p = start;; p++) {
        if (!da_free_slot(b, p)) continue;
        base = p - labels[0];
        bool ok = true;
        for (int j = 1; j < nl && ok; j++) ok = da_free_slot(b, base + labels[j]);
        if (ok) break;
    }
    if (!da_grow(b, base + labels[nl - 1] + 1)) return false;
    b->da[node].base = (int32_t)base;
    for (int j = 0; j < nl; j++) b->da[base + labels[j]].check = (int32_t)node;

    size_t i = lo;
    for (int j = 0; j < nl; j++) {
        size_t k = i;
        while (k < hi && P[keys[k]].str[depth] == labels[j]) k++;
        if (!da_build(b, base + labels[j], keys, i, k, depth + 1)) return false;
        i = k;
    }
    return true;
}

/* Sort order: trie pieces before reserved ones, then bytewise. */
static int in_trie(int type) { return type == JC_SP_NORMAL || type == JC_SP_USER_DEFINED || type == JC_SP_UNUSED; }
static int cmp_piece(const jc_sp_piece *P, int32_t a, int32_t b)
{
    const jc_sp_piece *x = &P[a], *y = &P[b];
    int gx = !in_trie(x->type), gy = !in_trie(y->type);
    if (gx != gy) return gx - gy;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Bottom-up merge sort of piece ids (qsort has no context argument, and no global state here). */
static void sort_pieces(const jc_sp_piece *P, int32_t *a, int32_t *tmp, size_t n)
{
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp_piece(P, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, n * sizeof *a);
    }
}

jaclip_status jc_unigram_init(jc_unigram *u, const jc_sp_model *m, const char *name, jaclip_err *err)
{
    memset(u, 0, sizeof *u);
    const int n = m->n_pieces;
    u->n_pieces = n;
    u->unk_id = -1;
    u->scores = jc_malloc_array((size_t)n, sizeof *u->scores);
    u->types = jc_malloc_array((size_t)n, 1);
    int32_t *keys = jc_malloc_array((size_t)n * 2, sizeof *keys);
    da_builder b = {0};
    jaclip_status st = JACLIP_OK;
    if (!u->scores || !u->types || !keys) {
        st = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory for %d pieces", name, n);
        goto done;
    }
    float min_score = FLT_MAX;
    for (int i = 0; i < n; i++) {
        const jc_sp_piece *p = &m->pieces[i];
        u->scores[i] = p->score;
        u->types[i] = (uint8_t)p->type;
        keys[i] = i;
        if (p->type == JC_SP_NORMAL && p->score < min_score) min_score = p->score;
        if (p->type == JC_SP_UNKNOWN) {
            if (u->unk_id >= 0) {
                st = jc_err(err, JACLIP_ERR_FORMAT, "%s: pieces %d and %d are both <unk>", name, u->unk_id, i);
                goto done;
            }
            u->unk_id = i;
        }
        if (p->type == JC_SP_USER_DEFINED || p->type == JC_SP_BYTE) {
            st = jc_err(err, JACLIP_ERR_UNSUPPORTED,
                        "%s: piece %d is a %s piece; this tokenizer supports unigram models without them", name,
                        i, p->type == JC_SP_BYTE ? "byte-fallback" : "user-defined");
            goto done;
        }
        if (in_trie(p->type) && p->len > MAX_TRIE_PIECE_BYTES) {
            st = jc_err(err, JACLIP_ERR_UNSUPPORTED, "%s: piece %d is %u bytes long (limit %d)", name, i, p->len,
                        MAX_TRIE_PIECE_BYTES);
            goto done;
        }
    }
    if (u->unk_id < 0) {
        st = jc_err(err, JACLIP_ERR_FORMAT, "%s: no <unk> piece (type UNKNOWN) is defined", name);
        goto done;
    }
    u->min_score = min_score;
    u->unk_score = min_score - 10.0f; /* kUnkPenalty, in float as sentencepiece does */

    sort_pieces(m->pieces, keys, keys + n, (size_t)n);
    int n_trie = 0;
    while (n_trie < n && in_trie(m->pieces[keys[n_trie]].type)) n_trie++;
    for (int i = 1; i < n; i++) {
        if (i != n_trie && cmp_piece(m->pieces, keys[i - 1], keys[i]) == 0) {
            st = jc_err(err, JACLIP_ERR_FORMAT, "%s: piece %d repeats piece %d (\"%.*s\")", name,
                        keys[i] > keys[i - 1] ? keys[i] : keys[i - 1], keys[i] > keys[i - 1] ? keys[i - 1] : keys[i],
                        (int)(m->pieces[keys[i]].len > 64 ? 64 : m->pieces[keys[i]].len), m->pieces[keys[i]].str);
            goto done;
        }
    }
    b.pieces = m->pieces;
    b.first_free = 1;
    if (!da_grow(&b, 256) || !da_build(&b, 0, keys, 0, (size_t)n_trie, 0)) {
        free(b.da);
        st = jc_err(err, JACLIP_ERR_NOMEM, "%s: out of memory building the vocabulary trie", name);
        goto done;
    }
    b.da[0].check = -2; /* the root is nobody's child */
    u->da = b.da;
    u->n_da = b.n;
done:
    free(keys);
    if (st) jc_unigram_free(u);
    return st;
}

void jc_unigram_free(jc_unigram *u)
{
    free(u->da);
    free(u->scores);
    free(u->types);
    memset(u, 0, sizeof *u);
}

void jc_tok_scratch_free(jc_tok_scratch *s)
{
    free(s->lowered.p);
    free(s->normalized.p);
    free(s->nodes);
    free(s->path);
    memset(s, 0, sizeof *s);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* ---- encoding ------------------------------------------------------------------------- */

bool jc_unigram_encode(const jc_unigram *u, const uint8_t *s, size_t n, jc_tok_scratch *scr, int32_t *ids,
                       int max_ids, int *n_ids, long *total)
{
    if (n == 0) return true;
    if (n > (size_t)INT32_MAX - 1) return false;
    if (!grow((void **)&scr->nodes, &scr->nodes_cap, n + 1, sizeof *scr->nodes)) return false;
    jc_lattice_node *nodes = scr->nodes;
    for (size_t i = 0; i <= n; i++) nodes[i] = (jc_lattice_node){0.0f, -1, -1};

    const jc_da_unit *da = u->da;
    const size_t n_da = u->n_da;
    const float *scores = u->scores;
    const uint8_t *types = u->types;
    const float unk_score = u->unk_score;

    size_t starts_at = 0;
    while (starts_at < n) {
        const float best_here = nodes[starts_at].score;
        size_t mblen = (size_t)jc_utf8_lead_len(s[starts_at]);
        if (mblen > n - starts_at) mblen = n - starts_at;
        bool has_single = false;
        size_t node = 0;
        for (size_t key_pos = starts_at; key_pos < n;) {
            size_t t = (size_t)da[node].base + s[key_pos];
            if (t >= n_da || (size_t)da[t].check != node) break;
            node = t;
            key_pos++;
            int32_t id = da[node].value;
            if (id < 0 || types[id] == JC_SP_UNUSED) continue;
            jc_lattice_node *tg = &nodes[key_pos];
            double cand = (double)scores[id] + (double)best_here;
            if (tg->starts_at == -1 || cand > (double)tg->score) {
                tg->score = (float)cand;
                tg->starts_at = (int32_t)starts_at;
                tg->id = id;
            }
            if (key_pos - starts_at == mblen) has_single = true;
        }
        if (!has_single) {
            jc_lattice_node *tg = &nodes[starts_at + mblen];
            float cand = unk_score + best_here;
            if (tg->starts_at == -1 || cand > tg->score) {
                tg->score = cand;
                tg->starts_at = (int32_t)starts_at;
                tg->id = u->unk_id;
            }
        }
        starts_at += mblen;
    }

    /* Backtrack: path[] receives the end positions from the last piece to the first. */
    size_t np = 0;
    for (size_t e = n; e > 0;) {
        if (!grow((void **)&scr->path, &scr->path_cap, np + 1, sizeof *scr->path)) return false;
        scr->path[np++] = (int32_t)e;
        int32_t st = nodes[e].starts_at;
        if (st < 0 || (size_t)st >= e) return false; /* cannot happen: every boundary is reached */
        e = (size_t)st;
    }
    bool prev_unk = false;
    for (size_t k = np; k-- > 0;) {
        int32_t id = nodes[scr->path[k]].id;
        bool is_unk = types[id] == JC_SP_UNKNOWN;
        if (!(is_unk && prev_unk)) {
            if (*n_ids < max_ids) ids[(*n_ids)++] = id;
            (*total)++;
        }
        prev_unk = is_unk;
    }
    return true;
}
