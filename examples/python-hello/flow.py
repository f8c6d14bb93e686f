"""The smallest Python flow: start → hello → end, with a parameter and two small artifacts."""

from wflow import FlowSpec, Parameter, current, step


class HelloPython(FlowSpec):
    """Greets someone from Python: `start` writes the greeting, `hello` prints it and measures it,
    `end` prints the summary."""

    name = Parameter(default="world", help="Who to greet")

    @step(next="hello")
    def start(self):
        """Builds the greeting from the `name` parameter."""
        self.greeting = f"Hello, {self.name}!"

    @step(next="end")
    def hello(self):
        """Prints the greeting and measures it."""
        print(self.greeting)
        self.stats = {"chars": len(self.greeting), "words": len(self.greeting.split())}

    @step
    def end(self):
        """Prints what the flow made."""
        print(f"{self.greeting!r} has {self.stats['chars']} characters in {self.stats['words']} words")
        print("run", current.run_id)
