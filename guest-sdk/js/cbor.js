// CBOR (RFC 8949), the default codec of wflow artifacts, in plain JavaScript.
//
// Reads and writes exactly what the Rust SDK (ciborium + serde) and the Python SDK do:
//
//   JavaScript                       CBOR
//   null, undefined                  null (undefined reads back as undefined)
//   boolean                          false / true
//   integral Number (safe range)     major 0 / 1, shortest head
//   BigInt                           major 0 / 1; beyond 64 bits, tags 2 / 3
//   other Number, Float(x)           major 7, the shortest of half / single / double that keeps
//                                    the value exactly (like ciborium)
//   string                           text string
//   Uint8Array, ArrayBuffer          byte string (read back as Uint8Array)
//   Array                            array
//   Map                              map (any keys, insertion order)
//   plain object                     map with text keys (its own enumerable properties)
//
// Reading: integers beyond 2^53 - 1 become BigInt; a map whose keys are all text becomes a plain
// object, any other a Map. JavaScript has one number type, so a whole float read from CBOR (a Rust
// `f64` of 2.0) is written back as an integer unless wrapped in `Float`.

export class CborError extends Error {
  constructor(message) {
    super(message);
    this.name = "CborError";
  }
}

/** A number written as a CBOR float even when it is whole: `new Float(2)`. */
export class Float {
  constructor(value) {
    this.value = Number(value);
  }
  valueOf() {
    return this.value;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64 = 1n << 64n;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

class Out {
  constructor() {
    this.buf = new Uint8Array(256);
    this.len = 0;
  }
  reserve(n) {
    if (this.len + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.len + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
  }
  byte(b) {
    this.reserve(1);
    this.buf[this.len++] = b;
  }
  bytes(bs) {
    this.reserve(bs.length);
    this.buf.set(bs, this.len);
    this.len += bs.length;
  }
  head(major, n) {
    // n: a Number (safe) or a BigInt below 2^64.
    const m = major << 5;
    if (typeof n === "number" && n < 24) return this.byte(m | n);
    if (typeof n === "number" && n < 0x100) return this.bytes([m | 24, n]);
    if (typeof n === "number" && n < 0x10000) return this.bytes([m | 25, n >> 8, n & 0xff]);
    if (typeof n === "number" && n < 0x100000000) {
      this.byte(m | 26);
      this.reserve(4);
      new DataView(this.buf.buffer).setUint32(this.len, n);
      this.len += 4;
      return;
    }
    const big = BigInt(n);
    if (big < 0x100000000n) return this.head(major, Number(big));
    this.byte(m | 27);
    this.reserve(8);
    new DataView(this.buf.buffer).setBigUint64(this.len, big);
    this.len += 8;
  }
}

function halfBits(x) {
  // The IEEE half-precision bits of x if it holds x exactly, else -1.
  if (Number.isNaN(x)) return 0x7e00;
  if (x === Infinity) return 0x7c00;
  if (x === -Infinity) return 0xfc00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === 0) return sign;
  if (a < 2 ** -14) {
    const m = a * 2 ** 24;
    return Number.isInteger(m) ? sign | m : -1;
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e > 15) return -1;
  const m = (a / 2 ** e) * 1024 - 1024;
  return Number.isInteger(m) ? sign | ((e + 15) << 10) | m : -1;
}

function fromHalf(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function writeFloat(out, x) {
  const h = halfBits(x);
  if (h >= 0) return out.bytes([0xf9, h >> 8, h & 0xff]);
  if (Math.fround(x) === x) {
    out.byte(0xfa);
    out.reserve(4);
    new DataView(out.buf.buffer).setFloat32(out.len, x);
    out.len += 4;
    return;
  }
  out.byte(0xfb);
  out.reserve(8);
  new DataView(out.buf.buffer).setFloat64(out.len, x);
  out.len += 8;
}

function writeBigInt(out, v) {
  if (v >= 0n && v < U64) return out.head(0, v);
  if (v < 0n && v >= -U64) return out.head(1, -1n - v);
  const [tag, n] = v >= 0n ? [2, v] : [3, -1n - v];
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const data = new Uint8Array(hex.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  out.head(6, tag);
  out.head(2, data.length);
  out.bytes(data);
}

function write(out, v, depth) {
  if (depth > 512) throw new CborError("value nested more than 512 levels deep");
  if (v === null || v === undefined) return out.byte(0xf6);
  switch (typeof v) {
    case "boolean":
      return out.byte(v ? 0xf5 : 0xf4);
    case "number":
      if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER && !Object.is(v, -0)) {
        return v >= 0 ? out.head(0, v) : out.head(1, -1 - v);
      }
      return writeFloat(out, v);
    case "bigint":
      return writeBigInt(out, v);
    case "string": {
      const data = utf8.encode(v);
      out.head(3, data.length);
      return out.bytes(data);
    }
    case "object":
      break;
    default:
      throw new CborError(`cannot encode a ${typeof v} as CBOR`);
  }
  if (v instanceof Float) return writeFloat(out, v.value);
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) {
    const data = v instanceof ArrayBuffer ? new Uint8Array(v) : v;
    out.head(2, data.length);
    return out.bytes(data);
  }
  if (Array.isArray(v)) {
    out.head(4, v.length);
    for (const x of v) write(out, x, depth + 1);
    return;
  }
  if (v instanceof Map) {
    out.head(5, v.size);
    for (const [k, x] of v) {
      write(out, k, depth + 1);
      write(out, x, depth + 1);
    }
    return;
  }
  if (ArrayBuffer.isView(v) || v instanceof Date || v instanceof Set || typeof v.then === "function") {
    throw new CborError(`cannot encode a ${v.constructor.name} as CBOR (convert it first)`);
  }
  const keys = Object.keys(v);
  out.head(5, keys.length);
  for (const k of keys) {
    write(out, k, depth + 1);
    write(out, v[k], depth + 1);
  }
}

/** Encodes a value as CBOR bytes (a Uint8Array). */
export function encode(value) {
  const out = new Out();
  write(out, value, 0);
  return out.buf.slice(0, out.len);
}

class Reader {
  constructor(data) {
    this.data = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = 0;
  }
  need(n) {
    if (this.pos + n > this.data.length) {
      throw new CborError(`truncated CBOR: needs ${this.pos + n - this.data.length} more bytes at offset ${this.pos}`);
    }
  }
  u8() {
    this.need(1);
    return this.data[this.pos++];
  }
  take(n) {
    if (typeof n === "bigint") throw new CborError("CBOR string too long");
    this.need(n);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  arg(info) {
    // A Number when safe, else a BigInt.
    if (info < 24) return info;
    if (info === 24) return this.u8();
    if (info === 25) {
      this.need(2);
      const v = this.view.getUint16(this.pos);
      this.pos += 2;
      return v;
    }
    if (info === 26) {
      this.need(4);
      const v = this.view.getUint32(this.pos);
      this.pos += 4;
      return v;
    }
    if (info === 27) {
      this.need(8);
      const v = this.view.getBigUint64(this.pos);
      this.pos += 8;
      return v <= MAX_SAFE ? Number(v) : v;
    }
    throw new CborError(`invalid CBOR head (additional info ${info}) at offset ${this.pos - 1}`);
  }
  chunks(major) {
    const parts = [];
    for (;;) {
      const b = this.u8();
      if (b === 0xff) break;
      if (b >> 5 !== major || (b & 31) === 31) {
        throw new CborError(`invalid chunk in an indefinite-length string at offset ${this.pos - 1}`);
      }
      parts.push(this.take(this.arg(b & 31)));
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  isBreak() {
    return this.data[this.pos] === 0xff;
  }
  item(depth) {
    if (depth > 512) throw new CborError("CBOR value nested more than 512 levels deep");
    const b = this.u8();
    const major = b >> 5;
    const info = b & 31;
    switch (major) {
      case 0:
        return this.arg(info);
      case 1: {
        const n = this.arg(info);
        if (typeof n === "number" && n < Number.MAX_SAFE_INTEGER) return -1 - n;
        const v = -1n - BigInt(n);
        return v >= -MAX_SAFE ? Number(v) : v;
      }
      case 2:
        return info === 31 ? this.chunks(2) : this.take(this.arg(info)).slice();
      case 3: {
        const raw = info === 31 ? this.chunks(3) : this.take(this.arg(info));
        try {
          return utf8Strict.decode(raw);
        } catch (e) {
          throw new CborError(`invalid UTF-8 in a CBOR text string at offset ${this.pos}`);
        }
      }
      case 4: {
        const items = [];
        if (info === 31) {
          while (!this.isBreak()) items.push(this.item(depth + 1));
          this.pos++;
        } else {
          const n = this.arg(info);
          for (let i = 0; i < n; i++) items.push(this.item(depth + 1));
        }
        return items;
      }
      case 5: {
        const entries = [];
        if (info === 31) {
          while (!this.isBreak()) entries.push([this.item(depth + 1), this.item(depth + 1)]);
          this.pos++;
        } else {
          const n = this.arg(info);
          for (let i = 0; i < n; i++) entries.push([this.item(depth + 1), this.item(depth + 1)]);
        }
        if (!entries.every(([k]) => typeof k === "string")) return new Map(entries);
        const obj = {};
        for (const [k, v] of entries) {
          Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
        }
        return obj;
      }
      case 6: {
        const tag = this.arg(info);
        const inner = this.item(depth + 1);
        if ((tag === 2 || tag === 3) && inner instanceof Uint8Array) {
          let n = 0n;
          for (const x of inner) n = (n << 8n) | BigInt(x);
          const v = tag === 2 ? n : -1n - n;
          return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : v;
        }
        return inner;
      }
      default:
        break;
    }
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24:
        this.u8();
        return null;
      case 25:
        return fromHalf(this.arg(25));
      case 26: {
        this.need(4);
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 27: {
        this.need(8);
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      default:
        if (info < 24) return null;
        throw new CborError(`unexpected CBOR break or reserved value at offset ${this.pos - 1}`);
    }
  }
}

/** Decodes one CBOR value from bytes (a Uint8Array). */
export function decode(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const r = new Reader(data);
  const value = r.item(0);
  if (r.pos !== data.length) throw new CborError(`${data.length - r.pos} bytes after the CBOR value`);
  return value;
}
