//! Text a spoke supplies (manifest strings, log messages, error texts, record fields) made
//! inert before it reaches a terminal or a log line: control characters (C0, DEL, C1, so
//! escape sequences, carriage returns and newlines that would forge a line) and the Unicode
//! bidirectional overrides are replaced by visible escapes (`\u{1b}`), and a length bound
//! cuts what is too long to show with a note of how much was cut.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal or a log line as is.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character and bidirectional override replaced by its visible
/// escape (`\n`, `\u{1b}`); borrowed when there was nothing to replace.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`inert`], cut to at most `max` bytes (on a character boundary) with a note of how many
/// bytes were left out.
pub fn inert_bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return inert(text).into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes not shown)",
        inert(&text[..end]),
        text.len() - end
    )
}

/// Makes `text` inert in place (for strings kept, such as a manifest's).
pub fn make_inert(text: &mut String) {
    if let Cow::Owned(clean) = inert(text) {
        *text = clean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_forged_lines_become_visible_text() {
        let hostile =
            "ok\n2026-01-01T00:00:00Z  INFO sam: run complete\x1b]0;owned\x07\x1b[2J\u{9b}\u{202e}";
        let shown = inert(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert!(shown.contains("\\n2026"), "{shown}");
        assert!(shown.contains("\\u{1b}]0;owned"), "{shown}");
        assert_eq!(inert("plain café"), Cow::Borrowed("plain café"));
    }

    #[test]
    fn bounded_text_is_cut_on_a_char_boundary_with_a_note() {
        let long = "é".repeat(100);
        let shown = inert_bounded(&long, 11);
        assert!(shown.starts_with("ééééé…"), "{shown}");
        assert!(shown.contains("190 more bytes"), "{shown}");
        assert_eq!(inert_bounded("short", 10), "short");
    }
}
