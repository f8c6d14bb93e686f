// The smallest JavaScript flow: start → hello → end, with a parameter and two small artifacts.

import { FlowSpec, current, param } from "wflow";

export default class HelloJs extends FlowSpec {
  static doc = "Greets someone from JavaScript: `start` writes the greeting, `hello` prints it and measures it, `end` prints the summary.";

  static params = {
    name: param({ default: "world", help: "Who to greet" }),
  };

  static steps = {
    start: { next: "hello", doc: "Builds the greeting from the `name` parameter." },
    hello: { next: "end", doc: "Prints the greeting and measures it." },
    end: { doc: "Prints what the flow made." },
  };

  start() {
    this.greeting = `Hello, ${this.name}!`;
  }

  hello() {
    console.log(this.greeting);
    this.stats = { chars: [...this.greeting].length, words: this.greeting.split(/\s+/).length };
  }

  end() {
    console.log(`"${this.greeting}" has ${this.stats.chars} characters in ${this.stats.words} words`);
    console.log("run", current.runId);
  }
}
