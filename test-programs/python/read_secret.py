"""Contract 0.2's secrets from Python: `start` asks for `db_password`, reads it as text and as
bytes, prints it (the host redacts it from the logs) and keeps only its length; `end` reads a
secret it did not ask for and keeps the error."""

from wflow import FlowSpec, SecretNotFound, current, step


class PySecrets(FlowSpec):
    """Reads a secret."""

    @step(next="end", secrets=["db_password"])
    def start(self):
        password = current.secrets["db_password"]
        assert current.secrets.bytes("db_password") == password.encode()
        print(f"connecting with password {password}")
        self.length = len(password)

    @step
    def end(self):
        assert current.secrets.get("db_password") is None
        try:
            current.secrets["db_password"]
        except SecretNotFound as e:
            self.refused = str(e)
