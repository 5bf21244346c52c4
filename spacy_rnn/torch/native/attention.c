/* Additive (Bahdanau) attention scores and their gradients in C, float32:
 *
 *     scores[b, t, s] = sum_a v[a] * tanh(q[b, t, a] + k[b, s, a])   where mask[b, s], else -inf
 *
 * PyTorch computes this through a (B, T, S, A) tensor: the sum, its tanh, the product with v,
 * and in the backward pass the tanh's gradient and the sums back to q and k, each a pass over
 * memory that does not fit in cache. Here each score is one pass over A values that stay in
 * registers and L1, masked source positions are skipped, the backward pass recomputes the tanh
 * instead of storing it, and skips the scores whose gradient is zero (e.g. the padded target
 * positions of a training batch, which the loss does not see). Sentences run in parallel on
 * torch's OpenMP threads where built with OpenMP. Compiled with steps.c by __init__.py. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "approx.h"

typedef float v8f __attribute__((vector_size(32), aligned(4)));

enum { CHUNK = 256 }; /* tanh values computed ahead of each dot product, on the stack */

/* out[a] = tanh(q[a] + k[a]) for a < n (a loop the compiler vectorizes). */
static inline void tanh_of_sum(const float *restrict q, const float *restrict k, int64_t n,
                               float *restrict out) {
    for (int64_t a = 0; a < n; a++)
        out[a] = tanh_approx(q[a] + k[a]);
}

/* sum_a x[a] * v[a], eight partial sums in a vector register. */
static inline float dot(const float *restrict x, const float *restrict v, int64_t n) {
    v8f acc = {0};
    int64_t a = 0;
    for (; a + 8 <= n; a += 8)
        acc += *(const v8f *)(x + a) * *(const v8f *)(v + a);
    float sum = 0.0f;
    for (; a < n; a++)
        sum += x[a] * v[a];
    for (int j = 0; j < 8; j++)
        sum += acc[j];
    return sum;
}

static float score(const float *q, const float *k, const float *v, int64_t A) {
    float buf[CHUNK] __attribute__((aligned(32)));
    float sum = 0.0f;
    for (int64_t a = 0; a < A; a += CHUNK) {
        const int64_t n = A - a < CHUNK ? A - a : CHUNK;
        tanh_of_sum(q + a, k + a, n, buf);
        sum += dot(buf, v + a, n);
    }
    return sum;
}

/* q (B, T, A), k (B, S, A), v (A), mask (B, S) bytes, nonzero on real source positions ->
 * scores (B, T, S). */
void additive_scores(int64_t B, int64_t T, int64_t S, int64_t A, const float *q, const float *k,
                     const float *v, const uint8_t *mask, float *scores) {
#ifdef _OPENMP
#pragma omp parallel for if (omp_get_max_threads() > 1)
#endif
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *qt = q + (b * T + t) * A;
            float *out = scores + (b * T + t) * S;
            for (int64_t s = 0; s < S; s++)
                out[s] = mask[b * S + s] ? score(qt, k + (b * S + s) * A, v, A) : -INFINITY;
        }
}

/* The gradient g of one score, passed back to v, q and k (accumulated). */
static inline void score_backward(const float *restrict q, const float *restrict k,
                                  const float *restrict v, float g, int64_t A, float *restrict dv,
                                  float *restrict dq, float *restrict dk) {
    for (int64_t a = 0; a < A; a++) {
        const float th = tanh_approx(q[a] + k[a]);
        const float d = g * v[a] * (1.0f - th * th);
        dv[a] += g * th;
        dq[a] += d;
        dk[a] += d;
    }
}

/* grad (B, T, S), the gradient of the scores -> dq (B, T, A), dk (B, S, A) and dv_parts
 * (B, A), each sentence's share of v's gradient (the caller sums them). Other arguments as
 * in additive_scores. */
void additive_scores_backward(int64_t B, int64_t T, int64_t S, int64_t A, const float *q,
                              const float *k, const float *v, const uint8_t *mask, const float *grad,
                              float *dq, float *dk, float *dv_parts) {
#ifdef _OPENMP
#pragma omp parallel for if (omp_get_max_threads() > 1)
#endif
    for (int64_t b = 0; b < B; b++) {
        memset(dk + b * S * A, 0, sizeof(float) * S * A);
        memset(dv_parts + b * A, 0, sizeof(float) * A);
        memset(dq + b * T * A, 0, sizeof(float) * T * A);
        for (int64_t t = 0; t < T; t++)
            for (int64_t s = 0; s < S; s++) {
                const float g = grad[(b * T + t) * S + s];
                if (mask[b * S + s] && g != 0.0f)
                    score_backward(q + (b * T + t) * A, k + (b * S + s) * A, v, g, A,
                                   dv_parts + b * A, dq + (b * T + t) * A, dk + (b * S + s) * A);
            }
    }
}
