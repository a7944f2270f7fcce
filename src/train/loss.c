/*
 * loss.c — the symmetric InfoNCE loss of CLYP (model-spec.md section 2, algorithms.md 5.1):
 * features are L2-normalised, logits Z = cos / τ with the learnable temperature τ stored
 * directly (no exp), loss = ½ [CE over rows of Z + CE over rows of Zᵀ] with the diagonal as
 * the targets, averaged over the batch. Computed in double; the backward goes through the
 * normalisation to the raw neck outputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

double clip_loss_forward_backward(const float *img, const float *txt, int B, int dim, float tau, float *dimg,
                                  float *dtxt, float *dtau, float scale, double *acc)
{
    double *ni = malloc(sizeof(double) * ((size_t)2 * B * dim + 3 * (size_t)B * B + 2 * (size_t)B));
    if (!ni) return NAN;
    double *nt = ni + (size_t)B * dim, *S = nt + (size_t)B * dim, *Pr = S + (size_t)B * B, *Pc = Pr + (size_t)B * B;
    double *li = Pc + (size_t)B * B, *lt = li + B;
    for (int i = 0; i < B; i++) {
        double a = 0, b = 0;
        for (int k = 0; k < dim; k++) {
            a += (double)img[(size_t)i * dim + k] * img[(size_t)i * dim + k];
            b += (double)txt[(size_t)i * dim + k] * txt[(size_t)i * dim + k];
        }
        li[i] = sqrt(a) > 1e-12 ? sqrt(a) : 1e-12;
        lt[i] = sqrt(b) > 1e-12 ? sqrt(b) : 1e-12;
        for (int k = 0; k < dim; k++) {
            ni[(size_t)i * dim + k] = img[(size_t)i * dim + k] / li[i];
            nt[(size_t)i * dim + k] = txt[(size_t)i * dim + k] / lt[i];
        }
    }
    double it = 1.0 / tau, loss = 0;
    int correct = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            double s = 0;
            for (int k = 0; k < dim; k++) s += ni[(size_t)i * dim + k] * nt[(size_t)j * dim + k];
            S[(size_t)i * B + j] = s;
        }
    for (int i = 0; i < B; i++) { /* rows: image i against all texts */
        double mx = -INFINITY, z = 0;
        int arg = 0;
        for (int j = 0; j < B; j++)
            if (S[(size_t)i * B + j] * it > mx) mx = S[(size_t)i * B + j] * it, arg = j;
        for (int j = 0; j < B; j++) z += exp(S[(size_t)i * B + j] * it - mx);
        for (int j = 0; j < B; j++) Pr[(size_t)i * B + j] = exp(S[(size_t)i * B + j] * it - mx) / z;
        loss += 0.5 * (mx + log(z) - S[(size_t)i * B + i] * it);
        correct += arg == i;
    }
    for (int j = 0; j < B; j++) { /* columns: text j against all images */
        double mx = -INFINITY, z = 0;
        for (int i = 0; i < B; i++) mx = fmax(mx, S[(size_t)i * B + j] * it);
        for (int i = 0; i < B; i++) z += exp(S[(size_t)i * B + j] * it - mx);
        for (int i = 0; i < B; i++) Pc[(size_t)i * B + j] = exp(S[(size_t)i * B + j] * it - mx) / z;
        loss += 0.5 * (mx + log(z) - S[(size_t)j * B + j] * it);
    }
    loss /= B;
    if (acc) *acc = (double)correct / B;
    if (dimg && dtxt && dtau) {
        double gt = 0;
        /* dL/dZ_ij = (Pr_ij + Pc_ij - 2δ_ij) / (2B); dZ/dS = 1/τ; dZ/dτ = -S/τ² */
        for (size_t q = 0; q < (size_t)B * B; q++) {
            size_t i = q / B, j = q % B;
            double dz = (Pr[q] + Pc[q] - (i == j ? 2.0 : 0.0)) / (2.0 * B) * scale;
            gt += dz * -S[q] * it * it;
            Pr[q] = dz * it; /* Pr now holds dS */
        }
        *dtau = (float)gt;
        double *gi = malloc(sizeof(double) * dim);
        for (int i = 0; gi && i < B; i++) {
            /* d ni = dS ni-row · nt; then through x/|x|: (g - n (n·g)) / |x| */
            for (int k = 0; k < dim; k++) {
                double s = 0;
                for (int j = 0; j < B; j++) s += Pr[(size_t)i * B + j] * nt[(size_t)j * dim + k];
                gi[k] = s;
            }
            double d = 0;
            for (int k = 0; k < dim; k++) d += gi[k] * ni[(size_t)i * dim + k];
            for (int k = 0; k < dim; k++) dimg[(size_t)i * dim + k] = (float)((gi[k] - ni[(size_t)i * dim + k] * d) / li[i]);
            for (int k = 0; k < dim; k++) {
                double s = 0;
                for (int j = 0; j < B; j++) s += Pr[(size_t)j * B + i] * ni[(size_t)j * dim + k];
                gi[k] = s;
            }
            d = 0;
            for (int k = 0; k < dim; k++) d += gi[k] * nt[(size_t)i * dim + k];
            for (int k = 0; k < dim; k++) dtxt[(size_t)i * dim + k] = (float)((gi[k] - nt[(size_t)i * dim + k] * d) / lt[i]);
        }
        free(gi);
    }
    free(ni);
    return loss;
}
