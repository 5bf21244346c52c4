/* The LSTM and GRU time-step loops of spacy_rnn/torch/loops.py in C ("native" backend),
 * float32; the directions of a layer on two threads where built with OpenMP.
 *
 * Layout (all contiguous, row-major): D directions, N packed rows, H units, G = 4H gates in
 * PyTorch's order (input, forget, cell, output). Rows are packed time-major: step t holds the
 * first batch_sizes[t] sequences (longest first), so the row of the same sequence one step
 * earlier is offset[t - 1] + r. Compiled at install time by setup.py and loaded by
 * spacy_rnn/torch/native/__init__.py; the PyTorch loops are the fallback and the reference in
 * the tests.
 *
 * The tensors that cross to and from the layer around the loop (input projections, output
 * states, their gradients) are in the caller's own row order, (N, D * X), direction d's packed
 * row r being row rows[d * N + r] (`rows`: D x N); the loops gather and scatter those rows
 * themselves (e.g. the backward direction's reversal), so the caller needs no reordering. What
 * stays with the layer for the backward pass (states, cells, gate activations) is per
 * direction in packed order, (D, N, X).
 */
#include <math.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <string.h>

#include "approx.h"

/* The sha256 of the sources this library was built from (setup.py defines it); the loader
 * refuses a library whose hash is not that of the sources next to it. */
#ifndef SPACY_RNN_SOURCE_HASH
#define SPACY_RNN_SOURCE_HASH ""
#endif
const char *spacy_rnn_source_hash(void) { return SPACY_RNN_SOURCE_HASH; }

/* Everything one call's loops read and write; each function uses the fields it names. */
typedef struct {
    int64_t D, N, H, T;
    const int64_t *batch_sizes, *rows;
    const float *proj, *w, *b, *acts, *cells, *states, *grad_h, *grad_c, *rec_n_in, *zeros;
    float *states_out, *cells_out, *acts_out, *rec_n, *d_pre, *d_rec, *work, *merged, *d_flat;
} Loop;

/* Direction d's packed row r of an (N, D * X) tensor in the caller's row order. */
static inline int64_t row_offset(const Loop *l, int64_t d, int64_t r, int64_t X) {
    return (l->rows[d * l->N + r] * l->D + d) * X;
}

/* dst (N, X), packed order <- direction d's rows of src. */
static void gather_rows(const Loop *l, int64_t d, const float *src, int64_t X, float *dst) {
    for (int64_t r = 0; r < l->N; r++)
        memcpy(dst + r * X, src + row_offset(l, d, r, X), sizeof(float) * X);
}

/* Direction d's rows of dst <- src (N, X), packed order. */
static void scatter_rows(const Loop *l, int64_t d, const float *src, int64_t X, float *dst) {
    for (int64_t r = 0; r < l->N; r++)
        memcpy(dst + row_offset(l, d, r, X), src + r * X, sizeof(float) * X);
}

typedef void (*DirectionFn)(const Loop *, int64_t);

/* fn(loop, d) for each direction d < D (they are independent). Built with OpenMP, the two
 * directions run on two threads when OpenMP may use more than one: inside a torch process
 * this is torch's own OpenMP runtime (same soname, loaded first), whose thread count torch
 * sets and whose workers are already waiting. (A separate pthread was measured slower: it
 * competed with those spin-waiting workers.) */
static void for_each_direction(int64_t D, DirectionFn fn, const Loop *loop) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(2) if (D > 1 && omp_get_max_threads() > 1)
#endif
    for (int64_t d = 0; d < D; d++)
        fn(loop, d);
}

/* out[r, c] += sum_k a[r, k] * w[k, c], for ROWS rows starting at a (row stride K) and out
 * (row stride C): 16 columns at a time with the partial sums in vector registers, one
 * load of w serving all ROWS rows; leftover columns one at a time. */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

#define MATMUL_BLOCK(NAME, ROWS)                                                            \
    static void NAME(const float *a, const float *restrict w, int K, int C, float *out) { \
        int c = 0;                                                                           \
        for (; c + 16 <= C; c += 16) {                                                       \
            v8f lo[ROWS], hi[ROWS];                                                          \
            for (int r = 0; r < ROWS; r++) {                                                 \
                lo[r] = *(const v8f *)(out + (int64_t)r * C + c);                            \
                hi[r] = *(const v8f *)(out + (int64_t)r * C + c + 8);                        \
            }                                                                                \
            for (int k = 0; k < K; k++) {                                                    \
                const v8f w_lo = *(const v8f *)(w + (int64_t)k * C + c);                     \
                const v8f w_hi = *(const v8f *)(w + (int64_t)k * C + c + 8);                 \
                for (int r = 0; r < ROWS; r++) {                                             \
                    const float x = a[(int64_t)r * K + k];                                   \
                    lo[r] += x * w_lo;                                                       \
                    hi[r] += x * w_hi;                                                       \
                }                                                                            \
            }                                                                                \
            for (int r = 0; r < ROWS; r++) {                                                 \
                *(v8f *)(out + (int64_t)r * C + c) = lo[r];                                  \
                *(v8f *)(out + (int64_t)r * C + c + 8) = hi[r];                              \
            }                                                                                \
        }                                                                                    \
        for (; c < C; c++)                                                                   \
            for (int r = 0; r < ROWS; r++) {                                                 \
                float sum = out[(int64_t)r * C + c];                                         \
                for (int k = 0; k < K; k++)                                                  \
                    sum += a[(int64_t)r * K + k] * w[(int64_t)k * C + c];                    \
                out[(int64_t)r * C + c] = sum;                                               \
            }                                                                                \
    }

MATMUL_BLOCK(matmul4, 4)
MATMUL_BLOCK(matmul1, 1)

/* out[r, c] += sum_k a[r, k] * w[k, c] for `rows` rows (strides K and C). */
static void matmul_rows(const float *a, int rows, const float *w, int K, int C, float *out) {
    int r = 0;
    for (; r + 4 <= rows; r += 4)
        matmul4(a + (int64_t)r * K, w, K, C, out + (int64_t)r * C);
    for (; r < rows; r++)
        matmul1(a + (int64_t)r * K, w, K, C, out + (int64_t)r * C);
}

/* One forward step's activations for `rows` rows: gates (rows, 4H) pre-activations in place
 * -> activations (sigmoid, sigmoid, tanh, sigmoid); cell and hidden states out. */
static void lstm_cell(float *restrict gates, const float *restrict c_prev, int rows, int H,
                      float *restrict c_out, float *restrict h_out) {
    for (int r = 0; r < rows; r++) {
        float *g = gates + (int64_t)r * 4 * H;
        for (int j = 0; j < H; j++) {
            float i = sigmoid_approx(g[j]), f = sigmoid_approx(g[H + j]);
            float cand = tanh_approx(g[2 * H + j]), o = sigmoid_approx(g[3 * H + j]);
            float c = i * cand + f * c_prev[(int64_t)r * H + j];
            g[j] = i, g[H + j] = f, g[2 * H + j] = cand, g[3 * H + j] = o;
            c_out[(int64_t)r * H + j] = c;
            h_out[(int64_t)r * H + j] = o * tanh_approx(c);
        }
    }
}

static void lstm_forward_direction(const Loop *l, int64_t d) {
    const int64_t N = l->N, H = l->H, G = 4 * H;
    const float *wd = l->w + d * H * G;
    float *hd = l->states_out + d * N * H, *cd = l->cells_out + d * N * H, *ad = l->acts_out + d * N * G;
    gather_rows(l, d, l->proj, G, ad);
    int64_t off = 0, prev = 0;
    for (int64_t t = 0; t < l->T; t++) {
        const int rows = (int)l->batch_sizes[t];
        if (t > 0)
            matmul_rows(hd + prev * H, rows, wd, (int)H, (int)G, ad + off * G);
        lstm_cell(ad + off * G, t > 0 ? cd + prev * H : l->zeros, rows, (int)H, cd + off * H, hd + off * H);
        prev = off;
        off += rows;
    }
    scatter_rows(l, d, hd, H, l->merged);
}

/* Forward loop. proj: (N, D * 4H) input projections with both biases; w: (D, H, 4H) recurrent
 * weights (transposed as in h @ w). Writes states and cells (D, N, H), the gate activations
 * acts (D, N, 4H), which serve as the per-step work space, and the states in the caller's
 * order into merged (N, D * H). zeros: batch_sizes[0] * H zeros (the cell state before the
 * first step). */
void lstm_forward(int64_t D, int64_t N, int64_t H, int64_t T, const int64_t *batch_sizes,
                  const int64_t *rows, const float *proj, const float *w, float *states, float *cells,
                  float *acts, const float *zeros, float *merged) {
    Loop l = {.D = D, .N = N, .H = H, .T = T, .batch_sizes = batch_sizes, .rows = rows, .proj = proj,
              .w = w, .states_out = states, .cells_out = cells, .acts_out = acts, .zeros = zeros,
              .merged = merged};
    for_each_direction(D, lstm_forward_direction, &l);
}

/* One backward step's gate gradients for `rows` rows; dh_next/dc_next hold on entry what the
 * step after passed back (zeros past its batch) and on exit dc_next holds what goes to the
 * step before (dh_next is rewritten by the caller). */
static void lstm_cell_backward(const float *restrict acts, const float *restrict c,
                               const float *restrict c_prev, const float *restrict grad_h,
                               const float *restrict grad_c, const float *restrict dh_next,
                               float *restrict dc_next, int rows, int H, float *restrict d_pre) {
    for (int r = 0; r < rows; r++) {
        const float *a = acts + (int64_t)r * 4 * H;
        float *dp = d_pre + (int64_t)r * 4 * H;
        for (int j = 0; j < H; j++) {
            const int64_t x = (int64_t)r * H + j;
            float i = a[j], f = a[H + j], cand = a[2 * H + j], o = a[3 * H + j];
            float tc = tanh_approx(c[x]);
            float dh = grad_h[x] + dh_next[x];
            float dc = dc_next[x] + dh * o * (1.0f - tc * tc) + grad_c[x];
            dp[j] = dc * cand * i * (1.0f - i);
            dp[H + j] = dc * c_prev[x] * f * (1.0f - f);
            dp[2 * H + j] = dc * i * (1.0f - cand * cand);
            dp[3 * H + j] = dh * tc * o * (1.0f - o);
            dc_next[x] = dc * f;
        }
    }
}

static void lstm_backward_direction(const Loop *l, int64_t d) {
    const int64_t N = l->N, H = l->H, G = 4 * H, B = l->batch_sizes[0];
    const float *wd = l->w + d * G * H, *ad = l->acts + d * N * G, *cd = l->cells + d * N * H;
    const float *gcd = l->grad_c ? l->grad_c + d * N * H : NULL;
    float *dpd = l->d_pre + d * N * G, *work = l->work + d * (3 * B + N) * H;
    float *dh_next = work, *dc_next = work + B * H, *zeros = work + 2 * B * H, *ghd = work + 3 * B * H;
    memset(work, 0, sizeof(float) * 3 * B * H);
    gather_rows(l, d, l->grad_h, H, ghd);
    int64_t off = N;
    for (int64_t t = l->T - 1; t >= 0; t--) {
        const int rows = (int)l->batch_sizes[t];
        off -= rows;
        const int64_t prev = t > 0 ? off - l->batch_sizes[t - 1] : 0;
        lstm_cell_backward(ad + off * G, cd + off * H, t > 0 ? cd + prev * H : zeros, ghd + off * H,
                           gcd ? gcd + off * H : zeros, dh_next, dc_next, rows, (int)H, dpd + off * G);
        memset(dh_next, 0, sizeof(float) * rows * H);
        if (t > 0)
            matmul_rows(dpd + off * G, rows, wd, (int)G, (int)H, dh_next);
    }
    scatter_rows(l, d, dpd, G, l->d_flat);
}

/* Backward loop. w_t: (D, 4H, H) recurrent weights transposed; acts, cells from lstm_forward;
 * grad_h: (N, D * H) in the caller's order; grad_c (D, N, H) or NULL. Writes d_pre (D, N, 4H),
 * the gradient w.r.t. the gate pre-activations, and the same in the caller's order into d_flat
 * (N, D * 4H). work: D * (3 * batch_sizes[0] + N) * H floats. */
void lstm_backward(int64_t D, int64_t N, int64_t H, int64_t T, const int64_t *batch_sizes,
                   const int64_t *rows, const float *w_t, const float *acts, const float *cells,
                   const float *grad_h, const float *grad_c, float *d_pre, float *work, float *d_flat) {
    Loop l = {.D = D, .N = N, .H = H, .T = T, .batch_sizes = batch_sizes, .rows = rows, .w = w_t,
              .acts = acts, .cells = cells, .grad_h = grad_h, .grad_c = grad_c, .d_pre = d_pre,
              .work = work, .d_flat = d_flat};
    for_each_direction(D, lstm_backward_direction, &l);
}

/* The GRU loops of spacy_rnn/torch/loops.py. PyTorch's GRU, gates (r, z, n):
 * r = sigmoid(x_r + h W_r + b_r), z = sigmoid(x_z + h W_z + b_z),
 * n = tanh(x_n + r * (h W_n + b_n)), h' = (1 - z) * n + z * h. */

static void gru_cell(const float *restrict x, const float *restrict rec, const float *restrict h_prev,
                     int rows, int H, float *restrict gates, float *restrict rec_n, float *restrict h_out) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t)r * 3 * H, *rr = rec + (int64_t)r * 3 * H;
        float *g = gates + (int64_t)r * 3 * H;
        for (int j = 0; j < H; j++) {
            const int64_t i = (int64_t)r * H + j;
            float reset = sigmoid_approx(xr[j] + rr[j]), update = sigmoid_approx(xr[H + j] + rr[H + j]);
            float cand = tanh_approx(xr[2 * H + j] + reset * rr[2 * H + j]);
            g[j] = reset, g[H + j] = update, g[2 * H + j] = cand;
            rec_n[i] = rr[2 * H + j];
            h_out[i] = cand + update * (h_prev[i] - cand);
        }
    }
}

static void gru_forward_direction(const Loop *l, int64_t d) {
    const int64_t N = l->N, H = l->H, G = 3 * H, B = l->batch_sizes[0];
    const float *wd = l->w + d * H * G, *bd = l->b + d * G;
    float *hd = l->states_out + d * N * H, *rec = l->work + d * (4 * B * H + N * G);
    float *zeros = rec + B * G, *proj = zeros + B * H;
    memset(zeros, 0, sizeof(float) * B * H);
    gather_rows(l, d, l->proj, G, proj);
    int64_t off = 0, prev = 0;
    for (int64_t t = 0; t < l->T; t++) {
        const int rows = (int)l->batch_sizes[t];
        for (int r = 0; r < rows; r++)
            memcpy(rec + (int64_t)r * G, bd, sizeof(float) * G);
        if (t > 0)
            matmul_rows(hd + prev * H, rows, wd, (int)H, (int)G, rec);
        gru_cell(proj + off * G, rec, t > 0 ? hd + prev * H : zeros, rows, (int)H,
                 l->acts_out + (d * N + off) * G, l->rec_n + (d * N + off) * H, hd + off * H);
        prev = off;
        off += rows;
    }
    scatter_rows(l, d, hd, H, l->merged);
}

/* Forward loop. proj: (N, D * 3H) input projections with the input bias; w: (D, H, 3H); b:
 * (D, 3H) recurrent bias. Writes states (D, N, H), gates (D, N, 3H) = (r, z, n), rec_n
 * (D, N, H) = h W_n + b_n, and the states in the caller's order into merged (N, D * H). work:
 * D * (4 * batch_sizes[0] * H + N * 3H) floats. */
void gru_forward(int64_t D, int64_t N, int64_t H, int64_t T, const int64_t *batch_sizes,
                 const int64_t *rows, const float *proj, const float *w, const float *b, float *states,
                 float *gates, float *rec_n, float *work, float *merged) {
    Loop l = {.D = D, .N = N, .H = H, .T = T, .batch_sizes = batch_sizes, .rows = rows, .proj = proj,
              .w = w, .b = b, .states_out = states, .acts_out = gates, .rec_n = rec_n, .work = work,
              .merged = merged};
    for_each_direction(D, gru_forward_direction, &l);
}

static void gru_cell_backward(const float *restrict gates, const float *restrict rec_n,
                              const float *restrict h_prev, const float *restrict grad_h,
                              float *restrict dh_next, int rows, int H, float *restrict d_proj,
                              float *restrict d_rec) {
    for (int r = 0; r < rows; r++) {
        const float *g = gates + (int64_t)r * 3 * H;
        float *dp = d_proj + (int64_t)r * 3 * H, *dr = d_rec + (int64_t)r * 3 * H;
        for (int j = 0; j < H; j++) {
            const int64_t i = (int64_t)r * H + j;
            float reset = g[j], update = g[H + j], cand = g[2 * H + j];
            float dh = grad_h[i] + dh_next[i];
            float d_update = dh * (h_prev[i] - cand) * update * (1.0f - update);
            float d_cand = dh * (1.0f - update) * (1.0f - cand * cand);
            float d_reset = d_cand * rec_n[i] * reset * (1.0f - reset);
            dp[j] = d_reset, dp[H + j] = d_update, dp[2 * H + j] = d_cand;
            dr[j] = d_reset, dr[H + j] = d_update, dr[2 * H + j] = d_cand * reset;
            dh_next[i] = dh * update;
        }
    }
}

static void gru_backward_direction(const Loop *l, int64_t d) {
    const int64_t N = l->N, H = l->H, G = 3 * H, B = l->batch_sizes[0];
    const float *wd = l->w + d * G * H, *hd = l->states + d * N * H;
    float *dh_next = l->work + d * (2 * B + N) * H, *zeros = dh_next + B * H, *ghd = zeros + B * H;
    memset(dh_next, 0, sizeof(float) * 2 * B * H);
    gather_rows(l, d, l->grad_h, H, ghd);
    int64_t off = N;
    for (int64_t t = l->T - 1; t >= 0; t--) {
        const int rows = (int)l->batch_sizes[t];
        off -= rows;
        const int64_t prev = t > 0 ? off - l->batch_sizes[t - 1] : 0;
        const int64_t at = d * N + off;
        gru_cell_backward(l->acts + at * G, l->rec_n_in + at * H, t > 0 ? hd + prev * H : zeros,
                          ghd + off * H, dh_next, rows, (int)H, l->d_pre + at * G, l->d_rec + at * G);
        matmul_rows(l->d_rec + at * G, rows, wd, (int)G, (int)H, dh_next);
    }
    scatter_rows(l, d, l->d_pre + d * N * G, G, l->d_flat);
}

/* Backward loop. w_t: (D, 3H, H); gates, rec_n from gru_forward; states (D, N, H); grad_h:
 * (N, D * H) in the caller's order. Writes d_proj (D, N, 3H), the gradient w.r.t. the input
 * projections, the same in the caller's order into d_flat (N, D * 3H), and d_rec (D, N, 3H),
 * w.r.t. h W + b_hh. work: D * (2 * batch_sizes[0] + N) * H floats. */
void gru_backward(int64_t D, int64_t N, int64_t H, int64_t T, const int64_t *batch_sizes,
                  const int64_t *rows, const float *w_t, const float *gates, const float *rec_n,
                  const float *states, const float *grad_h, float *d_proj, float *d_rec, float *work,
                  float *d_flat) {
    Loop l = {.D = D, .N = N, .H = H, .T = T, .batch_sizes = batch_sizes, .rows = rows, .w = w_t,
              .acts = gates, .rec_n_in = rec_n, .states = states, .grad_h = grad_h, .d_pre = d_proj,
              .d_rec = d_rec, .work = work, .d_flat = d_flat};
    for_each_direction(D, gru_backward_direction, &l);
}
