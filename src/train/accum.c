/*
 * accum.c — gradient accumulation that gives the contrastive loss a large effective batch
 * (the GradCache scheme, as open_clip's --accum-freq): averaging the losses of N independent
 * micro-batches would keep each pair's negatives inside its own micro-batch, so instead
 *   1. every micro-batch runs forward without keeping activations and only its image and
 *      text features (raw neck outputs, ΣB × dim each) are kept;
 *   2. the symmetric InfoNCE loss over the whole (ΣB)×(ΣB) similarity matrix and its gradient
 *      with respect to every feature and the temperature are computed (loss.c);
 *   3. each micro-batch runs forward again, now with activations, and its rows of the feature
 *      gradient are backpropagated into the parameter gradients (towers.c), accumulating.
 * The parameter gradients equal those of one step on the concatenated batch (to float
 * rounding; tests/train/test_accum.c), at the price of a second forward per micro-batch, and
 * memory stays one micro-batch's activations plus the features.
 */
#include <math.h>
#include <stdlib.h>

#include "train/train.h"

jaclip_status jc_clip_step_accum(jc_clip *c, const jc_batch *const *mb, int n, bool backward, float scale,
                                 jc_step_out *out, jaclip_err *err)
{
    if (n < 1) return jc_err(err, JACLIP_ERR_ARG, "accumulation needs at least one micro-batch");
    if (n == 1) return jc_clip_step(c, mb[0], backward, scale, out, err);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!mb[i] || mb[i]->B < 1) return jc_err(err, JACLIP_ERR_ARG, "micro-batch %d is empty", i);
        total += (size_t)mb[i]->B;
    }
    if (total > (size_t)1 << 24)
        return jc_err(err, JACLIP_ERR_LIMIT, "effective batch of %zu pairs is too large for one loss", total);
    size_t dim = (size_t)c->dim, nf = total * dim;
    float *img = malloc(sizeof(float) * nf * (backward ? 4 : 2));
    if (!img) return jc_err(err, JACLIP_ERR_NOMEM, "out of memory for the features of %zu pairs", total);
    float *txt = img + nf, *dimg = backward ? txt + nf : NULL, *dtxt = backward ? dimg + nf : NULL;
    jaclip_status rc = JACLIP_OK;
    /* pass 1: features only */
    size_t off = 0;
    for (int i = 0; !rc && i < n; i++) {
        rc = jc_clip_features(c, mb[i], img + off * dim, txt + off * dim, err);
        if (rc) jc_err_prefix(err, "micro-batch %d", i);
        off += (size_t)mb[i]->B;
    }
    /* the loss over the whole effective batch and its gradient w.r.t. every feature and τ */
    float dtau = 0;
    double acc = 0, loss = NAN;
    if (!rc)
        loss = clip_loss_forward_backward(img, txt, (int)total, c->dim, *c->temperature, dimg, dtxt,
                                          backward ? &dtau : NULL, scale, &acc);
    if (out) {
        out->loss = loss;
        out->acc_i2t = acc;
    }
    /* pass 2: recompute each micro-batch with activations and backprop its rows */
    off = 0;
    for (int i = 0; !rc && backward && isfinite(loss) && i < n; i++) {
        rc = jc_clip_backward_features(c, mb[i], dimg + off * dim, dtxt + off * dim, err);
        if (rc) jc_err_prefix(err, "micro-batch %d", i);
        off += (size_t)mb[i]->B;
    }
    if (!rc && backward && isfinite(loss)) c->g[c->temperature - c->w] += dtau;
    free(img);
    return rc;
}
