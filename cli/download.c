/* download.c — `jaclip download`: pairs JSONL(.gz) -> WebDataset shards (img2dataset style). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mining/mining.h"

static void usage(FILE *f)
{
    jc_download_params d = jc_download_default_params();
    fprintf(f,
            "usage: jaclip download PAIRS.jsonl[.gz] --out DIR [options]\n"
            "\n"
            "Downloads the images of a pairs file (from `jaclip mine` or any JSONL with url and\n"
            "caption columns) into WebDataset shards: DIR/00000.tar with KEY.jpg|png|webp (bytes as\n"
            "served), KEY.txt (caption) and KEY.json (the row + key, status, width, height, size,\n"
            "sha256), and DIR/00000_stats.json (counts per status and error). Keys follow img2dataset:\n"
            "shard * 10^ceil(log10(shard-size)) + row, zero-padded.\n"
            "\n"
            "Resumable: a shard is finished when its _stats.json exists; running the same command again\n"
            "skips finished shards and redoes unfinished ones (their files appear only when complete).\n"
            "\n"
            "options:\n"
            "  --out DIR            output directory (required; created if missing)\n"
            "  --shard-size N       rows per shard (default %d)\n"
            "  --parallel N         concurrent downloads (default %d)\n"
            "  --timeout S          seconds per attempt (default %g)\n"
            "  --connect-timeout S  seconds to connect (default %g)\n"
            "  --retries N          extra attempts for timeouts, connection errors, 429/5xx and\n"
            "                       truncated bodies, with back-off %gs, doubled each time (default %d)\n"
            "  --backoff S          first retry delay (default %g)\n"
            "  --max-size BYTES     largest accepted image (default %lld)\n"
            "  --url-col NAME       input column with the URL (default url)\n"
            "  --caption-col NAME   input column with the caption (default caption)\n"
            "  --user-agent UA      User-Agent header\n"
            "  --resize N           store the model's letterbox of side N (the exact preprocessing of\n"
            "                       jaclip_image_letterbox_mem) as JPEG instead of the bytes as served\n"
            "  --jpeg-quality Q     JPEG quality for --resize (default 95)\n"
            "  --ignore-robots      do not honour X-Robots-Tag noai/noimageai/noindex/noimageindex\n"
            "  -q, --quiet          no progress line\n"
            "\n"
            "Checks: http(s) only (redirects too, at most 5), Content-Type image/* or octet-stream, the\n"
            "bytes must be a complete JPEG, PNG or WebP that the image layer decodes (GIF is refused:\n"
            "the image layer cannot read it).\n"
            "\n"
            "example: jaclip download pairs.jsonl.gz --out shards/ --shard-size 10000 --parallel 64\n",
            d.shard_size, d.parallel, d.timeout, d.connect_timeout, d.backoff, d.retries, d.backoff,
            (long long)d.max_size);
}

static int run_download(int argc, char **argv)
{
    const char *cmd = "download";
    jc_download_params p = jc_download_default_params();
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        double d;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
            if (!(out = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--shard-size") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 100000000, &l)) return 2;
            p.shard_size = (int)l;
        } else if (strcmp(a, "--parallel") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 4096, &l)) return 2;
            p.parallel = (int)l;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0.01, 3600, &d)) return 2;
            p.timeout = d;
        } else if (strcmp(a, "--connect-timeout") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0.01, 3600, &d)) return 2;
            p.connect_timeout = d;
        } else if (strcmp(a, "--retries") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 0, 100, &l)) return 2;
            p.retries = (int)l;
        } else if (strcmp(a, "--backoff") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_double(cmd, a, v, 0, 3600, &d)) return 2;
            p.backoff = d;
        } else if (strcmp(a, "--max-size") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 16, 1L << 40, &l)) return 2;
            p.max_size = l;
        } else if (strcmp(a, "--url-col") == 0) {
            if (!(p.url_col = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--caption-col") == 0) {
            if (!(p.caption_col = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--user-agent") == 0) {
            if (!(p.user_agent = cli_value(cmd, argc, argv, &i))) return 2;
        } else if (strcmp(a, "--resize") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 16384, &l)) return 2;
            p.resize = (int)l;
        } else if (strcmp(a, "--jpeg-quality") == 0) {
            if (!(v = cli_value(cmd, argc, argv, &i)) || !cli_parse_int(cmd, a, v, 1, 100, &l)) return 2;
            p.jpeg_quality = (int)l;
        } else if (strcmp(a, "--ignore-robots") == 0) p.check_robots = false;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) p.quiet = true;
        else if (a[0] == '-' && a[1]) return cli_failf(cmd, "unknown option '%s' (jaclip download --help)", a), 2;
        else if (!in) in = a;
        else return cli_failf(cmd, "one input file expected, got '%s' and '%s'", in, a), 2;
    }
    if (!in) return cli_failf(cmd, "no input pairs file (jaclip download --help)"), 2;
    if (!out) return cli_failf(cmd, "--out DIR is required"), 2;
    jc_download_stats st;
    jaclip_err err = {0};
    jaclip_status s = jc_download(in, out, &p, &st, &err);
    if (s) return cli_fail(cmd, &err);
    fprintf(stderr, "download: %llu rows, %llu shards written, %llu finished shards skipped\n",
            (unsigned long long)st.rows, (unsigned long long)st.shards_written, (unsigned long long)st.shards_skipped);
    fprintf(stderr, "download: %llu downloaded (%.1f MiB), %llu failed, %llu retries\n", (unsigned long long)st.success,
            (double)st.bytes / (1 << 20), (unsigned long long)st.failed, (unsigned long long)st.retries);
    for (int r = 0; jc_download_reason_name(r); r++)
        if (st.by_reason[r])
            fprintf(stderr, "download:   failed, %s: %llu\n", jc_download_reason_name(r), (unsigned long long)st.by_reason[r]);
    return 0;
}

JACLIP_COMMAND(cmd_download, "download", "pairs JSONL -> WebDataset shards (img2dataset-style downloader)",
               run_download);
