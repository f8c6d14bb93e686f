// The JavaScript CBOR codec against the shared vectors (guest-sdk/testdata/cbor-vectors.json),
// which the Rust (ciborium) and Python codecs are checked against too. Runs on plain node:
//
//   node --test guest-sdk/js/tests/

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { CborError, Float, decode, encode } from "../cbor.js";

const vectors = JSON.parse(readFileSync(new URL("../../testdata/cbor-vectors.json", import.meta.url), "utf8"));
const hex = (b) => Buffer.from(b).toString("hex");
const bytes = (h) => new Uint8Array(Buffer.from(h, "hex"));

// The JavaScript value of a typed vector. Whole floats are wrapped in Float (JavaScript has one
// number type); integers beyond 2^53 are BigInts.
function native(t) {
  const [[k, v]] = Object.entries(t);
  switch (k) {
    case "int": {
      const n = BigInt(v);
      return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case "float": {
      const x = v === "inf" ? Infinity : v === "-inf" ? -Infinity : v === "nan" ? NaN : Number(v);
      return Number.isInteger(x) && !Object.is(x, -0) ? new Float(x) : x;
    }
    case "bytes":
      return bytes(v);
    case "list":
      return v.map(native);
    case "map": {
      const entries = v.map(([a, b]) => [native(a), native(b)]);
      if (entries.every(([a]) => typeof a === "string")) return Object.fromEntries(entries);
      return new Map(entries);
    }
    case "null":
      return null;
    default:
      return v;
  }
}

const plain = (v) => (v instanceof Float ? v.value : v);

function same(a, b) {
  a = plain(a);
  b = plain(b);
  if (typeof a === "number" && typeof b === "number") return Object.is(a, b) || a === b;
  if (a instanceof Uint8Array) return b instanceof Uint8Array && hex(a) === hex(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a instanceof Map) {
    const ea = [...a];
    const eb = b instanceof Map ? [...b] : [];
    return ea.length === eb.length && ea.every(([k, v], i) => same(k, eb[i][0]) && same(v, eb[i][1]));
  }
  if (a && typeof a === "object") {
    const ka = Object.keys(a);
    return b && typeof b === "object" && same(ka, Object.keys(b)) && ka.every((k) => same(a[k], b[k]));
  }
  return a === b;
}

test("every shared vector encodes and decodes", () => {
  assert.ok(vectors.length > 30);
  for (const v of vectors) {
    const value = native(v.value);
    assert.equal(hex(encode(value)), v.cbor, v.name);
    assert.ok(same(decode(bytes(v.cbor)), value), v.name);
  }
});

test("indefinite lengths, tags and undefined read", () => {
  assert.deepEqual(decode(bytes("5f41014102ff")), new Uint8Array([1, 2]));
  assert.deepEqual(decode(bytes("9f0102ff")), [1, 2]);
  assert.deepEqual({ ...decode(bytes("bf616101ff")) }, { a: 1 });
  assert.equal(decode(bytes("c11a514b67b0")), 1363896240);
  assert.equal(decode(bytes("c249010000000000000000")), 2n ** 64n);
  assert.equal(decode(bytes("f7")), undefined);
});

test("bad input is a clear error", () => {
  for (const [bad, why] of [["", "truncated"], ["1a0000", "truncated"], ["0000", "after the CBOR value"], ["62c328", "UTF-8"], ["ff", "break"]]) {
    assert.throws(() => decode(bytes(bad)), (e) => e instanceof CborError && e.message.includes(why), bad);
  }
  assert.throws(() => encode(new Set([1])), CborError);
  assert.throws(() => encode(() => 1), CborError);
});

test("whole numbers are integers unless wrapped in Float", () => {
  assert.equal(hex(encode(2)), "02");
  assert.equal(hex(encode(new Float(2))), "f94000");
  assert.equal(hex(encode(-0)), "f98000");
  assert.equal(hex(encode(2 ** 53 + 2)), "fb4340000000000001");
});
