// A loop and a switch in JavaScript: train round after round until the model is good enough, then
// publish it, or discard it when patience runs out.

import { FlowSpec, param } from "wflow";

export default class TrainJs extends FlowSpec {
  static doc = "Trains a toy model until it reaches `target` accuracy (publish) or `patience` rounds have passed (discard).";

  static params = {
    target: param({ default: 0.9, help: "The accuracy at which the model is published" }),
    patience: param({ default: 5, help: "Rounds to try before giving up (at most 8)" }),
  };

  static steps = {
    start: { next: "train", doc: "Starts from an untrained model." },
    train: { next: "evaluate", doc: "One round of training: halves the error (each round is a task of its own)." },
    evaluate: {
      switch: ["train", "publish", "discard"],
      maxIterations: 8,
      doc: "Chooses: train again (a loop back), publish, or discard.",
    },
    publish: { next: "end" },
    discard: { next: "end" },
    end: {},
  };

  start() {
    this.accuracy = 0.5;
    this.rounds = 0;
  }

  train() {
    this.rounds = this.rounds + 1;
    this.accuracy = this.accuracy + (1 - this.accuracy) / 2;
    console.log(`round ${this.rounds}: accuracy ${this.accuracy.toFixed(4)}`);
  }

  evaluate() {
    if (this.accuracy >= this.target) this.next = "publish";
    else if (this.rounds < this.patience) this.next = "train";
    else this.next = "discard";
  }

  publish() {
    this.verdict = `published after ${this.rounds} rounds`;
  }

  discard() {
    this.verdict = `discarded after ${this.rounds} rounds`;
  }

  end() {
    console.log(`${this.verdict} (accuracy ${this.accuracy.toFixed(4)})`);
  }
}
