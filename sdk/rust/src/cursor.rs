//! Cursors that survive a fresh instance per call. A spoke holds no state between calls (the
//! engine may instantiate it anew for every page), so each cursor it hands out carries
//! everything the next call needs, versioned and strictly validated: a cursor that does not
//! decode is a [`CursorError`], which becomes `invalid-config` (never a silent restart from
//! the first page).
//!
//! Format: a tag naming the cursor's kind and version (`s2`, `v1`, …), then fields, all
//! separated by `.`: numbers, `-` for an absent number, hex numbers, percent-encoded text
//! (which never holds a `.`), and optionally, last, a list of pairs (`k=v&k=v`, for a
//! vendor's own paging parameters). Build one with [`Writer`], read it with [`Reader`],
//! which checks the tag, every field and that nothing is left over.

use std::fmt::Display;
use std::str::FromStr;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::SpokeError;
use crate::http::decode_component;

/// A cursor that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} cursor: {shown:?}")]
pub struct CursorError {
    /// What the cursor was for (`download-subscriptions`).
    pub what: String,
    /// The cursor's start (at most 80 characters).
    pub shown: String,
}

impl CursorError {
    /// The error for `cursor`, a cursor of `what`.
    pub fn new(what: &str, cursor: &str) -> Self {
        CursorError {
            what: what.to_string(),
            shown: cursor.chars().take(80).collect(),
        }
    }
}

impl From<CursorError> for SpokeError {
    fn from(e: CursorError) -> Self {
        SpokeError::InvalidConfig(e.to_string())
    }
}

/// Text fields escape everything but letters, digits, `-`, `_` and `~` (so never `.`,
/// `&` or `=`).
const TEXT: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

fn encode_text(value: &str) -> String {
    utf8_percent_encode(value, TEXT).to_string()
}

/// Builds a cursor: `tag.field.field…`.
#[derive(Clone, Debug)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// A cursor of kind and version `tag` (letters and digits, e.g. `s2`).
    pub fn new(tag: &str) -> Self {
        Writer {
            out: tag.to_string(),
        }
    }

    /// A number (or anything whose text holds no `.`).
    pub fn num(mut self, n: impl Display) -> Self {
        self.out.push('.');
        self.out.push_str(&n.to_string());
        self
    }

    /// An optional number, `-` when absent.
    pub fn opt_num(self, n: Option<impl Display>) -> Self {
        match n {
            Some(n) => self.num(n),
            None => self.num("-"),
        }
    }

    /// A number in hex, zero-padded to 16 digits.
    pub fn hex64(self, n: u64) -> Self {
        self.num(format!("{n:016x}"))
    }

    /// Text, percent-encoded.
    pub fn text(self, value: &str) -> Self {
        let encoded = encode_text(value);
        self.num(encoded)
    }

    /// Pairs (`k=v&k=v`, percent-encoded); must be the last field.
    pub fn pairs(self, pairs: &[(String, String)]) -> String {
        let joined: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode_text(k), encode_text(v)))
            .collect();
        self.num(joined.join("&")).finish()
    }

    /// The cursor.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Reads a cursor field by field; every method fails with a [`CursorError`] naming the
/// cursor.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    what: &'a str,
    cursor: &'a str,
    rest: Option<&'a str>,
}

impl<'a> Reader<'a> {
    /// Starts reading `cursor`, a cursor of `what`, which must carry `tag`.
    pub fn new(what: &'a str, cursor: &'a str, tag: &str) -> Result<Self, CursorError> {
        let rest = cursor
            .strip_prefix(tag)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(|| CursorError::new(what, cursor))?;
        Ok(Reader {
            what,
            cursor,
            rest: Some(rest),
        })
    }

    /// Whether `cursor` carries `tag` (to tell cursor kinds apart before reading).
    pub fn has_tag(cursor: &str, tag: &str) -> bool {
        cursor.strip_prefix(tag).is_some_and(|r| r.starts_with('.'))
    }

    /// The error for this cursor (for a field that reads but makes no sense).
    pub fn error(&self) -> CursorError {
        CursorError::new(self.what, self.cursor)
    }

    fn field(&mut self) -> Result<&'a str, CursorError> {
        let rest = self.rest.ok_or_else(|| self.error())?;
        match rest.split_once('.') {
            Some((field, rest)) => {
                self.rest = Some(rest);
                Ok(field)
            }
            None => {
                self.rest = None;
                Ok(rest)
            }
        }
    }

    /// A number, in the one spelling [`Writer::num`] writes (no sign, padding or `+`).
    pub fn num<T: FromStr + Display>(&mut self) -> Result<T, CursorError> {
        let field = self.field()?;
        self.canonical(field)
    }

    fn canonical<T: FromStr + Display>(&self, field: &str) -> Result<T, CursorError> {
        match field.parse::<T>() {
            Ok(n) if n.to_string() == field => Ok(n),
            _ => Err(self.error()),
        }
    }

    /// An optional number (`-` when absent).
    pub fn opt_num<T: FromStr + Display>(&mut self) -> Result<Option<T>, CursorError> {
        let field = self.field()?;
        if field == "-" {
            return Ok(None);
        }
        self.canonical(field).map(Some)
    }

    /// A 16-digit lowercase hex number.
    pub fn hex64(&mut self) -> Result<u64, CursorError> {
        let field = self.field()?;
        if field.len() != 16
            || !field
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(self.error());
        }
        u64::from_str_radix(field, 16).map_err(|_| self.error())
    }

    /// A text field.
    pub fn text(&mut self) -> Result<String, CursorError> {
        let field = self.field()?;
        Ok(decode_component(field))
    }

    /// The last field as pairs (possibly none); every pair needs a non-empty key and `=`.
    pub fn pairs(mut self) -> Result<Vec<(String, String)>, CursorError> {
        let rest = self.rest.take().ok_or_else(|| self.error())?;
        rest.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').ok_or_else(|| self.error())?;
                if k.is_empty() {
                    return Err(self.error());
                }
                Ok((decode_component(k), decode_component(v)))
            })
            .collect()
    }

    /// Checks that every field was read.
    pub fn end(self) -> Result<(), CursorError> {
        match self.rest {
            None => Ok(()),
            Some(_) => Err(self.error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_was_written() {
        let c = Writer::new("s2").num(3).num(200u64).hex64(0xabc).finish();
        assert_eq!(c, "s2.3.200.0000000000000abc");
        let mut r = Reader::new("download", &c, "s2").unwrap();
        assert_eq!(r.num::<usize>(), Ok(3));
        assert_eq!(r.num::<u64>(), Ok(200));
        assert_eq!(r.hex64(), Ok(0xabc));
        r.end().unwrap();
        let c = Writer::new("a2")
            .num(-5)
            .opt_num(None::<i64>)
            .pairs(&[("cursor".into(), "x.y&z=".into())]);
        assert_eq!(c, "a2.-5.-.cursor=x%2Ey%26z%3D");
        let mut r = Reader::new("activity", &c, "a2").unwrap();
        assert_eq!(r.num::<i64>(), Ok(-5));
        assert_eq!(r.opt_num::<i64>(), Ok(None));
        assert_eq!(r.pairs(), Ok(vec![("cursor".into(), "x.y&z=".into())]));
    }

    #[test]
    fn refuses_garbage_as_invalid_config() {
        let bad = |c: &str| {
            let mut r = Reader::new("list", c, "g1")?;
            let n = r.num::<u64>()?;
            r.end()?;
            Ok::<u64, CursorError>(n)
        };
        assert_eq!(bad("g1.5"), Ok(5));
        for c in [
            "", "g1", "g1.", "g1.-1", "g1.+5", "g1.05", "g1.5.6", "g2.5", "g15", "x.g1.5",
        ] {
            let e = bad(c).unwrap_err();
            assert!(
                matches!(SpokeError::from(e), SpokeError::InvalidConfig(m) if m.starts_with("malformed list cursor")),
                "{c}"
            );
        }
        let pairs = |c: &str| Reader::new("a", c, "a1").and_then(Reader::pairs);
        assert!(pairs("a1.=v").is_err());
        assert!(pairs("a1.novalue").is_err());
        assert_eq!(pairs("a1."), Ok(Vec::new()));
        assert!(Reader::has_tag("a2.5", "a2") && !Reader::has_tag("a25", "a2"));
        let mut r = Reader::new("h", "h.zz00000000000000", "h").unwrap();
        assert!(r.hex64().is_err());
        let mut r = Reader::new("h", "h.1", "h").unwrap();
        assert!(r.hex64().is_err());
    }

    proptest! {
        #[test]
        fn any_cursor_round_trips(
            n in any::<u64>(), i in any::<i64>(), o in proptest::option::of(any::<i64>()),
            h in any::<u64>(), t in "\\PC*",
            pairs in proptest::collection::vec(("[a-z.&=%+]{1,8}", "\\PC{0,12}"), 0..4)
        ) {
            let c = Writer::new("v1").num(n).num(i).opt_num(o).hex64(h).text(&t).pairs(&pairs);
            let mut r = Reader::new("x", &c, "v1").unwrap();
            prop_assert_eq!(r.num::<u64>(), Ok(n));
            prop_assert_eq!(r.num::<i64>(), Ok(i));
            prop_assert_eq!(r.opt_num::<i64>(), Ok(o));
            prop_assert_eq!(r.hex64(), Ok(h));
            prop_assert_eq!(r.text(), Ok(t));
            prop_assert_eq!(r.pairs(), Ok(pairs));
        }

        #[test]
        fn garbage_never_panics_and_never_reads_as_a_complete_cursor(
            c in prop_oneof!["\\PC*", "v1\\.[0-9a-fA-F.+-]{0,24}"]
        ) {
            let read = || -> Result<(u64, u64), CursorError> {
                let mut r = Reader::new("x", &c, "v1")?;
                let a = r.num()?;
                let b = r.hex64()?;
                r.end()?;
                Ok((a, b))
            };
            if let Ok((a, b)) = read() {
                // Only a well-formed cursor reads, and it is exactly what a writer makes.
                prop_assert_eq!(Writer::new("v1").num(a).hex64(b).finish(), c);
            }
        }
    }
}
