"""A loop and a switch in Python: train round after round until the model is good enough, then
publish it, or discard it when patience runs out."""

from wflow import FlowSpec, Parameter, step


class TrainPython(FlowSpec):
    """Trains a toy model until it reaches `target` accuracy (publish) or `patience` rounds have
    passed (discard)."""

    target = Parameter(default=0.9, help="The accuracy at which the model is published")
    patience = Parameter(default=5, help="Rounds to try before giving up (at most 8)")

    @step(next="train")
    def start(self):
        """Starts from an untrained model."""
        self.accuracy = 0.5
        self.rounds = 0

    @step(next="evaluate")
    def train(self):
        """One round of training: halves the error (each round is a task of its own)."""
        self.rounds = self.rounds + 1
        self.accuracy = self.accuracy + (1 - self.accuracy) / 2
        print(f"round {self.rounds}: accuracy {self.accuracy:.4f}")

    @step(switch=["train", "publish", "discard"], max_iterations=8)
    def evaluate(self):
        """Chooses: train again (a loop back), publish, or discard."""
        if self.accuracy >= self.target:
            self.next = "publish"
        elif self.rounds < self.patience:
            self.next = "train"
        else:
            self.next = "discard"

    @step(next="end")
    def publish(self):
        self.verdict = f"published after {self.rounds} rounds"

    @step(next="end")
    def discard(self):
        self.verdict = f"discarded after {self.rounds} rounds"

    @step
    def end(self):
        print(f"{self.verdict} (accuracy {self.accuracy:.4f})")
