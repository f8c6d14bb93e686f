"""Every feature of the Python SDK in one flow, for the end-to-end tests: parameters of each type,
raw and streamed artifacts, a branch and its join, foreach items, and failures on demand
(`-p mode=raise|missing|codec`)."""

from wflow import JSON, Chart, FlowSpec, Markdown, Parameter, Raw, Table, current, open_reader, open_writer, step


class PyFeatures(FlowSpec):
    """The Python SDK's features."""

    mode = Parameter(default="ok", help="ok, raise, missing or codec")
    count = Parameter(default=3)
    ratio = Parameter(default=0.5)
    verbose = Parameter(default=False)
    config = Parameter(type=JSON, default={"k": [1, 2]})

    @step(next=["left", "right"])
    def start(self):
        assert (self.count, self.ratio, self.verbose, self.config) == (3, 0.5, False, {"k": [1, 2]}), (
            self.count, self.ratio, self.verbose, self.config)
        assert isinstance(self.ratio, float) and isinstance(self.count, int)
        self.blob = Raw(b"\x00raw\xff")
        with open_writer("big") as w:
            for i in range(3):
                w.write(bytes([i]) * 1000)
        self.letters = ["a", "b", "c"]
        if self.mode == "codec":
            self.bad = object()

    @step(next="join")
    def left(self):
        self.side = "left"

    @step(foreach="each", items="letters")
    def right(self):
        assert self.blob == b"\x00raw\xff" and isinstance(self.blob, Raw)
        with open_reader("big") as r:
            assert r.size == 3000 and r.codec == "raw"
            data = r.read()
        assert data == b"\x00" * 1000 + b"\x01" * 1000 + b"\x02" * 1000
        self.side = "right"

    @step(next="gather")
    def each(self):
        self.letter = self.input.upper() * (current.index + 1)

    @step(join=True, next="join")
    def gather(self, inputs):
        self.shouted = [i.letter for i in inputs]

    @step(join=True, next="end")
    def join(self, inputs):
        self.sides = sorted(i.side for i in inputs)
        self.steps = [i.step for i in inputs]
        self.shouted = inputs.gather.shouted
        assert self.shouted == ["A", "BB", "CCC"], self.shouted

    @step
    def end(self):
        """Fails on demand."""
        if self.mode == "raise":
            raise ValueError("failed on purpose in end")
        if self.mode == "missing":
            print(self.nope)
        current.card.title = "Python card"
        current.card.append(Markdown("# Sides\n\n" + ", ".join(self.sides)))
        current.card.append(Table([[s, len(s)] for s in self.shouted], headers=["shouted", "length"]))
        current.card["chart"].append(Chart({
            "mark": "bar",
            "data": {"values": [{"s": s, "n": len(s)} for s in self.shouted]},
            "encoding": {"x": {"field": "s", "type": "nominal"}, "y": {"field": "n", "type": "quantitative"}},
        }))
        print("python features ok:", self.sides, self.steps, self.shouted)
