//! What the spoke's cursors hold. No state survives between calls, so each cursor carries
//! everything the next call needs and nothing more; the SDK's cursor codec
//! (`sam_spoke::cursor`) writes them versioned and reads them strictly, so a cursor that does
//! not decode (or belongs to another group selection or another activity window) is an
//! `InvalidConfig` error, never a silent restart.
//!
//! Formats (the SDK's dot-separated fields, versioned by the tag):
//! - list-groups: `g1.<start>`
//! - download-subscriptions: `s2.<group index>.<start>.<fingerprint>`, where `<fingerprint>`
//!   is FNV-1a-64 (hex) of the sorted selected group ids.
//! - download-activity: `a1.<cutoff epoch>.<paging>`, where `<paging>` is the query of the
//!   search's `_links.next` (without the parameters the spoke sets itself), as pairs; one
//!   time slice of it: `a2.<since>.<from>.<until or ->.<paging>` (paging empty for the
//!   slice's first page).

use sam_spoke::cursor::{Reader, Writer};

use crate::errors::SpokeError;

/// Cursor of `list-groups`: the offset of the next page.
pub fn encode_groups(start: u64) -> String {
    Writer::new("g1").num(start).finish()
}

pub fn decode_groups(cursor: &str) -> Result<u64, SpokeError> {
    let mut r = Reader::new("list-groups", cursor, "g1")?;
    let start = r.num()?;
    r.end()?;
    Ok(start)
}

/// Position of `download-subscriptions`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadCursor {
    /// Index of the group being read, in sorted-id order.
    pub group: usize,
    /// Offset of the next member page of that group.
    pub start: u64,
    /// Fingerprint of the sorted selected group ids.
    pub fingerprint: u64,
}

/// FNV-1a 64 over the sorted group ids, newline-separated.
pub fn fingerprint(groups: &[String]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            hash ^= u64::from(b'\n');
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for b in g.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

pub fn encode_download(c: &DownloadCursor) -> String {
    Writer::new("s2")
        .num(c.group)
        .num(c.start)
        .hex64(c.fingerprint)
        .finish()
}

/// Decodes a download cursor and checks it against the current (sorted) selection.
pub fn decode_download(cursor: &str, groups: &[String]) -> Result<DownloadCursor, SpokeError> {
    let mut r = Reader::new("download-subscriptions", cursor, "s2")?;
    let group: usize = r.num()?;
    let start = r.num()?;
    let fingerprint = r.hex64()?;
    let bad = r.error();
    r.end()?;
    if fingerprint != self::fingerprint(groups) {
        return Err(SpokeError::InvalidConfig(
            "the download cursor belongs to another selection of groups; restart the download"
                .into(),
        ));
    }
    if group >= groups.len() {
        return Err(bad.into());
    }
    Ok(DownloadCursor {
        group,
        start,
        fingerprint,
    })
}

/// Position of `download-activity`: the cutoff it was made for and the search paging
/// parameters of the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityCursor {
    pub since: i64,
    pub paging: Vec<(String, String)>,
}

pub fn encode_activity(c: &ActivityCursor) -> String {
    Writer::new("a1").num(c.since).pairs(&c.paging)
}

fn same_window(epoch: i64, since: i64) -> Result<(), SpokeError> {
    if epoch != since {
        return Err(SpokeError::InvalidConfig(format!(
            "the activity cursor was made for since={epoch}, not {since}; restart the scan"
        )));
    }
    Ok(())
}

/// Decodes an activity cursor and checks it was made for the same `since`.
pub fn decode_activity(cursor: &str, since: i64) -> Result<ActivityCursor, SpokeError> {
    let mut r = Reader::new("download-activity", cursor, "a1")?;
    let epoch = r.num()?;
    let bad = r.error();
    let paging = r.pairs()?;
    if paging.is_empty() {
        return Err(bad.into());
    }
    same_window(epoch, since)?;
    Ok(ActivityCursor {
        since: epoch,
        paging,
    })
}

/// Position of one time slice of `download-activity`: the window's `since`, the slice's
/// bounds (`lastmodified >= from`, and `< until` unless it is the newest slice) and the search
/// paging parameters of its next page (none for its first page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceCursor {
    pub since: i64,
    pub from: i64,
    pub until: Option<i64>,
    pub paging: Vec<(String, String)>,
}

/// `a2.<since>.<from>.<until or ->.<paging>`.
pub fn encode_slice(c: &SliceCursor) -> String {
    Writer::new("a2")
        .num(c.since)
        .num(c.from)
        .opt_num(c.until)
        .pairs(&c.paging)
}

/// Whether `cursor` is a slice cursor.
pub fn is_slice(cursor: &str) -> bool {
    Reader::has_tag(cursor, "a2")
}

/// Decodes a slice cursor and checks it was made for the same `since`.
pub fn decode_slice(cursor: &str, since: i64) -> Result<SliceCursor, SpokeError> {
    let mut r = Reader::new("download-activity", cursor, "a2")?;
    let epoch = r.num()?;
    let from = r.num()?;
    let until = r.opt_num()?;
    if until.is_some_and(|u| u <= from) {
        return Err(r.error().into());
    }
    let paging = r.pairs()?;
    same_window(epoch, since)?;
    Ok(SliceCursor {
        since: epoch,
        from,
        until,
        paging,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip() {
        assert_eq!(decode_groups(&encode_groups(400)), Ok(400));
        assert!(matches!(
            decode_groups("x"),
            Err(SpokeError::InvalidConfig(_))
        ));
        assert!(decode_groups("g1.-1").is_err());
    }

    #[test]
    fn download_round_trip_and_checks() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let c = DownloadCursor {
            group: 1,
            start: 200,
            fingerprint: fingerprint(&groups),
        };
        let s = encode_download(&c);
        assert_eq!(decode_download(&s, &groups), Ok(c));
        let other = vec!["a".to_string(), "c".to_string()];
        assert!(matches!(
            decode_download(&s, &other),
            Err(SpokeError::InvalidConfig(_))
        ));
        for bad in [
            "",
            "s2.",
            "s2.0.0.zz",
            "s2.9.0.0000000000000000",
            "s1.0.0.-.0000000000000000",
            "a1.0.x=y",
        ] {
            assert!(
                matches!(
                    decode_download(bad, &groups),
                    Err(SpokeError::InvalidConfig(_))
                ),
                "{bad}"
            );
        }
        assert_ne!(
            fingerprint(&["ab".into()]),
            fingerprint(&["a".into(), "b".into()])
        );
    }

    #[test]
    fn activity_round_trip_and_checks() {
        let c = ActivityCursor {
            since: 1_700_000_000,
            paging: vec![
                ("cursor".into(), "_f_MjU=_sa_WyJ0.Ij&x".into()),
                ("next".into(), "true".into()),
            ],
        };
        let s = encode_activity(&c);
        assert_eq!(decode_activity(&s, 1_700_000_000), Ok(c));
        assert!(matches!(
            decode_activity(&s, 1),
            Err(SpokeError::InvalidConfig(_))
        ));
        for bad in [
            "",
            "a1.",
            "a1.5.",
            "a1.x.cursor=1",
            "a1.5.=v",
            "a1.5.novalue",
        ] {
            assert!(decode_activity(bad, 5).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_written_before_the_sdk_still_decode() {
        // The hand-written encoder kept `.` unescaped in paging values; a checkpoint may hold
        // such a cursor across an upgrade.
        assert_eq!(
            decode_activity("a1.5.cursor=x.y%26z&next=true", 5),
            Ok(ActivityCursor {
                since: 5,
                paging: vec![
                    ("cursor".into(), "x.y&z".into()),
                    ("next".into(), "true".into())
                ],
            })
        );
        assert_eq!(
            decode_slice("a2.100.40.700.cursor=x.y", 100),
            Ok(SliceCursor {
                since: 100,
                from: 40,
                until: Some(700),
                paging: vec![("cursor".into(), "x.y".into())],
            })
        );
        let groups = vec!["a".to_string()];
        let old = format!("s2.0.200.{:016x}", fingerprint(&groups));
        assert_eq!(decode_download(&old, &groups).map(|c| c.start), Ok(200));
        assert_eq!(
            encode_download(&decode_download(&old, &groups).unwrap()),
            old
        );
        assert_eq!(encode_groups(400), "g1.400");
    }

    #[test]
    fn slice_round_trip_and_checks() {
        for c in [
            SliceCursor {
                since: 100,
                from: 40,
                until: Some(700),
                paging: Vec::new(),
            },
            SliceCursor {
                since: 100,
                from: 700,
                until: None,
                paging: vec![("cursor".into(), "x.y&z".into())],
            },
        ] {
            assert_eq!(decode_slice(&encode_slice(&c), 100), Ok(c.clone()));
            assert!(matches!(
                decode_slice(&encode_slice(&c), 1),
                Err(SpokeError::InvalidConfig(_))
            ));
        }
        for bad in [
            "",
            "a2.",
            "a2.100.5",
            "a2.100.x.-.",
            "a2.100.5.5.",
            "a2.100.5.-.=v",
            "a1.100.x=y",
        ] {
            assert!(decode_slice(bad, 100).is_err(), "{bad}");
        }
    }
}
