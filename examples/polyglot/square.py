"""The Python part of the polyglot flow: `square`, one task per number of the Rust `start`."""

from wflow import FlowSpec, current, step


class PolyglotSquare(FlowSpec):
    """Squares one number; passes the record on, re-encoded by Python."""

    @step(next="sum")
    def square(self):
        """Squares this task's number and re-encodes the record."""
        x = self.input
        self.sq = x * x
        r = self.record
        # The record as Python sees it: native types, 64-bit integers included.
        assert r["big"] == 2**63 - 1 and r["most_negative"] == -(2**63), r
        assert r["unsigned"] == 2**64 - 1 and isinstance(r["blob"], bytes), r
        assert r["by_id"] == {-5: "minus five", 1: "one"} and r["missing"] is None, r
        assert r["inner"]["child"]["child"]["label"] == "inner", r
        self.record_py = r
        print(f"task {current.index}: {x}² = {self.sq}")
