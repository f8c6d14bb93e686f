// Cards: a report a step writes for people — markdown, tables, images and charts — shown by
// `wflow ui` on the task's page and written as one HTML file by `wflow card get TASK`:
//
//   import { Chart, Markdown, Table, current } from "wflow";
//   current.card.append(Markdown("# Squares"));
//   current.card.append(Table([[1, 1], [2, 4]], { headers: ["n", "square"] }));
//   current.card.append(Chart({ mark: "bar", data: { values: rows }, encoding: { … } }));
//   current.card.get("diagnostics").append(Image(pngBytes));
//
// Parts are collected while the step runs and kept when it returns (a failed step keeps none),
// each card as the artifact `card:ID` with the codec `wflow.card` — the format the Rust and Python
// SDKs write, described in docs/store.md with the Vega-Lite subset charts may use.

import { encode } from "./cbor.js";

export const CARD_CODEC = "wflow.card";
const VERSION = 1;

class Part {
  constructor(part) {
    this.part = part;
  }
}

/** Markdown text (CommonMark with tables); raw HTML in it is shown as text. */
export function Markdown(text) {
  return new Part({ markdown: String(text) });
}

/** A table: rows (arrays of strings, numbers, booleans, null) and `{ headers }` (column names). */
export function Table(rows, { headers = [] } = {}) {
  const bad = "Table rows are an array of arrays (one array of values per row)";
  if (!Array.isArray(rows) || !rows.every((r) => Array.isArray(r))) throw new TypeError(bad);
  if (!Array.isArray(headers)) throw new TypeError("Table headers are an array of column names");
  return new Part({ table: { columns: headers.map(String), rows: rows.map((r) => Array.from(r)) } });
}

/** An image: PNG, JPEG, GIF, WebP or SVG bytes (a Uint8Array; an SVG may be a string). */
export function Image(data, { alt = "" } = {}) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
  return new Part({ image: { bytes, alt: String(alt) } });
}

/** A chart: a Vega-Lite spec (an object) with its data inline in `data.values`. */
export function Chart(spec) {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new TypeError("a Chart is a Vega-Lite spec (an object)");
  }
  return new Part({ chart: spec });
}

/** One card of the running task. */
class Card {
  constructor(id) {
    this.id = id;
    this.title = undefined;
    this.parts = [];
  }

  /** Adds a part: Markdown(…), Table(…), Image(…) or Chart(…) (a string is markdown). */
  append(part) {
    if (typeof part === "string") part = Markdown(part);
    if (!(part instanceof Part)) throw new TypeError("a card part is Markdown(…), Table(…), Image(…) or Chart(…)");
    this.parts.push(part.part);
    return this;
  }
}

/** The cards of the running task: `append` adds to the default card, `get(id)` is another one. */
class Cards {
  constructor() {
    this.cards = new Map();
  }

  get(id) {
    id = String(id);
    if (!this.cards.has(id)) this.cards.set(id, new Card(id));
    return this.cards.get(id);
  }

  append(part) {
    return this.get("default").append(part);
  }

  get title() {
    return this.get("default").title;
  }

  set title(text) {
    this.get("default").title = String(text);
  }

  clear() {
    this.cards = new Map();
  }

  /**
   * Puts every card as `card:ID` through `put(name, codec, bytes)`. `task()` gives the task's
   * pathspec; it is asked for only when there is a card, since asking makes the task one that
   * the cache can never serve.
   */
  save(task, put) {
    const cards = this.cards;
    this.cards = new Map();
    for (const [id, card] of cards) {
      const doc = { version: VERSION, id, task: task() };
      if (card.title !== undefined) doc.title = card.title;
      doc.parts = card.parts;
      put(`card:${id}`, CARD_CODEC, encode(doc));
    }
  }
}

export const cards = new Cards();
