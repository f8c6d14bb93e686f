//! All output goes through one [`Printer`], which knows `--json` and `NO_COLOR`.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

/// Text read from records (names, ids, tags, errors), safe to print to a terminal: control
/// characters escaped (`\u{1b}`), so a record cannot clear a screen or set a window title.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`shown`] line by line: control characters escaped, line breaks kept (for multi-line
/// messages, such as errors that quote a guest's error text).
pub fn shown_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.split('\n').map(shown).collect::<Vec<_>>().join("\n"))
}

/// Writes results to stdout and messages to stderr.
pub struct Printer {
    json: bool,
    color: bool,
}

impl Printer {
    pub fn new(json: bool) -> Printer {
        let color = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
        Printer { json, color }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Whether stderr is an interactive terminal (progress bars only then).
    pub fn interactive(&self) -> bool {
        !self.json && std::io::stderr().is_terminal()
    }

    /// A result line (human mode).
    pub fn line(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", text.as_ref());
    }

    /// A result as JSON (json mode).
    pub fn value(&self, value: &impl serde::Serialize) {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, value);
        let _ = writeln!(out);
    }

    /// A note to the user on stderr (suppressed in json mode).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A warning on stderr, shown in json mode too (it does not mix with the JSON on stdout).
    /// Control characters other than line breaks are escaped: warnings quote records.
    pub fn warning(&self, text: impl AsRef<str>) {
        eprintln!("warning: {}", shown_lines(text.as_ref()));
    }

    /// Text in bold (when colours are on).
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Text in red (when colours are on).
    pub fn red(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[31m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Text in green (when colours are on).
    pub fn green(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[32m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Prints an error and its causes on stderr (also in json mode: errors are for people), each
    /// cut to [`wflow_core::MAX_MESSAGE_CHARS`] (a cause may quote a whole server response).
    pub fn error(&self, err: &anyhow::Error) {
        let bound = |text: String| {
            shown_lines(&wflow_core::bounded(&text, wflow_core::MAX_MESSAGE_CHARS)).into_owned()
        };
        let mut msg = format!("{} {}", self.red("error:"), bound(err.to_string()));
        for cause in err.chain().skip(1) {
            let text = bound(cause.to_string());
            if !msg.contains(&text) {
                msg.push_str(&format!("\n  caused by: {text}"));
            }
        }
        eprintln!("{msg}");
    }
}
