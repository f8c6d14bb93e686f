// The JavaScript card SDK (card.js): the document each card is saved as — the format the Rust and
// Python SDKs write (docs/store.md) — and the errors for parts that are not parts. Runs on plain
// node:
//
//   node --test guest-sdk/js/tests/

import assert from "node:assert/strict";
import { test } from "node:test";

import { CARD_CODEC, Chart, Image, Markdown, Table, cards } from "../card.js";
import { decode } from "../cbor.js";

const SPEC = { mark: "bar", data: { values: [{ a: 1 }] }, encoding: { x: { field: "a", type: "nominal" } } };

// What `save` puts: { name: [codec, decoded document] }.
function saved() {
  const out = {};
  cards.save(() => "F/1/end/3", (name, codec, bytes) => {
    assert.ok(bytes instanceof Uint8Array);
    out[name] = [codec, decode(bytes)];
  });
  return out;
}

test("cards are saved as the shared document", () => {
  cards.clear();
  cards.title = "Report";
  cards.append(Markdown("# Hi"));
  cards.append("plain *markdown*");
  cards.append(Table([[1, "x"], [2, null]], { headers: ["n", "s"] }));
  cards.append(Image(new Uint8Array([0x89, 0x50]), { alt: "logo" }));
  cards.get("chart").append(Chart(SPEC)).append(Image("<svg/>"));
  const out = saved();
  assert.deepEqual(Object.keys(out).sort(), ["card:chart", "card:default"]);
  const [codec, doc] = out["card:default"];
  assert.equal(codec, CARD_CODEC);
  assert.deepEqual(doc, {
    version: 1,
    id: "default",
    task: "F/1/end/3",
    title: "Report",
    parts: [
      { markdown: "# Hi" },
      { markdown: "plain *markdown*" },
      { table: { columns: ["n", "s"], rows: [[1, "x"], [2, null]] } },
      { image: { bytes: new Uint8Array([0x89, 0x50]), alt: "logo" } },
    ],
  });
  const [, chart] = out["card:chart"];
  assert.equal(chart.title, undefined);
  assert.deepEqual(chart.parts, [{ chart: SPEC }, { image: { bytes: new TextEncoder().encode("<svg/>"), alt: "" } }]);
  // Saving hands the cards over: a second save puts nothing.
  assert.deepEqual(saved(), {});
});

test("clear forgets the cards of a failed task", () => {
  cards.append("from a failed task");
  cards.clear();
  assert.deepEqual(saved(), {});
});

test("bad parts are refused with what a part is", () => {
  assert.throws(() => cards.append(3), /a card part is Markdown\(…\), Table\(…\), Image\(…\) or Chart\(…\)/);
  assert.throws(() => Chart([1]), /a Chart is a Vega-Lite spec \(an object\)/);
  assert.throws(() => Table([1, 2]), /Table rows are an array of arrays/);
  assert.throws(() => Table([[1]], { headers: "n" }), /Table headers are an array/);
});
