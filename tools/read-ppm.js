/* read-ppm.js - reads an 8-bit binary PPM ("P6\nW H\n255\n" then RGB, as
 * tests/face/faceapi-dump-rgb writes it), so that the node scripts that
 * run face-api (tools/faceapi-gender.js, bench/peer-detector.js,
 * tests/face/make-faceapi-ref.js) see exactly the pixels our decoder sees.
 * Returns { width, height, rgb } (rgb: a view into the file's bytes). */
'use strict';

const fs = require('fs');

function readPpm(file) {
  const buf = fs.readFileSync(file);
  let pos = 0;
  const fields = [];
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    let s = '';
    while (!/\s/.test(String.fromCharCode(buf[pos]))) s += String.fromCharCode(buf[pos++]);
    fields.push(s);
  }
  pos++;
  const [magic, w, h, max] = fields;
  if (magic !== 'P6' || max !== '255') throw new Error(`${file}: not an 8-bit P6 PPM`);
  const width = Number(w);
  const height = Number(h);
  return { width, height, rgb: buf.subarray(pos, pos + width * height * 3) };
}

module.exports = { readPpm };
