#!/usr/bin/env node
/* make-faceapi-ref.js - reference outputs of face-api itself for
 * tests/face/test-faceapi.c (see tests/face/README-faceapi.md).
 *
 * Runs @vladmandic/face-api (pinned in package.json) on TensorFlow.js's pure
 * JavaScript CPU backend (@tensorflow/tfjs, a devDependency; no native
 * tfjs-node) over a few real photos and writes one small JSON fixture per
 * photo into tests/face/fixtures/faceapi-<name>.json:
 *   - "faces": the Tiny Face Detector's boxes (inputSize 416, scoreThreshold
 *     0.5) in image pixels, best first;
 *   - "ssd_faces": the same for SSD MobileNet v1 (minConfidence 0.5,
 *     maxResults 100);
 *   - "landmarks": per face, the integer crop box face-api derives from the
 *     detection (clipped to the image, floored) and FaceLandmark68Net's 68
 *     points for that crop in image pixels (relative position times crop
 *     size plus the crop's origin).
 * Pixels: both sides must see the same RGB values, so the photos are
 * decoded by our own decoder (BUILD/tests/face/faceapi-dump-rgb writes a
 * PPM), and the fixture records an FNV-1a hash of those bytes.
 *
 * usage: node tests/face/make-faceapi-ref.js BUILD_DIR   (from the source root,
 * after `npm ci` (with devDependencies) and `ninja -C BUILD_DIR`)
 */
'use strict';

const cp = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
const { readPpm } = require(path.join(__dirname, '..', '..', 'tools', 'read-ppm.js'));

const root = path.resolve(__dirname, '..', '..');
const shared = process.env.TS_SHARED_DATA || path.resolve(root, '..', 'shared', 'data');
const faceapiDir = path.join(root, 'node_modules', '@vladmandic', 'face-api');

/* Photos: face-api's own demo photos (group photos) and two faces of the
 * shared data sets.  `ref` is how the C test finds the file again. */
const photos = [1, 2, 3, 4, 5, 6].map((i) => ({
  name: `sample${i}`,
  ref: `faceapi:demo/sample${i}.jpg`,
  file: path.join(faceapiDir, 'demo', `sample${i}.jpg`),
})).concat([
  { name: 'celebahq-1', ref: 'shared:celebahq/images/1.jpg', file: path.join(shared, 'celebahq/images/1.jpg') },
  {
    name: 'utkface-100',
    ref: 'shared:utkface/images/100_1_0_20170112213001988.jpg.chip.jpg',
    file: path.join(shared, 'utkface/images/100_1_0_20170112213001988.jpg.chip.jpg'),
  },
]);

function fnv1a(buf) {
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) {
    h ^= buf[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const r3 = (v) => Math.round(v * 1000) / 1000;
const r5 = (v) => Math.round(v * 100000) / 100000;

async function main() {
  const build = process.argv[2];
  if (!build) throw new Error('usage: node tests/face/make-faceapi-ref.js BUILD_DIR');
  const dump = path.resolve(build, 'tests', 'face', 'faceapi-dump-rgb');
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(faceapiDir, 'model');
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
  const opts = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const ssdOpts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'faceapi-ref-'));
  const outDir = path.join(__dirname, 'fixtures');
  fs.mkdirSync(outDir, { recursive: true });

  for (const p of photos) {
    if (!fs.existsSync(p.file)) {
      console.log(`skip ${p.name}: ${p.file} missing`);
      continue;
    }
    const ppm = path.join(tmp, `${p.name}.ppm`);
    cp.execFileSync(dump, [p.file, ppm]);
    const { width, height, rgb } = readPpm(ppm);
    const img = tf.tensor3d(new Int32Array(rgb), [height, width, 3], 'int32');

    const dets = await faceapi.detectAllFaces(img, opts);
    const asJson = (d) => ({
      x: r3(d.box.x), y: r3(d.box.y), w: r3(d.box.width), h: r3(d.box.height), score: r5(d.score),
    });
    const faces = dets.map(asJson);
    const ssdFaces = (await faceapi.detectAllFaces(img, ssdOpts)).map(asJson);

    const landmarks = [];
    for (const d of dets) {
      /* face-api's own crop (extractFaceTensors): clip, then floor. */
      const b = d.box.clipAtImageBorders(width, height);
      if (b.width <= 0 || b.height <= 0) continue;
      const crop = tf.slice3d(img, [b.y, b.x, 0], [b.height, b.width, 3]);
      const lm = await faceapi.nets.faceLandmark68Net.detectLandmarks(crop);
      crop.dispose();
      landmarks.push({
        box: [b.x, b.y, b.width, b.height],
        points: lm.positions.map((pt) => [r3(pt.x + b.x), r3(pt.y + b.y)]),
      });
    }
    img.dispose();

    const fixture = {
      image: p.ref,
      width,
      height,
      rgb_fnv1a: fnv1a(rgb),
      made_with: {
        'face-api': faceapi.version,
        tfjs: tf.version.tfjs,
        backend: tf.getBackend(),
        detector: { inputSize: 416, scoreThreshold: 0.5 },
        ssd: { minConfidence: 0.5, maxResults: 100 },
      },
      faces,
      ssd_faces: ssdFaces,
      landmarks,
    };
    fs.writeFileSync(path.join(outDir, `faceapi-${p.name}.json`), `${JSON.stringify(fixture)}\n`);
    console.log(`${p.name}: ${width}x${height}, ${faces.length} faces (tiny), ${ssdFaces.length} (ssd)`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
