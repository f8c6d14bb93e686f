// Every feature of the JavaScript SDK in one flow, for the end-to-end tests: parameters of each
// type, raw and streamed artifacts, a branch and its join, foreach items, and failures on demand
// (`-p mode=raise|missing|string`).

import { Chart, FlowSpec, Markdown, Raw, Table, current, openReader, openWriter, param } from "wflow";

export class JsFeatures extends FlowSpec {
  static doc = "The JavaScript SDK's features.";
  static params = {
    mode: param({ default: "ok", help: "ok, raise, missing or string" }),
    count: param({ default: 3 }),
    ratio: param({ default: 0.5 }),
    verbose: param({ default: false }),
    config: param({ default: { k: [1, 2] } }),
  };
  static steps = {
    start: { next: ["left", "right"] },
    left: { next: "join" },
    right: { foreach: "each", items: "letters" },
    each: { next: "gather" },
    gather: { join: true, next: "join" },
    join: { join: true, next: "end" },
    end: { doc: "Fails on demand." },
  };

  start() {
    const ok = this.count === 3 && this.ratio === 0.5 && this.verbose === false && this.config.k[1] === 2;
    if (!ok) throw new Error(`parameters: ${this.count} ${this.ratio} ${this.verbose} ${JSON.stringify(this.config)}`);
    this.blob = new Raw(new Uint8Array([0, 114, 97, 119, 255]));
    const w = openWriter("big");
    for (let i = 0; i < 3; i++) w.write(new Uint8Array(1000).fill(i));
    w.finish();
    this.letters = ["a", "b", "c"];
  }

  left() {
    this.side = "left";
  }

  right() {
    if (!(this.blob instanceof Raw) || this.blob.bytes.length !== 5) throw new Error("raw blob");
    const r = openReader("big");
    let n = 0;
    for (let chunk = r.read(); chunk.length; chunk = r.read()) n += chunk.length;
    if (n !== 3000 || r.codec() !== "raw") throw new Error(`streamed ${n} bytes`);
    this.side = "right";
  }

  each() {
    this.letter = this.input.toUpperCase().repeat(current.index + 1);
  }

  gather(inputs) {
    this.shouted = inputs.map((i) => i.letter);
  }

  join(inputs) {
    this.sides = inputs.map((i) => i.side).sort();
    this.steps = inputs.map((i) => i.$step);
    this.shouted = inputs.find((i) => i.$step === "gather").shouted;
  }

  end() {
    if (this.mode === "raise") throw new RangeError("failed on purpose in end");
    if (this.mode === "missing") console.log(this.nope);
    if (this.mode === "string") throw "a thrown string";
    current.card.title = "JavaScript card";
    current.card.append(Markdown(`# Sides\n\n${this.sides.join(", ")}`));
    current.card.append(Table(this.shouted.map((s) => [s, s.length]), { headers: ["shouted", "length"] }));
    current.card.get("chart").append(
      Chart({
        mark: "bar",
        data: { values: this.shouted.map((s) => ({ s, n: s.length })) },
        encoding: { x: { field: "s", type: "nominal" }, y: { field: "n", type: "quantitative" } },
      }),
    );
    console.log("js features ok:", JSON.stringify([this.sides, this.steps, this.shouted]));
  }
}
