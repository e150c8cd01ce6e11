#!/usr/bin/env node
/* peer-detector.js - the peer of bench-detector.c: face-api's own SSD
 * MobileNet v1 (and Tiny Face Detector) on TensorFlow.js's WebAssembly
 * backend (@tensorflow/tfjs-backend-wasm, a devDependency: SIMD, XNNPACK),
 * on one thread.
 *
 * usage: node bench/peer-detector.js REPEATS DETECTOR PPM...
 *   DETECTOR: ssd | tiny; PPM: 8-bit P6 files (bench-detector writes the
 *   photos as our decoder sees them, so both sides get the same pixels).
 * Prints one JSON line:
 *   {"backend":"wasm","threads":1,"photos":[{"faces":N,"median_ms":T,"median_cpu_ms":C},...]}
 * (median wall time and median process CPU time, user + system).
 * Each photo is detected once to warm up (kernels, memory), then REPEATS
 * times; the time covers face-api's detectAllFaces on an int32 image tensor
 * (input building, network, decoding, NMS), as ours covers
 * ts_detector_detect.
 */
'use strict';

const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { readPpm } = require(path.join(__dirname, '..', 'tools', 'read-ppm.js'));

async function main() {
  const [repeatsArg, kind, ...files] = process.argv.slice(2);
  const repeats = Number(repeatsArg);
  if (!(repeats >= 1) || (kind !== 'ssd' && kind !== 'tiny') || files.length === 0) {
    throw new Error('usage: node bench/peer-detector.js REPEATS ssd|tiny PPM...');
  }
  const root = path.resolve(__dirname, '..');
  wasm.setWasmPaths(`${path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist')}/`);
  wasm.setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  const modelDir = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'model');
  let opts;
  if (kind === 'ssd') {
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
    opts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  } else {
    await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
    opts = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  }
  const photos = [];
  for (const f of files) {
    const { width, height, rgb } = readPpm(f);
    const img = tf.tensor3d(new Int32Array(rgb), [height, width, 3], 'int32');
    let faces = (await faceapi.detectAllFaces(img, opts)).length; /* warm-up */
    const times = [];
    const cpu = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      faces = (await faceapi.detectAllFaces(img, opts)).length;
      const c = process.cpuUsage(c0);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      cpu.push((c.user + c.system) / 1e3);
    }
    img.dispose();
    const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
    photos.push({ faces, median_ms: median(times), median_cpu_ms: median(cpu) });
  }
  const threads = typeof wasm.getThreadsCount === 'function' ? wasm.getThreadsCount() : 1;
  console.log(JSON.stringify({ backend: tf.getBackend(), threads, photos }));
}

main().catch((e) => {
  console.error(`peer-detector: ${e.message}`);
  process.exit(1);
});
