"""Workloads (b) and (e): a foreach of n trivial tasks and a join that sums (twin of
benches/compare/wflow/fanout). With BENCH_FAIL_JOIN=1 in the environment the join fails, so the
run can be resumed with `resume` (Metaflow's resume keeps the origin run's parameters, so the
failure is switched by the environment rather than by a parameter)."""

import os

from metaflow import FlowSpec, Parameter, step


class ForeachFlow(FlowSpec):
    """start fans out one `square` task per number 1..n; `join` adds the squares up."""

    n = Parameter("n", help="How many tasks the foreach runs", default=10, type=int)

    @step
    def start(self):
        self.nums = list(range(1, self.n + 1))
        self.next(self.square, foreach="nums")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        if os.environ.get("BENCH_FAIL_JOIN") == "1":
            raise RuntimeError("join failed on purpose (BENCH_FAIL_JOIN=1)")
        self.total = sum(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        n = self.n
        assert self.total == n * (n + 1) * (2 * n + 1) // 6, self.total
        print("sum of squares of 1..%d: %d" % (n, self.total))


if __name__ == "__main__":
    ForeachFlow()
