#!/usr/bin/env node
/* faceapi-gender.js - face-api's own gender model on a list of images, as
 * the peer our bundled models are compared with (docs/results.md).
 *
 * Runs @vladmandic/face-api (pinned in package.json) on TensorFlow.js's
 * wasm backend (@tensorflow/tfjs-backend-wasm, a devDependency: `npm ci`
 * without --omit=dev).  For each image it follows face-api's recommended
 * pipeline: SSD MobileNet v1 detection (minConfidence 0.3), the 68-point
 * landmarks, then AgeGenderNet on the aligned face.  When SSD finds no face
 * the image is given to AgeGenderNet whole: our data sets are face crops,
 * so this gives face-api every chance; "detected" says which happened.
 * Pixels come from our own decoder (BUILD/tests/face/faceapi-dump-rgb), so
 * both sides see the same RGB values.
 *
 * usage: node tools/faceapi-gender.js BUILD_DIR LIST OUT.jsonl
 *   LIST: one image path per line.  OUT: one JSON line per image,
 *   {"path":P,"gender":"female"|"male","p_male":x,"detected":bool,"ms":t},
 *   written to OUT.tmp then renamed.
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { readPpm } = require(path.join(__dirname, 'read-ppm.js'));

async function main() {
  const [build, list, out] = process.argv.slice(2);
  if (!build || !list || !out) throw new Error('usage: node tools/faceapi-gender.js BUILD_DIR LIST OUT.jsonl');
  const root = path.resolve(__dirname, '..');
  const dump = path.resolve(build, 'tests', 'face', 'faceapi-dump-rgb');
  const modelDir = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'model');
  wasm.setWasmPaths(path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
  await tf.setBackend('wasm');
  await tf.ready();
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
  const opts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.3 });
  const files = fs.readFileSync(list, 'utf8').split('\n').filter((l) => l.length > 0);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faceapi-gender-'));
  const lines = [];
  let done = 0;
  for (const file of files) {
    const ppm = path.join(tmp, 'img.ppm');
    cp.execFileSync(dump, [file, ppm]);
    const { width, height, rgb } = readPpm(ppm);
    const img = tf.tensor3d(new Int32Array(rgb), [height, width, 3], 'int32');
    const t0 = process.hrtime.bigint();
    let res = await faceapi.detectSingleFace(img, opts).withFaceLandmarks().withAgeAndGender();
    const detected = !!res;
    if (!res) res = await faceapi.nets.ageGenderNet.predictAgeAndGender(img);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    img.dispose();
    const pMale = res.gender === 'male' ? res.genderProbability : 1 - res.genderProbability;
    lines.push(JSON.stringify({ path: file, gender: res.gender, p_male: pMale, detected, ms: Math.round(ms * 10) / 10 }));
    if (++done % 200 === 0) process.stderr.write(`faceapi-gender: ${done}/${files.length}\n`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.writeFileSync(`${out}.tmp`, `${lines.join('\n')}\n`);
  fs.renameSync(`${out}.tmp`, out);
  process.stderr.write(`faceapi-gender: ${files.length} images, ${tf.getBackend()} backend\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
