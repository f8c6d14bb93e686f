// Contract 0.2's control flow in JavaScript, as test-programs/control does it in Rust: a switch at
// `start` (taken each way by the parameter `choice`; `nowhere` makes no choice, anything else is
// chosen as it is), a switch inside a foreach (`pick`, joined by `gather`), and a loop (`body` →
// `check` → back to `body`) that ends after `until` iterations, fails at iteration `fail_at`, and
// is bounded by `maxIterations: 5`. `-p secret=NAME` makes `end` read a secret it did not ask for.

import { FlowSpec, current, param } from "wflow";

export default class JsControl extends FlowSpec {
  static doc = "Chooses, fans out, loops.";
  static params = {
    choice: param({ default: "train", help: "train, skip, fan, nowhere, or a step to choose as is" }),
    until: param({ default: 3, help: "How many iterations the loop runs" }),
    fail_at: param({ default: 0, help: "The iteration at which `body` fails (0: never)" }),
    secret: param({ default: "", help: "A secret `end` reads without asking for it" }),
  };
  static steps = {
    start: { switch: ["train", "skip", "fan"], doc: "Chooses where to go from the parameter `choice`." },
    train: { next: "body" },
    skip: { next: "body" },
    fan: { foreach: "pick", items: "nums" },
    pick: { switch: ["even", "odd"], doc: "A switch in a foreach: each item goes its own way." },
    even: { next: "gather" },
    odd: { next: "gather" },
    gather: { join: true, next: "body" },
    body: { next: "check", doc: "One iteration of the loop." },
    check: { switch: ["body", "end"], maxIterations: 5, doc: "Goes round again until `until` iterations are done." },
    end: {},
  };

  start() {
    this.count = 0;
    if (this.choice !== "nowhere") this.next = this.choice;
    if (![undefined, this.choice].includes(this.next)) throw new Error(`next is ${this.next}`);
  }
  train() {
    this.path = "train";
  }
  skip() {
    this.path = "skip";
  }
  fan() {
    this.path = "fan";
    this.nums = [1, 2, 3];
  }
  pick() {
    this.next = this.input % 2 === 0 ? "even" : "odd";
  }
  even() {
    this.tag = `${this.input}:even`;
  }
  odd() {
    this.tag = `${this.input}:odd`;
  }
  gather(inputs) {
    this.tags = inputs.map((i) => i.tag);
  }
  body() {
    const count = this.count + 1;
    console.log(`iteration ${count}`);
    if (count === this.fail_at) throw new Error(`failing at iteration ${count}`);
    this.count = count;
  }
  check() {
    this.next = this.count < this.until ? "body" : "end";
  }
  end() {
    if (this.secret) current.secrets.get(this.secret);
    // Outside a switch step, `next` is an artifact as in contract 0.1.
    this.next = "not a choice";
    console.log(`${this.path} after ${this.count} iterations`);
  }
}
