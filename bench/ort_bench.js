// ort_bench.js — times the exported towers in ONNX Runtime (npm onnxruntime-node, CPU
// execution provider, graph optimisations 'all') on synthetic inputs, best-of-N and median,
// and prints one JSON object (ms per image / per text).
// usage: node bench/ort_bench.js ONNXDIR THREADS RUNS TEXT_LEN BATCHES(comma list) [image|text|both] [IDS]
// IDS: a file of token id arrays, one JSON array per line (`jaclip tokenize --texts-from`):
// the texts are then timed instead of synthetic ones, B at a time in file order, each batch
// padded to its longest text (mask 0 on the pads, as a tokenizer with padding='longest' gives);
// ms per text is a pass over the whole file divided by its size.
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function stats(ts) {
  const s = [...ts].sort((a, b) => a - b);
  const n = s.length;
  return { best_ms: s[0], median_ms: n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]) };
}

async function main() {
  const [dir, threads, runs, textLen, batchesS, which = 'both', idsPath] = process.argv.slice(2);
  const fs = require('fs');
  const texts = idsPath ? fs.readFileSync(idsPath, 'utf8').split('\n').filter(l => l.trim()).map(l => JSON.parse(l)) : null;
  if (texts && !texts.length) throw new Error(idsPath + ': no id arrays');
  const T = parseInt(threads), R = parseInt(runs), L = parseInt(textLen);
  const batches = batchesS.split(',').map(Number);
  const opts = { executionProviders: ['cpu'], intraOpNumThreads: T, interOpNumThreads: 1,
                 graphOptimizationLevel: 'all', executionMode: 'sequential' };
  const out = { ort_version: require(path.join(__dirname, 'node_modules', 'onnxruntime-node', 'package.json')).version,
                threads: T, text_len: L, image: {}, text: {} };
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  if (which !== 'text') {
    const s = await ort.InferenceSession.create(path.join(dir, 'vision.onnx'), opts);
    for (const B of batches) {
      const pix = new Float32Array(B * 3 * 224 * 224);
      for (let i = 0; i < pix.length; i++) pix[i] = rnd() * 4 - 2;
      const feeds = { pixels: new ort.Tensor('float32', pix, [B, 3, 224, 224]) };
      const ts = [];
      for (let r = -1; r < R; r++) {
        const t0 = process.hrtime.bigint();
        await s.run(feeds);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r >= 0) ts.push(ms / B);
      }
      out.image[B] = stats(ts);
    }
  }
  if (which !== 'image' && texts) {
    out.texts = texts.length;
    const s = await ort.InferenceSession.create(path.join(dir, 'text.onnx'), opts);
    for (const B of batches) {
      const feeds = [];
      for (let i = 0; i < texts.length; i += B) {
        const chunk = texts.slice(i, i + B), L = Math.max(...chunk.map(t => t.length));
        const ids = new BigInt64Array(chunk.length * L).fill(3n), mask = new BigInt64Array(chunk.length * L);
        chunk.forEach((t, r) => t.forEach((id, c) => { ids[r * L + c] = BigInt(id); mask[r * L + c] = 1n; }));
        feeds.push({ ids: new ort.Tensor('int64', ids, [chunk.length, L]), mask: new ort.Tensor('int64', mask, [chunk.length, L]) });
      }
      const ts = [];
      for (let r = -1; r < R; r++) {
        const t0 = process.hrtime.bigint();
        for (const f of feeds) await s.run(f);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r >= 0) ts.push(ms / texts.length);
      }
      out.text[B] = stats(ts);
    }
  } else if (which !== 'image') {
    const s = await ort.InferenceSession.create(path.join(dir, 'text.onnx'), opts);
    for (const B of batches) {
      const ids = new BigInt64Array(B * L), mask = new BigInt64Array(B * L);
      for (let i = 0; i < B * L; i++) { ids[i] = BigInt(i % L === 0 ? 4 : 10 + Math.floor(rnd() * 30000)); mask[i] = 1n; }
      const feeds = { ids: new ort.Tensor('int64', ids, [B, L]), mask: new ort.Tensor('int64', mask, [B, L]) };
      const ts = [];
      for (let r = -1; r < R; r++) {
        const t0 = process.hrtime.bigint();
        await s.run(feeds);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r >= 0) ts.push(ms / B);
      }
      out.text[B] = stats(ts);
    }
  }
  console.log(JSON.stringify(out));
}
main().catch(e => { console.error('ort_bench: ' + e); process.exit(1); });
