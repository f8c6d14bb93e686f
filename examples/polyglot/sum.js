// The JavaScript part of the polyglot flow: `sum`, the join of the Python `square` tasks.

import { FlowSpec } from "wflow";

export default class PolyglotSum extends FlowSpec {
  static doc = "Adds the squares up; passes the record on, re-encoded by JavaScript.";

  static steps = {
    sum: { join: true, next: "end", doc: "Adds the squares of every Python task." },
  };

  sum(inputs) {
    this.total = inputs.reduce((t, input) => t + input.sq, 0);
    // Every Python task wrote the same bytes, so the join sees `record_py` in its own view.
    const r = this.record_py;
    const check = (ok, what) => {
      if (!ok) throw new Error(`${what}: ${JSON.stringify(r, (k, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
    };
    check(r.big === 2n ** 63n - 1n && r.unsigned === 2n ** 64n - 1n, "64-bit integers are BigInts");
    check(r.small === -7 && r.blob instanceof Uint8Array && r.blob.length === 6, "small ints and bytes");
    check(r.by_id instanceof Map && r.by_id.get(-5) === "minus five", "a map with integer keys is a Map");
    check(r.inner.child.child.label === "inner" && r.missing === null, "nested records and null");
    this.record_js = r;
    console.log(`${inputs.length} squares add up to ${this.total}`);
  }
}
