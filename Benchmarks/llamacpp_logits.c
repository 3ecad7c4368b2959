// Teacher-forced logits from llama.cpp, for checking Tailor against it on the same GGUF file.
// Reads token ids (comma-separated) and prints one JSON object: {"vocab": V, "argmax": [...],
// "logits": [[...], ...]} with every position's argmax, and its full logits when asked (--full).
//
//   cc -O2 -I $LLAMA/include -I $LLAMA/ggml/include Benchmarks/llamacpp_logits.c \
//      -L $LLAMA/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA/build/bin -o llamacpp-logits
//   llamacpp-logits MODEL.gguf 5,67,120,3 [--full]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf TOKENS [--full]\n", argv[0]);
        return 2;
    }
    int full = argc > 3 && strcmp(argv[3], "--full") == 0;
    int cap = 1, n = 0;
    for (const char *p = argv[2]; *p; p++) cap += *p == ',';
    llama_token *tokens = malloc(sizeof(llama_token) * cap);
    for (char *s = strtok(argv[2], ","); s; s = strtok(NULL, ",")) tokens[n++] = atoi(s);

    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n + 8;
    cp.n_batch = n;
    // LLAMACPP_UBATCH: evaluate in micro-batches of this many tokens (its own rounding varies
    // with it, which bounds how far two correct implementations can agree on near-ties).
    const char *ub = getenv("LLAMACPP_UBATCH");
    cp.n_ubatch = ub ? atoi(ub) : n;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }
    int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = tokens[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }

    printf("{\"vocab\": %d, \"argmax\": [", vocab);
    for (int i = 0; i < n; i++) {
        const float *l = llama_get_logits_ith(ctx, i);
        int best = 0;
        for (int v = 1; v < vocab; v++) if (l[v] > l[best]) best = v;
        printf("%s%d", i ? "," : "", best);
    }
    printf("]");
    if (full) {
        printf(", \"logits\": [");
        for (int i = 0; i < n; i++) {
            const float *l = llama_get_logits_ith(ctx, i);
            printf("%s[", i ? "," : "");
            for (int v = 0; v < vocab; v++) printf("%s%.6g", v ? "," : "", l[v]);
            printf("]");
        }
        printf("]");
    }
    printf("}\n");
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
