// ort_bench.js — times the exported towers in ONNX Runtime (npm onnxruntime-node, CPU
// execution provider, graph optimisations 'all') on synthetic inputs, best-of-N and median,
// and prints one JSON object (ms per image / per text).
// usage: node bench/ort_bench.js ONNXDIR THREADS RUNS TEXT_LEN BATCHES(comma list) [image|text|both]
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function stats(ts) {
  const s = [...ts].sort((a, b) => a - b);
  const n = s.length;
  return { best_ms: s[0], median_ms: n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]) };
}

async function main() {
  const [dir, threads, runs, textLen, batchesS, which = 'both'] = process.argv.slice(2);
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
  if (which !== 'image') {
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
