/* tokenize.c — `jaclip tokenize`: prints the CLYP token ids of texts, one JSON array per text
 * ([CLS] first, truncated to --max-len, no padding). A thin client of jaclip_tokenize. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

static const char *const kUsage =
    "usage: jaclip tokenize (--model DIR | --tokenizer FILE) [--max-len N] TEXT...\n"
    "       jaclip tokenize (--model DIR | --tokenizer FILE) [--max-len N] --texts-from FILE\n"
    "\n"
    "Tokenizes texts exactly as clip-japanese-base(-v2)'s CLYPTokenizer does (rinna's SentencePiece\n"
    "unigram model, per-character lower-casing, literal special tokens, [CLS]=4 prepended) and prints\n"
    "one JSON array of ids per text, without padding.\n"
    "\n"
    "  --model DIR         model directory; the tokenizer is DIR/spiece.model\n"
    "  --tokenizer FILE    a SentencePiece .model file\n"
    "  --texts-from FILE   one text per line ('\\n'-separated; '-' reads stdin); lines may hold any bytes\n"
    "  --max-len N         at most N ids per text including [CLS] (default 77, as the model)\n"
    "\n"
    "example:\n"
    "  jaclip tokenize --tokenizer spiece.model 犬の写真 \"a photo of a dog\"\n"
    "  [4,9,1651,10478]\n"
    "  [4,999,9,30679,675,999,6832,275]\n";

static int print_ids(const jaclip_tokenizer *tok, const char *text, size_t len, int32_t *ids, int max_len)
{
    jaclip_err err;
    int n;
    if (jaclip_tokenize(tok, text, len, ids, max_len, &n, &err)) return cli_fail("tokenize", &err);
    putchar('[');
    for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", (int)ids[i]);
    fputs("]\n", stdout);
    return 0;
}

static int run_tokenize(int argc, char **argv)
{
    const char *model_dir = NULL, *tok_path = NULL, *texts_from = NULL;
    long max_len = JACLIP_MAX_TEXT_LEN;
    int first_text = argc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(kUsage, stdout);
            return 0;
        } else if (strcmp(a, "--") == 0) {
            first_text = i + 1;
            break;
        } else if (strcmp(a, "--model") == 0) {
            if (!(model_dir = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--tokenizer") == 0) {
            if (!(tok_path = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--texts-from") == 0) {
            if (!(texts_from = cli_value("tokenize", argc, argv, &i))) return 2;
        } else if (strcmp(a, "--max-len") == 0) {
            const char *v = cli_value("tokenize", argc, argv, &i);
            if (!v || !cli_parse_int("tokenize", "--max-len", v, 1, 1 << 24, &max_len)) return 2;
        } else if (a[0] == '-' && a[1] == '-') {
            cli_failf("tokenize", "unknown option '%s' (see jaclip tokenize --help)", a);
            return 2;
        } else {
            first_text = i;
            break;
        }
    }
    if (!model_dir == !tok_path) {
        cli_failf("tokenize", "give exactly one of --model DIR or --tokenizer FILE (see --help)");
        return 2;
    }
    if (!texts_from == (first_text >= argc)) {
        cli_failf("tokenize", texts_from ? "give either TEXT arguments or --texts-from, not both"
                                         : "no texts: give TEXT arguments or --texts-from FILE");
        return 2;
    }

    char *owned = model_dir ? jc_path_join(model_dir, "spiece.model") : NULL;
    jaclip_tokenizer *tok;
    jaclip_err err;
    if (jaclip_tokenizer_load(owned ? owned : tok_path, &tok, &err)) {
        free(owned);
        return cli_fail("tokenize", &err);
    }
    free(owned);
    int32_t *ids = malloc((size_t)max_len * sizeof *ids);
    if (!ids) {
        jaclip_tokenizer_free(tok);
        return cli_failf("tokenize", "out of memory");
    }
    int rc = 0;
    if (texts_from) {
        FILE *f = strcmp(texts_from, "-") == 0 ? stdin : fopen(texts_from, "rb");
        if (!f) {
            rc = cli_failf("tokenize", "%s: cannot open: %s", texts_from, strerror(errno));
        } else {
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
                if (n > 0 && line[n - 1] == '\n') n--;
                rc = print_ids(tok, line, (size_t)n, ids, (int)max_len);
            }
            if (rc == 0 && ferror(f)) rc = cli_failf("tokenize", "%s: read error", texts_from);
            free(line);
            if (f != stdin) fclose(f);
        }
    } else {
        for (int i = first_text; i < argc && rc == 0; i++) rc = print_ids(tok, argv[i], strlen(argv[i]), ids, (int)max_len);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) rc = cli_failf("tokenize", "cannot write to stdout");
    free(ids);
    jaclip_tokenizer_free(tok);
    return rc;
}

JACLIP_COMMAND(cmd_tokenize, "tokenize", "print the CLYP token ids of texts", run_tokenize);
