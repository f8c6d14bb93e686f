// Contract 0.2's secrets from JavaScript: `start` asks for `db_password`, reads it as text and as
// bytes, prints it (the host redacts it from the logs) and keeps only its length; `end` reads a
// secret it did not ask for and keeps the error.

import { FlowSpec, current } from "wflow";

export default class JsSecrets extends FlowSpec {
  static doc = "Reads a secret.";
  static steps = {
    start: { next: "end", secrets: ["db_password"] },
    end: {},
  };

  start() {
    const password = current.secrets.get("db_password");
    if (current.secrets.bytes("db_password").length !== new TextEncoder().encode(password).length) {
      throw new Error("text and bytes differ");
    }
    console.log(`connecting with password ${password}`);
    this.length = password.length;
  }

  end() {
    try {
      current.secrets.get("db_password");
    } catch (e) {
      if (e.name !== "SecretNotFound") throw e;
      this.refused = e.message;
    }
  }
}
