"""Workload (a): five steps in a line with small artifacts (twin of benches/compare/wflow/linear)."""

from metaflow import FlowSpec, step


class LinearFlow(FlowSpec):
    """start -> one -> two -> three -> end; each step adds to a counter and a list of names."""

    @step
    def start(self):
        self.count = 1
        self.seen = ["start"]
        self.next(self.one)

    @step
    def one(self):
        self.count += 1
        self.seen = self.seen + ["one"]
        self.next(self.two)

    @step
    def two(self):
        self.count += 1
        self.seen = self.seen + ["two"]
        self.next(self.three)

    @step
    def three(self):
        self.count += 1
        self.seen = self.seen + ["three"]
        self.next(self.end)

    @step
    def end(self):
        self.count += 1
        self.seen = self.seen + ["end"]
        assert self.count == 5
        print(self.count, "steps:", self.seen)


if __name__ == "__main__":
    LinearFlow()
