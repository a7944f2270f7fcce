/*
 * test_backward_fd.c — every backward kernel (kernels/backward.c) and the InfoNCE loss
 * against central finite differences of an independent float64 reference of the layer
 * written here, on tiny shapes: loss = Σ r ⊙ layer(x) with a random r, so dL/dout = r.
 * The float32 analytic gradients must match the float64 numeric ones to relative error
 * (‖a − n‖ / ‖n‖) ≤ 1e-4; the float32 forward kernels must match the float64 references.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backward.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "train/train.h"
#include "testutil.h"

static uint64_t rng = 12345;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}
static void fill(float *x, size_t n, double s)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(s * urand());
}

/* relative error of float32 analytic vs float64 numeric gradient */
static void check_grad(const char *what, const float *a, const double *num, size_t n, double tol)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - num[i]) * (a[i] - num[i]);
        s += num[i] * num[i];
    }
    double rel = sqrt(d) / (sqrt(s) > 1e-30 ? sqrt(s) : 1e-30);
    printf("  %-34s rel err %.2e\n", what, rel);
    CHECK(rel <= tol, "%s: relative error %.3g > %.1g", what, rel, tol);
}

/* numeric gradient of f (float64 loss of a double vector) w.r.t. x (n) */
typedef double (*loss_fn)(void *ctx);
static void numgrad(double *x, size_t n, loss_fn f, void *ctx, double *g)
{
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], h = 1e-6 * (fabs(x0) > 1 ? fabs(x0) : 1);
        x[i] = x0 + h;
        double lp = f(ctx);
        x[i] = x0 - h;
        double lm = f(ctx);
        x[i] = x0;
        g[i] = (lp - lm) / (2 * h);
    }
}

static double *to_d(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* ---- matmul ----------------------------------------------------------------------------- */
typedef struct {
    double *x, *w, *b, *r;
    int M, K, N;
} mm_ctx;
static double mm_loss(void *p)
{
    mm_ctx *c = p;
    double L = 0;
    for (int m = 0; m < c->M; m++)
        for (int n = 0; n < c->N; n++) {
            double s = c->b[n];
            for (int k = 0; k < c->K; k++) s += c->x[m * c->K + k] * c->w[n * c->K + k];
            L += c->r[m * c->N + n] * s;
        }
    return L;
}

static void test_matmul(jaclip_pool *pool, jc_scratch *S)
{
    int M = 7, K = 13, N = 5;
    float x[7 * 13], w[5 * 13], b[5], r[7 * 5], dx[7 * 13] = {0}, dw[5 * 13] = {0}, db[5] = {0};
    fill(x, M * K, 1), fill(w, N * K, 1), fill(b, N, 1), fill(r, M * N, 1);
    matmul_backward(pool, S, dx, dw, db, r, x, w, M, K, N);
    mm_ctx c = {to_d(x, M * K), to_d(w, N * K), to_d(b, N), to_d(r, M * N), M, K, N};
    double g[7 * 13];
    printf("matmul (7x13 . 13x5):\n");
    numgrad(c.x, M * K, mm_loss, &c, g), check_grad("dinp", dx, g, M * K, 1e-4);
    numgrad(c.w, N * K, mm_loss, &c, g), check_grad("dweight", dw, g, N * K, 1e-4);
    numgrad(c.b, N, mm_loss, &c, g), check_grad("dbias", db, g, N, 1e-4);
    free(c.x), free(c.w), free(c.b), free(c.r);
}

/* ---- layernorm -------------------------------------------------------------------------- */
typedef struct {
    double *x, *w, *b, *r;
    int T, C;
    double eps;
} ln_ctx;
static double ln_loss(void *p)
{
    ln_ctx *c = p;
    double L = 0;
    for (int t = 0; t < c->T; t++) {
        const double *x = c->x + t * c->C;
        double m = 0, v = 0;
        for (int i = 0; i < c->C; i++) m += x[i];
        m /= c->C;
        for (int i = 0; i < c->C; i++) v += (x[i] - m) * (x[i] - m);
        v /= c->C;
        for (int i = 0; i < c->C; i++) L += c->r[t * c->C + i] * ((x[i] - m) / sqrt(v + c->eps) * c->w[i] + c->b[i]);
    }
    return L;
}

static void test_layernorm(jaclip_pool *pool, jc_scratch *S)
{
    int T = 5, C = 19;
    float x[5 * 19], w[19], b[19], r[5 * 19], dx[5 * 19] = {0}, dw[19] = {0}, db[19] = {0}, out[5 * 19];
    fill(x, T * C, 2), fill(w, C, 1), fill(b, C, 1), fill(r, T * C, 1);
    for (int i = 0; i < C; i++) w[i] += 1.0f;
    layernorm_backward(pool, S, dx, dw, db, r, x, w, T, C, 1e-6f);
    ln_ctx c = {to_d(x, T * C), to_d(w, C), to_d(b, C), to_d(r, T * C), T, C, 1e-6};
    /* forward agrees with the reference: Σ r·out */
    layernorm_forward(pool, out, x, w, b, T, C, 1e-6f);
    double Lf = 0;
    for (int i = 0; i < T * C; i++) Lf += (double)r[i] * out[i];
    CHECK(fabs(Lf - ln_loss(&c)) < 1e-4, "layernorm forward differs from the float64 reference");
    double g[5 * 19];
    printf("layernorm (5x19):\n");
    numgrad(c.x, T * C, ln_loss, &c, g), check_grad("dinp", dx, g, T * C, 1e-4);
    numgrad(c.w, C, ln_loss, &c, g), check_grad("dweight", dw, g, C, 1e-4);
    numgrad(c.b, C, ln_loss, &c, g), check_grad("dbias", db, g, C, 1e-4);
    free(c.x), free(c.w), free(c.b), free(c.r);
}

/* ---- gelu / swiglu ---------------------------------------------------------------------- */
typedef struct {
    double *g, *u, *r;
    int n, op;
} ew_ctx;
static double ew_loss(void *p)
{
    ew_ctx *c = p;
    double L = 0;
    for (int i = 0; i < c->n; i++) {
        double x = c->g[i];
        if (c->op == 0) L += c->r[i] * 0.5 * x * (1 + erf(x / sqrt(2.0)));
        else L += c->r[i] * x / (1 + exp(-x)) * c->u[i];
    }
    return L;
}

static void test_elementwise(jaclip_pool *pool)
{
    enum { n = 41 };
    float g[n], u[n], r[n], dg[n] = {0}, du[n] = {0}, out[n];
    fill(g, n, 4), fill(u, n, 2), fill(r, n, 1);
    ew_ctx c = {to_d(g, n), to_d(u, n), to_d(r, n), n, 0};
    double num[n];
    printf("gelu (41):\n");
    memcpy(out, g, sizeof out);
    gelu_forward(pool, out, n);
    double Lf = 0;
    for (int i = 0; i < n; i++) Lf += (double)r[i] * out[i];
    CHECK(fabs(Lf - ew_loss(&c)) < 1e-4, "gelu forward differs from the float64 reference");
    gelu_backward(pool, dg, g, r, n);
    numgrad(c.g, n, ew_loss, &c, num), check_grad("dinp", dg, num, n, 1e-4);
    printf("swiglu (41):\n");
    memset(dg, 0, sizeof dg);
    c.op = 1;
    swiglu_backward(pool, dg, du, g, u, r, n);
    numgrad(c.g, n, ew_loss, &c, num), check_grad("dgate", dg, num, n, 1e-4);
    numgrad(c.u, n, ew_loss, &c, num), check_grad("dvalue", du, num, n, 1e-4);
    free(c.g), free(c.u), free(c.r);
}

/* ---- rope ------------------------------------------------------------------------------- */
typedef struct {
    double *x, *r;
    const float *sn, *cs;
    int T, C, hd, first;
} rope_ctx;
static double rope_loss(void *p)
{
    rope_ctx *c = p;
    double L = 0;
    for (int t = 0; t < c->T; t++)
        for (int i = 0; i < c->C; i++) {
            double y = c->x[t * c->C + i];
            if (t >= c->first) {
                int m = i % c->hd, row = t - c->first, e = m & ~1;
                const float *s = c->sn + row * c->hd, *co = c->cs + row * c->hd;
                double x0 = c->x[t * c->C + (i - m) + e], x1 = c->x[t * c->C + (i - m) + e + 1];
                y = (m & 1) ? x1 * co[m] + x0 * s[m] : x0 * co[m] - x1 * s[m];
            }
            L += c->r[t * c->C + i] * y;
        }
    return L;
}

static void test_rope(void)
{
    int grid = 3, hd = 8, H = 2, C = H * hd, first = 1, T = 1 + grid * grid;
    float sn[9 * 8], cs[9 * 8], x[10 * 16], r[10 * 16], dx[10 * 16];
    rope_table(sn, cs, grid, 16, 16, hd);
    fill(x, T * C, 1), fill(r, T * C, 1);
    memcpy(dx, r, sizeof dx);
    rope_backward(dx, C, hd, first, grid * grid, sn, cs);
    rope_ctx c = {to_d(x, T * C), to_d(r, T * C), sn, cs, T, C, hd, first};
    double g[10 * 16];
    float y[10 * 16];
    memcpy(y, x, sizeof y);
    rope_forward(y, C, hd, first, grid * grid, sn, cs);
    double Lf = 0;
    for (int i = 0; i < T * C; i++) Lf += (double)r[i] * y[i];
    CHECK(fabs(Lf - rope_loss(&c)) < 1e-4, "rope forward differs from the float64 reference");
    printf("rope (class token + 3x3 grid, 2 heads of 8):\n");
    numgrad(c.x, T * C, rope_loss, &c, g), check_grad("dinp", dx, g, T * C, 1e-4);
    free(c.x), free(c.r);
}

/* ---- attention over packed segments ----------------------------------------------------- */
typedef struct {
    double *q, *k, *v, *r;
    const int *seg;
    int nseg, H, hd, C;
    double scale;
} att_ctx;
static double att_loss(void *p)
{
    att_ctx *c = p;
    double L = 0, pr[64];
    for (int s = 0; s < c->nseg; s++)
        for (int h = 0; h < c->H; h++)
            for (int i = c->seg[s]; i < c->seg[s + 1]; i++) {
                double mx = -1e300, z = 0;
                for (int t = c->seg[s]; t < c->seg[s + 1]; t++) {
                    double d = 0;
                    for (int e = 0; e < c->hd; e++) d += c->q[i * c->C + h * c->hd + e] * c->k[t * c->C + h * c->hd + e];
                    pr[t - c->seg[s]] = d * c->scale;
                    if (pr[t - c->seg[s]] > mx) mx = pr[t - c->seg[s]];
                }
                for (int t = 0; t < c->seg[s + 1] - c->seg[s]; t++) z += (pr[t] = exp(pr[t] - mx));
                for (int e = 0; e < c->hd; e++) {
                    double o = 0;
                    for (int t = c->seg[s]; t < c->seg[s + 1]; t++) o += pr[t - c->seg[s]] / z * c->v[t * c->C + h * c->hd + e];
                    L += c->r[i * c->C + h * c->hd + e] * o;
                }
            }
    return L;
}

static void test_attention(jaclip_pool *pool)
{
    int seg[4] = {0, 5, 6, 13}, nseg = 3, H = 2, hd = 4, C = 8, T = 13;
    float q[13 * 8], k[13 * 8], v[13 * 8], r[13 * 8], dq[13 * 8] = {0}, dk[13 * 8] = {0}, dv[13 * 8] = {0}, out[13 * 8];
    fill(q, T * C, 1.5), fill(k, T * C, 1.5), fill(v, T * C, 1), fill(r, T * C, 1);
    int threads = jaclip_pool_size(pool);
    size_t per = attention_scratch_floats(7, hd) > (size_t)(2 + 2 * hd) * 7 ? attention_scratch_floats(7, hd)
                                                                         : (size_t)(2 + 2 * hd) * 7;
    float *scratch = calloc((size_t)threads * per, sizeof(float));
    float scale = 0.5f;
    attention_backward(pool, dq, dk, dv, r, q, k, v, seg, nseg, H, hd, scale, scratch, 7);
    attention_forward(pool, out, q, k, v, seg, nseg, H, hd, scale, scratch, 7);
    att_ctx c = {to_d(q, T * C), to_d(k, T * C), to_d(v, T * C), to_d(r, T * C), seg, nseg, H, hd, C, scale};
    double Lf = 0;
    for (int i = 0; i < T * C; i++) Lf += (double)r[i] * out[i];
    CHECK(fabs(Lf - att_loss(&c)) < 1e-4, "attention forward differs from the float64 reference");
    double g[13 * 8];
    printf("attention (segments of 5, 1 and 7 tokens, 2 heads of 4):\n");
    numgrad(c.q, T * C, att_loss, &c, g), check_grad("dq", dq, g, T * C, 1e-4);
    numgrad(c.k, T * C, att_loss, &c, g), check_grad("dk", dk, g, T * C, 1e-4);
    numgrad(c.v, T * C, att_loss, &c, g), check_grad("dv", dv, g, T * C, 1e-4);
    free(c.q), free(c.k), free(c.v), free(c.r), free(scratch);
}

/* ---- InfoNCE with learnable temperature ------------------------------------------------- */
typedef struct {
    double *img, *txt, *tau;
    int B, D;
} nce_ctx;
static double nce_loss(void *p)
{
    nce_ctx *c = p;
    int B = c->B, D = c->D;
    double ni[6 * 5], nt[6 * 5], Z[36], L = 0;
    for (int i = 0; i < B; i++) {
        double a = 0, b = 0;
        for (int k = 0; k < D; k++) a += c->img[i * D + k] * c->img[i * D + k], b += c->txt[i * D + k] * c->txt[i * D + k];
        for (int k = 0; k < D; k++) ni[i * D + k] = c->img[i * D + k] / sqrt(a), nt[i * D + k] = c->txt[i * D + k] / sqrt(b);
    }
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += ni[i * D + k] * nt[j * D + k];
            Z[i * B + j] = s / c->tau[0];
        }
    for (int i = 0; i < B; i++) {
        double zr = 0, zc = 0;
        for (int j = 0; j < B; j++) zr += exp(Z[i * B + j]), zc += exp(Z[j * B + i]);
        L += 0.5 * (log(zr) - Z[i * B + i]) + 0.5 * (log(zc) - Z[i * B + i]);
    }
    return L / B;
}

static void test_infonce(void)
{
    int B = 6, D = 5;
    float img[30], txt[30], di[30], dt[30], dtau;
    fill(img, 30, 1), fill(txt, 30, 1);
    float tau = 0.3f;
    double acc;
    double L = clip_loss_forward_backward(img, txt, B, D, tau, di, dt, &dtau, 1.0f, &acc);
    double taud = tau;
    nce_ctx c = {to_d(img, 30), to_d(txt, 30), &taud, B, D};
    CHECK(fabs(L - nce_loss(&c)) < 1e-9, "InfoNCE loss %.12g differs from the reference %.12g", L, nce_loss(&c));
    double g[30];
    printf("InfoNCE (6 pairs, 5-d, tau 0.3):\n");
    numgrad(c.img, 30, nce_loss, &c, g), check_grad("dimage", di, g, 30, 1e-4);
    numgrad(c.txt, 30, nce_loss, &c, g), check_grad("dtext", dt, g, 30, 1e-4);
    numgrad(c.tau, 1, nce_loss, &c, g), check_grad("dtemperature", &dtau, g, 1, 1e-4);
    /* algorithms.md 5.1 unit check: I = T orthonormal -> L = -log(e^(1/τ) / (e^(1/τ) + B - 1)) */
    float e[25] = {0};
    for (int i = 0; i < 5; i++) e[i * 5 + i] = 1;
    double Lo = clip_loss_forward_backward(e, e, 5, 5, 0.5f, NULL, NULL, NULL, 1, NULL);
    double want = -log(exp(2.0) / (exp(2.0) + 4));
    CHECK(fabs(Lo - want) < 1e-9, "orthonormal InfoNCE %.12g, want %.12g", Lo, want);
    free(c.img), free(c.txt);
}

int main(void)
{
    jaclip_pool *pool;
    jaclip_err err;
    REQUIRE(jaclip_pool_create(2, &pool, &err) == JACLIP_OK, "pool");
    jc_scratch S = {0};
    test_matmul(pool, &S);
    test_layernorm(pool, &S);
    test_elementwise(pool);
    test_rope();
    test_attention(pool);
    test_infonce();
    jc_scratch_free(&S);
    jaclip_pool_free(pool);
    return test_done();
}
