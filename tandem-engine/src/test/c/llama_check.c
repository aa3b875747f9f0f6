// Manual check that llama.cpp loads a GGUF file Tandem wrote (synthetic or converted) and runs
// it: tokenises a prompt with the file's vocabulary, decodes it, checks every logit is finite,
// and prints a short greedy continuation. Build like ../shared/tools/llamacpp/run.sh builds
// bench.c (C=~/.cache/tandem-llamacpp; B=$C/npm-3.21.1/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64):
//   gcc -O2 llama_check.c -o /tmp/llama_check -I$C/include-3.21.1/include -I$C/include-3.21.1/ggml/include
//       -L$B -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so -Wl,-rpath,$B -lm
//   LLAMACPP_BACKEND_DIR=$B /tmp/llama_check model.gguf "Once upon a time" 16
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *data) {
    (void) data;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: llama_check MODEL [PROMPT] [N]\n"); return 2; }
    const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
    int n_gen = argc > 3 ? atoi(argv[3]) : 16;
    llama_log_set(quiet, NULL);
    const char *dir = getenv("LLAMACPP_BACKEND_DIR");
    if (dir) ggml_backend_load_all_from_path(dir); else ggml_backend_load_all();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { printf("{\"loaded\": false}\n"); return 1; }
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256; cp.n_batch = 256; cp.n_threads = cp.n_threads_batch = 1;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    llama_token tokens[256];
    int n = llama_tokenize(vocab, prompt, (int) strlen(prompt), tokens, 128, true, false);
    printf("{\"loaded\": true, \"n_vocab\": %d, \"prompt_tokens\": [", n_vocab);
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", tokens[i]);
    printf("], ");
    struct llama_batch batch = llama_batch_get_one(tokens, n);
    long nonfinite = 0;
    char text[4096] = "";
    printf("\"generated\": [");
    for (int step = 0; step < n_gen; step++) {
        if (llama_decode(ctx, batch) != 0) { printf("], \"decode_failed\": true}\n"); return 1; }
        const float *logits = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int v = 0; v < n_vocab; v++) {
            if (!isfinite(logits[v])) nonfinite++;
            if (logits[v] > logits[best]) best = v;
        }
        printf("%s%d", step ? ", " : "", best);
        char piece[256];
        int len = llama_token_to_piece(vocab, best, piece, sizeof piece - 1, 0, false);
        if (len > 0 && strlen(text) + len < sizeof text - 1) strncat(text, piece, len);
        tokens[0] = best;
        batch = llama_batch_get_one(tokens, 1);
    }
    printf("], \"nonfinite_logits\": %ld, \"text\": \"", nonfinite);
    for (char *p = text; *p; p++) { if (*p == '"' || *p == '\\') putchar('\\'); putchar(*p == '\n' ? ' ' : *p); }
    printf("\"}\n");
    llama_free(ctx);
    llama_model_free(model);
    return nonfinite ? 1 : 0;
}
