// Write wflow flows in JavaScript (ES modules).
//
// A flow is a class deriving from `FlowSpec`: its parameters and steps are declared in static
// fields, its steps are methods of the same names, and every value a step assigns to `this` is an
// artifact kept for the next steps:
//
//   import { FlowSpec, param } from "wflow";
//
//   export default class Squares extends FlowSpec {
//     static doc = "Squares 1..n in parallel and adds the squares up.";
//     static params = { n: param({ default: 10, help: "How many numbers" }) };
//     static steps = {
//       start: { foreach: "square", items: "nums" },
//       square: { next: "sum" },
//       sum: { join: true, next: "end" },
//       end: {},
//     };
//     start() { this.nums = Array.from({ length: this.n }, (_, i) => i + 1); }
//     square() { this.sq = this.input * this.input; }
//     sum(inputs) { this.total = inputs.reduce((t, i) => t + i.sq, 0); }
//     end() { console.log("total:", this.total); }
//   }
//
// Artifacts load from the host on first read (`this.nums`) and are put only if the step assigned
// them: everything else passes on by reference. Values are CBOR (`./cbor.js`), read identically by
// the Rust and Python SDKs; `new Raw(bytes)` keeps bytes as they are (codec `raw`). An exception
// thrown by a step fails the task with its message; its stack goes to stderr, the task's log.
//
// A step may choose its successor (contract 0.2): `evaluate: { switch: ["train", "end"],
// maxIterations: 5 }` declares the choices (one before the step makes a bounded loop) and
// `this.next = "train"` in the step chooses. Secrets the step asks for (`secrets: ["db"]`) are
// read with `current.secrets.get("db")`.
//
// `wflow build flow.js` turns the file into a component (with componentize-js, against contract
// 0.2.0); the import of "wflow" is pointed at this file then.

import * as artifacts from "wflow:flow/artifacts@0.2.0";
import * as context from "wflow:flow/context@0.2.0";
import * as control from "wflow:flow/control@0.2.0";
import * as foreach from "wflow:flow/foreach@0.2.0";
import * as secrets from "wflow:flow/secrets@0.2.0";
import { CARD_CODEC, Chart, Image, Markdown, Table, cards } from "./card.js";
import { CborError, Float, decode, encode } from "./cbor.js";

export { CARD_CODEC, CborError, Chart, Float, Image, Markdown, Table, decode, encode };

const CBOR = "cbor";
const RAW = "raw";

/**
 * An error the host returned: `kind` is `not-found`, `invalid`, `store` or `codec`. Its name is
 * `ArtifactNotFound` or `SecretNotFound` for what was not found, else `WflowError`.
 */
export class WflowError extends Error {
  constructor(kind, message, notFound = "ArtifactNotFound") {
    super(message);
    this.name = kind === "not-found" ? notFound : "WflowError";
    this.kind = kind;
  }
}

/** Bytes kept as they are (codec `raw`) instead of as a CBOR byte string. */
export class Raw {
  constructor(bytes) {
    this.bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  }
}

function hostError(e, what) {
  const p = e && e.payload;
  if (p && typeof p === "object" && "tag" in p) {
    const text = p.tag === "not-found" ? "not found" : `${p.tag} error`;
    return new WflowError(p.tag, `${what}: ${text}: ${p.val}`);
  }
  return e;
}

function call(what, f) {
  try {
    return f();
  } catch (e) {
    throw hostError(e, what);
  }
}

function decodeValue(v, what) {
  if (v.codec === RAW) return new Raw(v.bytes);
  if (v.codec !== CBOR) throw new WflowError("codec", `${what}: unknown codec \`${v.codec}\``);
  try {
    return decode(v.bytes);
  } catch (e) {
    throw new WflowError("codec", `${what}: cannot decode CBOR value: ${e.message}`);
  }
}

function encodeValue(v, what) {
  if (v instanceof Raw) return { codec: RAW, bytes: v.bytes };
  try {
    return { codec: CBOR, bytes: encode(v) };
  } catch (e) {
    throw new WflowError("codec", `${what}: ${e.message}`);
  }
}

function checkName(name) {
  if (typeof name !== "string" || !name || name.includes("/") || name.startsWith("_")) {
    throw new WflowError("invalid", `invalid artifact name ${JSON.stringify(name)}: non-empty, no '/', not starting with '_'`);
  }
}

// ---------------------------------------------------------------------------------------------
// Parameters

const PARAM_TYPES = ["string", "int", "float", "bool", "json"];

/**
 * A parameter: `param({ default: 0.1, help: "…" })`, or `param({ type: "int" })` for a required
 * one. Its type is `type`, else that of `default` (a whole number is an `int`); `json` parameters
 * read as the parsed value.
 */
export function param({ default: dflt, type, help = "" } = {}) {
  if (type === undefined) {
    if (dflt === undefined || dflt === null) type = "string";
    else if (typeof dflt === "boolean") type = "bool";
    else if (typeof dflt === "bigint" || Number.isInteger(dflt)) type = "int";
    else if (typeof dflt === "number") type = "float";
    else if (typeof dflt === "string") type = "string";
    else type = "json";
  }
  if (!PARAM_TYPES.includes(type)) {
    throw new TypeError(`a parameter's type is one of ${PARAM_TYPES.join(", ")}, not ${type}`);
  }
  let text;
  if (dflt !== undefined && dflt !== null) {
    text = type === "json" && typeof dflt !== "string" ? JSON.stringify(dflt) : String(dflt);
  }
  return { type, default: text, help };
}

function readParam(name, p) {
  const v = context.parameter(name);
  if (v === undefined || v === null) throw new WflowError("invalid", `the flow has no parameter \`${name}\``);
  if (p.type === "json") return JSON.parse(v.val);
  // An s64 arrives as a BigInt: a Number when it is safe.
  if (typeof v.val === "bigint" && v.val <= BigInt(Number.MAX_SAFE_INTEGER) && v.val >= -BigInt(Number.MAX_SAFE_INTEGER)) {
    return Number(v.val);
  }
  return v.val;
}

// ---------------------------------------------------------------------------------------------
// The task: identity, lazy artifacts, join inputs

/** Who the running task is. */
export const current = {
  get flowName() {
    return context.flowName();
  },
  get runId() {
    return context.runId();
  },
  get stepName() {
    return context.stepName();
  },
  get taskId() {
    return context.taskId();
  },
  get pathspec() {
    return `${this.flowName}/${this.runId}/${this.stepName}/${this.taskId}`;
  },
  get attempt() {
    return context.attempt();
  },
  /** Index of this task's item in the innermost foreach (undefined outside one). */
  get index() {
    return context.foreachIndex();
  },
  get foreachPath() {
    return Array.from(context.foreachPath());
  },
  /** The task's cards (`./card.js`): `current.card.append(Markdown("…"))`, `current.card.get("id")`. */
  get card() {
    return cards;
  },
  /** The item of the innermost foreach, decoded (undefined outside a foreach). */
  get input() {
    const v = context.foreachItem();
    return v === undefined || v === null ? undefined : decodeValue(v, "the foreach item");
  },
  /**
   * The secrets the step asked for (`secrets: ["db_password"]`) and the host's policy gave it:
   * `current.secrets.get("db_password")` (text), `current.secrets.bytes(name)` (a Uint8Array).
   */
  get secrets() {
    return stepSecrets;
  },
};

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

const stepSecrets = {
  /** Secret `name` as bytes; throws a `SecretNotFound` error if the step was given none. */
  bytes(name) {
    if (typeof name !== "string") throw new TypeError(`a secret's name is a string, not ${typeof name}`);
    try {
      return secrets.get(name);
    } catch (e) {
      const p = e && e.payload;
      if (p && p.tag === "not-found") {
        // The host's hint is in Rust's syntax: say it in JavaScript's.
        const text = String(p.val);
        const cut = text.lastIndexOf(" (`secrets = [");
        const said = cut >= 0 ? `${text.slice(0, cut)} (\`{ secrets: [${JSON.stringify(name)}] }\`)` : text;
        throw new WflowError("not-found", said, "SecretNotFound");
      }
      throw hostError(e, `reading secret \`${name}\``);
    }
  },
  /** Secret `name` as text. */
  get(name) {
    const bytes = this.bytes(name);
    try {
      return utf8Strict.decode(bytes);
    } catch {
      throw new WflowError("codec", `secret \`${name}\` is not UTF-8 text; read it with current.secrets.bytes(…)`);
    }
  },
};

function listed(names) {
  const q = names.map((n) => `\`${n}\``);
  return q.length === 1 ? q[0] : `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}`;
}

function getArtifact(name, index) {
  const what = `artifact \`${name}\`` + (index === undefined ? "" : ` of input ${index}`);
  const v = call(`reading ${what}`, () => (index === undefined ? artifacts.get(name) : artifacts.getInput(index, name)));
  return decodeValue(v, what);
}

function listNames(index) {
  const infos = call("listing artifacts", () => (index === undefined ? artifacts.list() : artifacts.listInput(index)));
  return infos.map((i) => i.name);
}

// Properties a Proxy must never turn into artifact reads.
const PASS = new Set(["then", "toJSON", "constructor", "valueOf", "toString", "inspect"]);

function input(index) {
  const cache = new Map();
  const target = {};
  return new Proxy(target, {
    get(_t, prop) {
      if (typeof prop === "symbol" || PASS.has(prop)) return undefined;
      if (prop === "$step") return call(`input ${index}`, () => artifacts.inputStep(index));
      if (prop === "$index") return index;
      if (prop === "$artifacts") return listNames(index);
      if (!cache.has(prop)) cache.set(prop, getArtifact(prop, index));
      return cache.get(prop);
    },
    has(_t, prop) {
      return typeof prop === "string" && listNames(index).includes(prop);
    },
    set() {
      throw new TypeError("the inputs of a join are read-only; assign to `this` instead");
    },
  });
}

function joinInputs() {
  const n = artifacts.inputCount();
  const list = [];
  for (let i = 0; i < n; i++) list.push(input(i));
  return list;
}

/** Base class of a flow: static `doc`, `params`, `steps` (and optionally `flowName`). */
export class FlowSpec {}

// `choices`: those of a switch step (contract 0.2), where `this.next = "b"` chooses the successor;
// elsewhere `next` is an ordinary artifact, as it was for flows written for contract 0.1.
function bindTask(instance, params, choices) {
  const loaded = new Map();
  const dirty = new Map();
  const chosen = { step: undefined };
  const proxy = new Proxy(instance, {
    get(target, prop, receiver) {
      if (typeof prop === "symbol" || prop in target) return Reflect.get(target, prop, receiver);
      if (prop === "next" && choices) return chosen.step;
      if (dirty.has(prop)) return dirty.get(prop);
      if (Object.prototype.hasOwnProperty.call(params, prop)) return readParam(prop, params[prop]);
      if (loaded.has(prop)) return loaded.get(prop);
      if (PASS.has(prop)) return undefined;
      const value = prop === "input" ? current.input : getArtifact(prop, undefined);
      loaded.set(prop, value);
      return value;
    },
    set(target, prop, value) {
      if (typeof prop === "symbol" || prop in target || Object.prototype.hasOwnProperty.call(params, prop)) {
        throw new TypeError(`\`${String(prop)}\` is a parameter or a method of the flow; it cannot be assigned`);
      }
      if (prop === "next" && choices) {
        if (typeof value !== "string") {
          throw new TypeError(`\`this.next\` is the name of the step to run next, one of ${listed(choices)}; not ${typeof value}`);
        }
        call("choosing the next step", () => control.next(value));
        chosen.step = value;
        return true;
      }
      checkName(prop);
      dirty.set(prop, value);
      return true;
    },
    has(target, prop) {
      if (prop in target || dirty.has(prop)) return true;
      return typeof prop === "string" && listNames(undefined).includes(prop);
    },
    deleteProperty() {
      throw new TypeError("artifacts cannot be deleted; assign another value");
    },
  });
  const save = () => {
    for (const [name, value] of dirty) {
      const v = encodeValue(value, `artifact \`${name}\``);
      call(`putting artifact \`${name}\``, () => artifacts.put(name, v));
    }
    dirty.clear();
  };
  return { proxy, save, chosen };
}

/** Streams artifact `name` (of this task's view, or of join input `index`). */
export function openReader(name, index) {
  const r = call(`opening artifact \`${name}\``, () => artifacts.openReader(name, index));
  return {
    size: () => Number(r.size()),
    codec: () => r.codec(),
    /** Up to `max` next bytes; an empty Uint8Array at the end. */
    read: (max = 4 << 20) => call(`reading artifact \`${name}\``, () => r.read(BigInt(max))),
  };
}

/** Streams a new artifact piece by piece: `write(bytes)`, then `finish()`. */
export function openWriter(name, codec = RAW) {
  checkName(name);
  const w = call(`opening a writer for \`${name}\``, () => artifacts.openWriter(name, codec));
  return {
    write: (bytes) => call(`writing artifact \`${name}\``, () => w.write(bytes)),
    finish: () => Number(call(`finishing artifact \`${name}\``, () => w.finish())),
  };
}

// ---------------------------------------------------------------------------------------------
// The spec and the export

const STEP_KEYS = new Set([
  "next", "foreach", "items", "switch", "maxIterations", "join", "doc", "retries", "timeout",
  "memory", "cpu", "catch", "compute", "env", "network", "clock", "random", "dirs", "secrets",
]);

function names(where, option, list) {
  if (!Array.isArray(list) || !list.every((n) => typeof n === "string")) {
    throw new TypeError(`${where}: \`${option}\` is an array of names: { ${option}: ["a", "b"] }`);
  }
  return list;
}

/** The WIT `flow-spec` of a flow class; throws if it is malformed. */
export function buildSpec(Flow) {
  if (typeof Flow !== "function" || !(Flow.prototype instanceof FlowSpec)) {
    throw new TypeError("a JavaScript flow's module exports (default) a class that extends FlowSpec");
  }
  const name = Flow.flowName || Flow.name;
  const params = Flow.params || {};
  const steps = Flow.steps || {};
  const parameters = Object.entries(params).map(([pname, p]) => {
    if (!p || !PARAM_TYPES.includes(p.type)) {
      throw new TypeError(`${name}: parameter \`${pname}\` is declared with param({ … })`);
    }
    return { name: pname, type: p.type, default: p.default, help: p.help || "" };
  });
  const specs = Object.entries(steps).map(([sname, o]) => {
    const where = `step \`${sname}\` of ${name}`;
    for (const k of Object.keys(o)) {
      if (!STEP_KEYS.has(k)) throw new TypeError(`${where}: unknown option \`${k}\``);
    }
    if (typeof Flow.prototype[sname] !== "function") {
      throw new TypeError(`${where}: the class has no method \`${sname}\``);
    }
    let transition;
    const given = ["next", "foreach", "switch"].filter((k) => o[k] !== undefined);
    if (given.length > 1) {
      throw new TypeError(`${where}: give one of \`next\`, \`foreach\` and \`switch\`, not ${given.join(" and ")}`);
    }
    if (o.maxIterations !== undefined && o.switch === undefined) {
      throw new TypeError(`${where}: \`maxIterations\` goes with \`switch\` (it bounds a loop)`);
    }
    if (o.switch !== undefined) {
      const choices = names(where, "switch", o.switch);
      const bound = o.maxIterations;
      if (bound !== undefined && !(Number.isInteger(bound) && bound >= 1)) {
        throw new TypeError(`${where}: \`maxIterations\` is a whole number of at least 1, not ${JSON.stringify(bound)}`);
      }
      transition = { tag: "switch", val: { choices, maxIterations: bound } };
    } else if (o.foreach !== undefined) {
      if (!o.items) throw new TypeError(`${where}: a foreach step names its items: { foreach: …, items: "artifact" }`);
      transition = { tag: "foreach", val: o.foreach };
    } else if (o.next !== undefined) {
      const next = Array.isArray(o.next) ? o.next : [o.next];
      if (!next.length || !next.every((n) => typeof n === "string")) {
        throw new TypeError(`${where}: \`next\` is a step name or a list of step names`);
      }
      transition = { tag: "next", val: next };
    } else {
      transition = { tag: "end" };
    }
    return {
      name: sname,
      doc: o.doc || "",
      transition,
      join: !!o.join,
      retries: o.retries || 0,
      timeoutSecs: o.timeout,
      memoryMb: o.memory,
      cpu: o.cpu,
      catch: o.catch,
      compute: o.compute,
      capabilities: {
        env: o.env || [],
        dirs: (o.dirs || []).map(([hostPath, guestPath, writable]) => ({ hostPath, guestPath, writable: !!writable })),
        network: o.network || [],
        clock: !!o.clock,
        random: !!o.random,
        secrets: names(where, "secrets", o.secrets || []),
      },
    };
  });
  if (!specs.length) throw new TypeError(`flow ${name} declares no steps: static steps = { start: { next: … }, … }`);
  return { name, doc: Flow.doc || "", parameters, steps: specs };
}

function runStep(Flow, step) {
  const o = (Flow.steps || {})[step];
  if (!o) throw new WflowError("invalid", `flow ${Flow.flowName || Flow.name} has no step \`${step}\``);
  const choices = o.switch;
  const { proxy, save: saveArtifacts, chosen } = bindTask(new Flow(), Flow.params || {}, choices);
  cards.clear();
  const save = () => {
    saveArtifacts();
    cards.save(() => current.pathspec, (name, codec, bytes) =>
      call(`putting card \`${name}\``, () => artifacts.put(name, { codec, bytes })),
    );
  };
  const result = o.join ? proxy[step](joinInputs()) : proxy[step]();
  if (result && typeof result.then === "function") {
    throw new TypeError(`step \`${step}\` returned a Promise: steps are synchronous functions`);
  }
  if (choices && chosen.step === undefined) {
    throw new WflowError(
      "invalid",
      `switch step \`${step}\` finished without choosing its successor: set \`this.next\` to ${listed(choices)}`,
    );
  }
  if (o.foreach !== undefined) {
    const items = proxy[o.items];
    if (!Array.isArray(items)) {
      throw new TypeError(`foreach step \`${step}\`: artifact \`${o.items}\` is not an array`);
    }
    const values = items.map((x, i) => encodeValue(x, `item ${i} of \`${o.items}\``));
    save();
    call("declaring the foreach items", () => foreach.declareItems(values));
  } else {
    save();
  }
}

/** The `wflow:flow/flow` export for a flow class (what `wflow build` exports as `flow`). */
export function exportFlow(Flow) {
  const spec = buildSpec(Flow); // at build time: a malformed flow fails the build
  return {
    spec() {
      return spec;
    },
    runStep(step) {
      try {
        runStep(Flow, step);
      } catch (e) {
        const text = e instanceof Error ? `${e.name}: ${e.message}` : `thrown: ${String(e)}`;
        console.error(e instanceof Error && e.stack ? `${text}\n${e.stack}` : text);
        throw { message: text };
      }
    },
  };
}

/**
 * The export for a flow module: its default export if that is a FlowSpec class, else its one
 * exported FlowSpec class.
 */
export function exportModule(mod, name) {
  if (typeof mod.default === "function" && mod.default.prototype instanceof FlowSpec) {
    return exportFlow(mod.default);
  }
  const found = Object.values(mod).filter((v) => typeof v === "function" && v.prototype instanceof FlowSpec);
  if (found.length !== 1) {
    throw new TypeError(
      `${name}: a flow module exports exactly one class that extends FlowSpec (found ${found.length})`,
    );
  }
  return exportFlow(found[0]);
}
