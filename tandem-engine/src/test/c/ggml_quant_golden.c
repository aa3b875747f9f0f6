// Prints llama.cpp's reference encodings of QuantizerTest's inputs, for the golden values in
// QuantizerTest. Build against the prebuilt ggml from node-llama-cpp (see tools/llamacpp):
//   B=~/.cache/tandem-llamacpp/npm-3.21.1/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   gcc -O2 ggml_quant_golden.c -o /tmp/golden -L$B -l:libggml-base.so -Wl,-rpath,$B && /tmp/golden
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint16_t ggml_fp16_t;
typedef struct { uint16_t bits; } ggml_bf16_t;
void quantize_row_q8_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
ggml_fp16_t ggml_fp32_to_fp16(float x);
ggml_bf16_t ggml_fp32_to_bf16(float x);

#define N 256

// Must match QuantizerTest.goldenInput().
static void input(float *x) {
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(s >> 8) - (1 << 23)) * (1.0f / (1 << 23));  // exact, in [-1, 1)
    }
    for (int i = 32; i < 64; i++) x[i] = 0.0f;                              // block 1: zeros
    for (int i = 64; i < 96; i++) x[i] = (float)(i - 80) + 0.5f;            // block 2: ties, max +15.5
    x[95] = -127.0f;                                                         //   amax 127 -> d 1
    for (int i = 96; i < 128; i++) x[i] = (float)(i - 112) * 0.25f;          // block 3: ramp
    x[100] = 7.0f;                                                           //   positive max for q4_0
    for (int i = 128; i < 160; i++) x[i] *= 1e-6f;                           // block 4: tiny
    for (int i = 160; i < 192; i++) x[i] *= 1e7f;                            // block 5: f16 scale overflow
    x[200] = x[201] = -0.75f; x[202] = 0.75f;                                // block 6: tie on |max|
}

#define N6 1024

// Must match QuantizerTest.goldenInputQ6K(): four super-blocks of 256.
static void input_q6k(float *x) {
    uint32_t s = 777;
    for (int i = 0; i < N6; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(s >> 8) - (1 << 23)) * (1.0f / (1 << 23)) * 0.02f;
    }
    for (int i = 256; i < 512; i++) x[i] = 0.0f;                            // super-block 1: zeros
    x[300] = 0.5f;                                                           //   but for one value
    x[600] = -3.0f;                                                          // super-block 2: an outlier
    for (int i = 768; i < 784; i++) x[i] = 1e-20f;                          // super-block 3: a tiny group
}

static void hex(const char *name, const uint8_t *p, int n) {
    printf("%s ", name);
    for (int i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

int main(void) {
    float x[N];
    uint8_t q8[N / 32 * 34], q4[N / 32 * 18];
    uint16_t f16[N], bf16[N];
    input(x);
    quantize_row_q8_0_ref(x, q8, N);
    quantize_row_q4_0_ref(x, q4, N);
    for (int i = 0; i < N; i++) {
        f16[i] = ggml_fp32_to_fp16(x[i]);
        bf16[i] = ggml_fp32_to_bf16(x[i]).bits;
    }
    hex("q8_0", q8, sizeof q8);
    hex("q4_0", q4, sizeof q4);
    hex("f16", (uint8_t *)f16, sizeof f16);
    hex("bf16", (uint8_t *)bf16, sizeof bf16);
    float x6[N6];
    uint8_t q6[N6 / 256 * 210];
    input_q6k(x6);
    quantize_row_q6_K_ref(x6, q6, N6);
    hex("q6_k", q6, sizeof q6);
    return 0;
}
