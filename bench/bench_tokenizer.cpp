// bench_tokenizer.cpp — tokenizer throughput: jaclip (C) against the C++ sentencepiece library
// (libsentencepiece-dev 0.1.97) on the same sentences, in one process, single thread.
//   usage: bench_tokenizer MODEL SENTENCES_FILE [ROUNDS]
// Both sides get the raw sentences. sentencepiece runs SentencePieceProcessor::Encode (normalize +
// unigram Viterbi + ids); jaclip runs the whole CLYP tokenizer on top of that (lower-casing,
// special-token split, [CLS]), untruncated so that both produce every id. Reports ids/s and
// sentences/s, best of ROUNDS, plus jaclip with the model's 77-id limit.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "jaclip.h"
}

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL SENTENCES_FILE [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "%s: cannot open\n", argv[2]);
        return 1;
    }
    std::vector<std::string> lines;
    size_t bytes = 0;
    for (std::string l; std::getline(in, l);) bytes += l.size(), lines.push_back(l);

    sentencepiece::SentencePieceProcessor sp;
    auto s = sp.Load(argv[1]);
    if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
    }
    jaclip_tokenizer *tok;
    jaclip_err err;
    if (jaclip_tokenizer_load(argv[1], &tok, &err)) {
        std::fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    std::vector<int32_t> buf(1 << 20);
    std::vector<int> ids;

    double best_sp = 1e30, best_jc = 1e30, best_jc77 = 1e30;
    long n_sp = 0, n_jc = 0, n_jc77 = 0;
    for (int r = 0; r < rounds; r++) {
        long cnt = 0;
        double t0 = now();
        for (const auto &l : lines) {
            sp.Encode(l, &ids);
            cnt += (long)ids.size();
        }
        best_sp = std::min(best_sp, now() - t0);
        n_sp = cnt;

        cnt = 0;
        t0 = now();
        for (const auto &l : lines) {
            int n;
            jaclip_tokenize(tok, l.data(), l.size(), buf.data(), (int)buf.size(), &n, nullptr);
            cnt += n - 1; // without [CLS], as sentencepiece counts
        }
        best_jc = std::min(best_jc, now() - t0);
        n_jc = cnt;

        cnt = 0;
        t0 = now();
        for (const auto &l : lines) {
            int n;
            jaclip_tokenize(tok, l.data(), l.size(), buf.data(), JACLIP_MAX_TEXT_LEN, &n, nullptr);
            cnt += n;
        }
        best_jc77 = std::min(best_jc77, now() - t0);
        n_jc77 = cnt;
    }
    std::printf("%zu sentences, %.1f MB, best of %d rounds, 1 thread\n", lines.size(), bytes / 1e6, rounds);
    std::printf("%-34s %12s %14s %12s\n", "tokenizer", "ids", "ids/s", "sentences/s");
    std::printf("%-34s %12ld %14.0f %12.0f\n", "sentencepiece 0.1.97 C++ Encode", n_sp, n_sp / best_sp,
                lines.size() / best_sp);
    std::printf("%-34s %12ld %14.0f %12.0f\n", "jaclip_tokenize (CLYP, untruncated)", n_jc, n_jc / best_jc,
                lines.size() / best_jc);
    std::printf("%-34s %12ld %14.0f %12.0f\n", "jaclip_tokenize (CLYP, max 77)", n_jc77, n_jc77 / best_jc77,
                lines.size() / best_jc77);
    std::printf("speed-up (untruncated ids/s): %.2fx\n", (n_jc / best_jc) / (n_sp / best_sp));
    jaclip_tokenizer_free(tok);
    return 0;
}
