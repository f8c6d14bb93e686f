"""Workload (d): a static branch and join (twin of examples/branch)."""

from metaflow import FlowSpec, step


class BranchFlow(FlowSpec):
    """Computes two things about some numbers in parallel and combines them."""

    @step
    def start(self):
        self.numbers = [3, 1, 4, 1, 5, 9, 2, 6]
        self.label = "some digits of pi"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.sum = sum(self.numbers)
        print("a: sum =", self.sum)
        self.next(self.join)

    @step
    def b(self):
        self.max = max(self.numbers)
        print("b: max =", self.max)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.summary = "%d numbers: sum %d, max %d" % (len(inputs.a.numbers), inputs.a.sum, inputs.b.max)
        self.merge_artifacts(inputs, include=["numbers", "label"])
        self.next(self.end)

    @step
    def end(self):
        print("%s: %s" % (self.label, self.summary))


if __name__ == "__main__":
    BranchFlow()
