/* The exp approximation and the sigmoid and tanh built on it, shared by the C loops of
 * steps.c and the attention scores of attention.c (float32). */
#ifndef SPACY_RNN_APPROX_H
#define SPACY_RNN_APPROX_H
#include <stdint.h>

/* exp(x) for the activations: 2^n * 2^f with n = round(x / ln 2), |f| <= 1/2 and a degree-6
 * polynomial for 2^f (evaluated in Estrin's scheme: shorter dependency chains than Horner's).
 * Adding 1.5 * 2^23 rounds x / ln 2 to the integer n and leaves n in the low bits of the sum,
 * from which the scale 2^n is built without a float -> int conversion. Over [-80, 80]: relative
 * error at most 1.2e-6 with FMA contraction (3.8e-6 without); sigmoid and tanh built on it stay
 * within 9.5e-8 and 1.9e-7 of float64 (absolute). A NaN input gives NaN (the polynomial is NaN,
 * whatever the scale bits). Branch-free, so the loops vectorize. */
static inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float log2e = 1.44269504088896341f, magic = 12582912.0f; /* 1.5 * 2^23 */
    const float shifted = x * log2e + magic;
    const float f = x * log2e - (shifted - magic);
    const float f2 = f * f, f4 = f2 * f2;
    const float p01 = 1.0f + 6.931472028550421e-1f * f;
    const float p23 = 2.402264791363012e-1f + 5.550332471162809e-2f * f;
    const float p456 = 9.618437357674640e-3f + 1.339887440266574e-3f * f + 1.535336188319500e-4f * f2;
    union { float f; uint32_t i; } bits = {shifted}, scale;
    scale.i = (bits.i - 0x4B400000u + 127u) << 23; /* 0x4B400000: the bits of 1.5 * 2^23 */
    return ((p01 + f2 * p23) + f4 * p456) * scale.f;
}

static inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

static inline float tanh_approx(float x) { return 2.0f / (1.0f + exp_approx(-2.0f * x)) - 1.0f; }

#endif
