//! Keeping messages readable: an error that quotes a whole server response (or any other long
//! text) is cut to a bounded length where it is stored or printed.

use std::borrow::Cow;

/// The most characters of an error message kept in records and printed by default.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `text` if it has at most `max` characters; otherwise its first `max` characters followed by
/// `… (N more characters)`.
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            Cow::Owned(format!("{}… ({rest} more characters)", &text[..cut]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_on_a_character() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc… (1 more characters)");
        assert_eq!(bounded("ééé", 1), "é… (2 more characters)");
        assert!(matches!(bounded("x", 10), Cow::Borrowed(_)));
    }
}
