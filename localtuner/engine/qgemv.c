/* Matrix-vector products over weights stored as 4- or 8-bit codes with per-block scales, in
 * float32: each weight is rebuilt exactly (w = d*q + m, d*q exact in float32), multiplied by
 * the float32 input and summed in float32. See qgemv.py for why and how the codes are found.
 *
 * Layout (row-major, blocks of 32 along the input):
 *   q4: codes [out][in/2] bytes, byte j of a block = q[j] | q[j+16] << 4; d, m [out][in/32]
 *   q8: codes [out][in] int8; d [out][in/32]
 *   d and m are half-precision numbers (their 16 bits), as in the GGUF blocks: a third of the
 *   bytes a token reads were these scales while they were stored as float32.
 * x [rows][in], y [rows][out]. The output rows are shared out over OpenMP threads; built with
 * -fopenmp, the library binds to the libgomp.so.1 torch has already loaded, so it runs on torch's
 * own thread pool with the calling thread's torch.set_num_threads() count (no second pool).
 * Built at first use by qgemv.py (cc -O3 -march=native); nothing here is needed to run fineweb.
 */
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif
#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#define QGEMV_AVX2 1
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

#define BLOCK 32
typedef uint16_t half_bits;
#if defined(__F16C__)
#include <immintrin.h>
static inline float h2f(half_bits h) { return _cvtsh_ss(h); }
static inline half_bits f2h(float x) { return (half_bits)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT); }
#else /* compilers with _Float16 (GCC 12+, clang 15+) */
static inline float h2f(half_bits h) {
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}
static inline half_bits f2h(float x) {
    _Float16 v = (_Float16)x;
    half_bits h;
    memcpy(&h, &v, 2);
    return h;
}
#endif
#define LORA_MAX_RANK 1024 /* the LoRA ranks of one fused product together (qgemv.py checks) */

/* The vector width the products were built with: 512 (AVX-512), 256 (AVX2 + FMA), 0 (plain
 * loops, which qgemv.py does not use: slower than torch's float32 product). */
int qgemv_simd(void) {
#if defined(__AVX512F__)
    return 512;
#elif defined(QGEMV_AVX2)
    return 256;
#else
    return 0;
#endif
}

#if defined(__AVX512F__)
static inline void widen(const half_bits *h, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    for (; i < n; i++) out[i] = h2f(h[i]);
}

/* ROWS output rows at once: the input block is loaded once for all of them, and 2*ROWS
 * independent accumulators keep the multiply-add units busy instead of waiting on one chain.
 * A block's 16 possible weights (d*q + m, q = 0..15) are built once as a table, and each code
 * picks its weight from it (vpermps reads only the low 4 bits of an index, so the low nibble
 * needs no mask): the same float32 weights as d*q + m, with fewer operations per weight. */
#define Q4_ROWS(ROWS)                                                                              \
    static inline void q4_rows##ROWS(const uint8_t *q, const half_bits *d, const half_bits *m,            \
                                     const float *xr, float *yr, int64_t nb, int64_t stride) {    \
        __m512 acc[ROWS][2];                                                                       \
        for (int k = 0; k < ROWS; k++) acc[k][0] = acc[k][1] = _mm512_setzero_ps();               \
        float ds[ROWS * nb], ms[ROWS * nb]; /* the rows' scales as float32, 16 at a time */        \
        for (int k = 0; k < ROWS; k++) widen(d + k * stride, ds + k * nb, nb);                     \
        for (int k = 0; k < ROWS; k++) widen(m + k * stride, ms + k * nb, nb);                     \
        const __m512 iota = _mm512_set_ps(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);  \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            __m512 x0 = _mm512_loadu_ps(xr + b * BLOCK), x1 = _mm512_loadu_ps(xr + b * BLOCK + 16); \
            for (int k = 0; k < ROWS; k++) {                                                       \
                __m512i v = _mm512_cvtepu8_epi32(                                                  \
                    _mm_loadu_si128((const __m128i *)(q + k * stride * 16 + b * 16)));             \
                __m512 table = _mm512_fmadd_ps(_mm512_set1_ps(ds[k * nb + b]), iota,               \
                                               _mm512_set1_ps(ms[k * nb + b]));                    \
                __m512 w0 = _mm512_permutexvar_ps(v, table);                                       \
                __m512 w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);                 \
                acc[k][0] = _mm512_fmadd_ps(w0, x0, acc[k][0]);                                    \
                acc[k][1] = _mm512_fmadd_ps(w1, x1, acc[k][1]);                                    \
            }                                                                                      \
        }                                                                                          \
        for (int k = 0; k < ROWS; k++) yr[k] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][0], acc[k][1])); \
    }
Q4_ROWS(4)
Q4_ROWS(1)
#elif defined(QGEMV_AVX2)
static inline void widen(const half_bits *h, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = h2f(h[i]); /* vectorised: vcvtph2ps */
}

/* The same with 8 lanes: bytes 0-7 and 8-15 of a block give weights 0-7 / 8-15 (low nibbles)
 * and 16-23 / 24-31 (high nibbles). */
#define Q4_ROWS(ROWS)                                                                              \
    static inline void q4_rows##ROWS(const uint8_t *q, const half_bits *d, const half_bits *m,            \
                                     const float *xr, float *yr, int64_t nb, int64_t stride) {    \
        __m256 acc[ROWS][2];                                                                       \
        for (int k = 0; k < ROWS; k++) acc[k][0] = acc[k][1] = _mm256_setzero_ps();               \
        float ds[ROWS * nb], ms[ROWS * nb];                                                        \
        for (int k = 0; k < ROWS; k++) widen(d + k * stride, ds + k * nb, nb);                     \
        for (int k = 0; k < ROWS; k++) widen(m + k * stride, ms + k * nb, nb);                     \
        const __m256i low = _mm256_set1_epi32(15);                                                 \
        for (int64_t b = 0; b < nb; b++) {                                                         \
            const float *xb = xr + b * BLOCK;                                                      \
            __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);                         \
            __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);                   \
            for (int k = 0; k < ROWS; k++) {                                                       \
                const uint8_t *qb = q + k * stride * 16 + b * 16;                                  \
                __m256i a = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qb));            \
                __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qb + 8)));      \
                __m256 dd = _mm256_set1_ps(ds[k * nb + b]), mm = _mm256_set1_ps(ms[k * nb + b]); \
                __m256 w0 = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_and_si256(a, low)), mm); \
                __m256 w1 = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_and_si256(c, low)), mm); \
                __m256 w2 = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_srli_epi32(a, 4)), mm);  \
                __m256 w3 = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_srli_epi32(c, 4)), mm);  \
                acc[k][0] = _mm256_fmadd_ps(w0, x0, _mm256_fmadd_ps(w2, x2, acc[k][0]));           \
                acc[k][1] = _mm256_fmadd_ps(w1, x1, _mm256_fmadd_ps(w3, x3, acc[k][1]));           \
            }                                                                                      \
        }                                                                                          \
        for (int k = 0; k < ROWS; k++) yr[k] = hsum256(_mm256_add_ps(acc[k][0], acc[k][1]));       \
    }
Q4_ROWS(4)
Q4_ROWS(1)
#endif

/* y = W x (+ b^T-stored LoRA: y += B (a x) when rank > 0; a [rank][in], and bt = B transposed,
 * [rank][out] when bounds is NULL). With bounds, the product is n_seg fused projections (q|k|v,
 * gate|up): output rows bounds[s]..bounds[s+1] belong to the s-th, whose rank is rank/n_seg, and
 * bt is [rank/n_seg][out]: those rows meet only z[s*r .. (s+1)*r) (a block-diagonal B without
 * its zeros). */
void q4_gemv(const uint8_t *q, const half_bits *d, const half_bits *m, const float *x, float *y,
             int64_t n_out, int64_t n_in, int64_t rows, const float *a, const float *b,
             int64_t rank, const int64_t *bounds, int64_t n_seg) {
    const int64_t nb = n_in / BLOCK;
    float z[LORA_MAX_RANK];
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n_in;
        float *yr = y + r * n_out;
        for (int64_t k = 0; k < rank; k++) {
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t i = 0; i < n_in; i++) s += a[k * n_in + i] * xr[i];
            z[k] = s;
        }
#if defined(__AVX512F__) || defined(QGEMV_AVX2)
        const int64_t groups = n_out / 4;
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t g = 0; g < groups; g++) {
            const int64_t o = 4 * g;
            q4_rows4(q + o * (n_in / 2), d + o * nb, m + o * nb, xr, yr + o, nb, nb);
        }
        for (int64_t o = 4 * groups; o < n_out; o++)
            q4_rows1(q + o * (n_in / 2), d + o * nb, m + o * nb, xr, yr + o, nb, nb);
#else
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t o = 0; o < n_out; o++) {
            const uint8_t *qo = q + o * (n_in / 2);
            const half_bits *dob = d + o * nb, *mob = m + o * nb;
            float acc[16] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *qb = qo + b * 16;
                const float db = h2f(dob[b]), mb = h2f(mob[b]);
                const float *xb = xr + b * BLOCK;
                for (int j = 0; j < 16; j++) {
                    float w0 = db * (float)(qb[j] & 15) + mb;
                    float w1 = db * (float)(qb[j] >> 4) + mb;
                    acc[j] += w0 * xb[j] + w1 * xb[j + 16];
                }
            }
            float s = 0;
            for (int j = 0; j < 16; j++) s += acc[j];
            yr[o] = s;
        }
#endif
        const int64_t segs = bounds ? n_seg : 1, seg_rank = rank / segs;
        for (int64_t g = 0; rank > 0 && g < segs; g++) {
            const int64_t lo = bounds ? bounds[g] : 0, hi = bounds ? bounds[g + 1] : n_out;
            for (int64_t k = 0; k < seg_rank; k++) { /* along the output rows: no horizontal sums */
                const float zk = z[g * seg_rank + k], *bk = b + k * n_out;
#pragma omp simd
                for (int64_t o = lo; o < hi; o++) yr[o] += bk[o] * zk;
            }
        }
    }
}

void q8_gemv(const int8_t *q, const half_bits *d, const float *x, float *y, int64_t n_out,
             int64_t n_in, int64_t rows) {
    const int64_t nb = n_in / BLOCK;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n_in;
        float *yr = y + r * n_out;
#pragma omp parallel for schedule(dynamic, 16)
        for (int64_t o = 0; o < n_out; o++) {
            const int8_t *qo = q + o * n_in;
            const half_bits *dob = d + o * nb;
#if defined(__AVX512F__)
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                __m512 dd = _mm512_set1_ps(h2f(dob[b]));
                __m512i v0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qo + b * BLOCK)));
                __m512i v1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qo + b * BLOCK + 16)));
                __m512 w0 = _mm512_mul_ps(dd, _mm512_cvtepi32_ps(v0));
                __m512 w1 = _mm512_mul_ps(dd, _mm512_cvtepi32_ps(v1));
                acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xr + b * BLOCK), acc0);
                acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xr + b * BLOCK + 16), acc1);
            }
            yr[o] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#elif defined(QGEMV_AVX2)
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                __m256 dd = _mm256_set1_ps(h2f(dob[b]));
                const int8_t *qb = qo + b * BLOCK;
                const float *xb = xr + b * BLOCK;
                for (int h = 0; h < BLOCK; h += 16) {
                    __m256 w0 = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qb + h)))));
                    __m256 w1 = _mm256_mul_ps(dd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qb + h + 8)))));
                    acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xb + h), acc0);
                    acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xb + h + 8), acc1);
                }
            }
            yr[o] = hsum256(_mm256_add_ps(acc0, acc1));
#else
            float acc[16] = {0};
            for (int64_t b = 0; b < nb; b++) {
                const int8_t *qb = qo + b * BLOCK;
                const float db = h2f(dob[b]);
                const float *xb = xr + b * BLOCK;
                for (int j = 0; j < 16; j++)
                    acc[j] += (db * (float)qb[j]) * xb[j] + (db * (float)qb[j + 16]) * xb[j + 16];
            }
            float s = 0;
            for (int j = 0; j < 16; j++) s += acc[j];
            yr[o] = s;
#endif
        }
    }
}

/* Finding the codes: for each block of 32 weights, the offset is the block's smallest weight (its
 * code 0) and the scale a half-precision number next to (largest - smallest) / top (top: 15, or
 * 127 for 8-bit codes around 0); a block is taken only if d * q + offset gives back every weight
 * exactly. Returns how many blocks failed (0: the whole matrix is such codes). */
static float half_round(float x, int step) {
    half_bits bits = f2h(x);
    if (step < 0 && bits == 0) return 0.0f;
    bits = (half_bits)(bits + step); /* x >= 0: the next half-precision number up or down */
    return h2f(bits);
}

static int64_t fit_block(const float *w, float lo_code, float hi_code, float offset, float span,
                         uint8_t *q, half_bits *d_out) {
    static const int steps[3] = {0, 1, -1};
    for (int s = 0; s < 3; s++) {
        const float d = half_round(span / hi_code, steps[s]);
        int ok = 1;
        for (int j = 0; j < BLOCK && ok; j++) {
            float c = d == 0.0f ? 0.0f : __builtin_nearbyintf((w[j] - offset) / d);
            c = c < lo_code ? lo_code : (c > hi_code ? hi_code : c);
            if (__builtin_fmaf(d, c, offset) != w[j]) ok = 0; /* d * c is exact: fma = d * c + offset */
            q[j] = (uint8_t)(int8_t)(int)c;
        }
        if (ok) {
            *d_out = f2h(d); /* d is a half-precision number: exact */
            return 0;
        }
    }
    return 1;
}

int64_t q4_pack(const float *w, int64_t n_out, int64_t n_in, uint8_t *codes, half_bits *d,
                half_bits *m) {
    const int64_t nb = n_in / BLOCK;
    int64_t failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)
    for (int64_t i = 0; i < n_out * nb; i++) {
        const float *wb = w + i * BLOCK;
        float lo = wb[0], hi = wb[0];
        for (int j = 1; j < BLOCK; j++) {
            lo = wb[j] < lo ? wb[j] : lo;
            hi = wb[j] > hi ? wb[j] : hi;
        }
        uint8_t q[BLOCK];
        m[i] = f2h(lo);
        if (h2f(m[i]) != lo) { /* the offset must be a half-precision number too */
            failed++;
            continue;
        }
        failed += fit_block(wb, 0.0f, 15.0f, lo, hi - lo, q, d + i);
        for (int j = 0; j < 16; j++) codes[i * 16 + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    }
    return failed;
}

int64_t q8_pack(const float *w, int64_t n_out, int64_t n_in, int8_t *codes, half_bits *d) {
    const int64_t nb = n_in / BLOCK;
    int64_t failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)
    for (int64_t i = 0; i < n_out * nb; i++) {
        const float *wb = w + i * BLOCK;
        float amax = 0.0f;
        for (int j = 0; j < BLOCK; j++) amax = __builtin_fabsf(wb[j]) > amax ? __builtin_fabsf(wb[j]) : amax;
        failed += fit_block(wb, -127.0f, 127.0f, 0.0f, amax, (uint8_t *)(codes + i * BLOCK), d + i);
    }
    return failed;
}

/* ---- one whole decode step of a Llama model whose products are all codes ------------------
 * The same arithmetic as fastdecode.FastLlama.forward for one token (RMSNorm, rotary embedding
 * on q and k, attention over the KV cache with grouped heads, SiLU MLP, residuals, final norm,
 * LM head), in one call instead of ~700 torch operations. Float32 throughout; the sums run in
 * another order than torch's, as in the products above. */
#include <math.h>

enum { P_LN1, P_LN2, P_PROD }; /* per layer: ln1, ln2, then 4 products x
                                  (codes, d, m, a, b, rank, bounds, n_seg) */
#define P_PER_PROD 8
#define P_PER_LAYER (P_PROD + 4 * P_PER_PROD)

static void rms_norm(const float *x, const float *w, float *out, int64_t n, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = w[i] * (x[i] * r);
}

static void product(const int64_t *p, const float *x, float *y, int64_t n_out, int64_t n_in) {
    q4_gemv((const uint8_t *)p[0], (const half_bits *)p[1], (const half_bits *)p[2], x, y, n_out, n_in, 1,
            (const float *)p[3], (const float *)p[4], p[5], (const int64_t *)p[6], p[7]);
}

static void rope(float *v, const float *cos_row, const float *sin_row, int64_t hd) {
    const int64_t half = hd / 2;
    for (int64_t j = 0; j < half; j++) {
        const float a = v[j], b = v[j + half];
        v[j] = a * cos_row[j] - b * sin_row[j];
        v[j + half] = b * cos_row[j + half] + a * sin_row[j + half];
    }
}

/* dims: n_layers, hidden, n_heads, n_kv, head_dim, inter, vocab, capacity, position, head_bits
 * scratch: hidden*3 + (n_heads+2*n_kv)*head_dim + 2*inter + inter + capacity floats */
void decode_step(const int64_t *dims, float eps, float scale, const int64_t *params,
                 const float *final_norm, const int64_t *head, float *k_cache, float *v_cache,
                 const float *cos_row, const float *sin_row, const float *embedding_row,
                 float *scratch, float *logits) {
    const int64_t L = dims[0], D = dims[1], nh = dims[2], nkv = dims[3], hd = dims[4];
    const int64_t inter = dims[5], vocab = dims[6], cap = dims[7], pos = dims[8];
    const int64_t nqkv = (nh + 2 * nkv) * hd, group = nh / nkv, end = pos + 1;
    float *x = scratch, *h = x + D, *attn = h + D, *qkv = attn + nh * hd, *gu = qkv + nqkv;
    float *act = gu + 2 * inter, *scores = act + inter;
    memcpy(x, embedding_row, (size_t)D * sizeof(float));
    for (int64_t l = 0; l < L; l++) {
        const int64_t *p = params + l * P_PER_LAYER;
        rms_norm(x, (const float *)p[P_LN1], h, D, eps);
        product(p + P_PROD, h, qkv, nqkv, D);
        float *q = qkv, *k = qkv + nh * hd, *v = k + nkv * hd;
        for (int64_t i = 0; i < nh + nkv; i++) rope(qkv + i * hd, cos_row, sin_row, hd);
        for (int64_t g = 0; g < nkv; g++) {
            memcpy(k_cache + ((l * nkv + g) * cap + pos) * hd, k + g * hd, (size_t)hd * sizeof(float));
            memcpy(v_cache + ((l * nkv + g) * cap + pos) * hd, v + g * hd, (size_t)hd * sizeof(float));
        }
        for (int64_t i = 0; i < nh; i++) {
            const float *qi = q + i * hd;
            const float *ks = k_cache + (l * nkv + i / group) * cap * hd;
            const float *vs = v_cache + (l * nkv + i / group) * cap * hd;
            float top = -INFINITY, total = 0.0f;
            for (int64_t t = 0; t < end; t++) {
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int64_t j = 0; j < hd; j++) s += qi[j] * ks[t * hd + j];
                scores[t] = s * scale;
                top = scores[t] > top ? scores[t] : top;
            }
            for (int64_t t = 0; t < end; t++) total += (scores[t] = expf(scores[t] - top));
            float *out = attn + i * hd;
            for (int64_t j = 0; j < hd; j++) out[j] = 0.0f;
            for (int64_t t = 0; t < end; t++) {
                const float w = scores[t] / total;
                for (int64_t j = 0; j < hd; j++) out[j] += w * vs[t * hd + j];
            }
        }
        product(p + P_PROD + P_PER_PROD, attn, h, D, nh * hd);
        for (int64_t i = 0; i < D; i++) x[i] += h[i];
        rms_norm(x, (const float *)p[P_LN2], h, D, eps);
        product(p + P_PROD + 2 * P_PER_PROD, h, gu, 2 * inter, D);
        for (int64_t i = 0; i < inter; i++) {
            const float g = gu[i];
            act[i] = (g / (1.0f + expf(-g))) * gu[inter + i];
        }
        product(p + P_PROD + 3 * P_PER_PROD, act, h, D, inter);
        for (int64_t i = 0; i < D; i++) x[i] += h[i];
    }
    rms_norm(x, final_norm, h, D, eps);
    if (dims[9] == 8)
        q8_gemv((const int8_t *)head[0], (const half_bits *)head[1], h, logits, vocab, D, 1);
    else
        q4_gemv((const uint8_t *)head[0], (const half_bits *)head[1], (const half_bits *)head[2], h, logits,
                vocab, D, 1, 0, 0, 0, 0, 0);
}
