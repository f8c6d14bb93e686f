"""Contract 0.2's control flow in Python, as test-programs/control does it in Rust: a switch at
`start` (taken each way by the parameter `choice`; `nowhere` makes no choice, anything else is
chosen as it is), a switch inside a foreach (`pick`, joined by `gather`), and a loop (`body` →
`check` → back to `body`) that ends after `until` iterations, fails at iteration `fail_at`, and is
bounded by `max_iterations=5`. `-p secret=NAME` makes `end` read a secret it did not ask for."""

from wflow import FlowSpec, Parameter, SecretNotFound, current, step


class PyControl(FlowSpec):
    """Chooses, fans out, loops."""

    choice = Parameter(default="train", help="train, skip, fan, nowhere, or a step to choose as is")
    until = Parameter(default=3, help="How many iterations the loop runs")
    fail_at = Parameter(default=0, help="The iteration at which `body` fails (0: never)")
    secret = Parameter(default="", help="A secret `end` reads without asking for it")

    @step(switch=["train", "skip", "fan"])
    def start(self):
        """Chooses where to go from the parameter `choice`."""
        self.count = 0
        if self.choice != "nowhere":
            self.next = self.choice
        assert self.next in (None, self.choice), self.next

    @step(next="body")
    def train(self):
        self.path = "train"

    @step(next="body")
    def skip(self):
        self.path = "skip"

    @step(foreach="pick", items="nums")
    def fan(self):
        self.path = "fan"
        self.nums = [1, 2, 3]

    @step(switch=["even", "odd"])
    def pick(self):
        """A switch in a foreach: each item goes its own way."""
        self.next = "even" if self.input % 2 == 0 else "odd"

    @step(next="gather")
    def even(self):
        self.tag = f"{self.input}:even"

    @step(next="gather")
    def odd(self):
        self.tag = f"{self.input}:odd"

    @step(join=True, next="body")
    def gather(self, inputs):
        self.tags = [i.tag for i in inputs]

    @step(next="check")
    def body(self):
        """One iteration of the loop."""
        count = self.count + 1
        print(f"iteration {count}")
        if count == self.fail_at:
            raise RuntimeError(f"failing at iteration {count}")
        self.count = count

    @step(switch=["body", "end"], max_iterations=5)
    def check(self):
        """Goes round again until `until` iterations are done."""
        self.next = "body" if self.count < self.until else "end"

    @step
    def end(self):
        if self.secret:
            try:
                current.secrets[self.secret]
            except SecretNotFound as e:
                assert isinstance(e, KeyError)
                raise
        # Outside a switch step, `next` is an artifact as in contract 0.1.
        self.next = "not a choice"
        print(f"{self.path} after {self.count} iterations")
