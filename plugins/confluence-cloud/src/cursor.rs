//! The opaque cursors the spoke hands the engine, and their strict decoding. No state
//! survives between calls, so each cursor carries everything the next call needs and
//! nothing more; a cursor that does not decode (or belongs to another group selection or
//! another activity window) is an `InvalidConfig` error, never a silent restart.
//!
//! Formats (dot-separated text, versioned by the prefix):
//! - list-groups: `g1.<start>`
//! - download-subscriptions: `s1.<group index>.<start>.<sizes>.<fingerprint>`, where
//!   `<sizes>` lists the member count of each selected group in sorted-id order (`-` when
//!   unknown) and `<fingerprint>` is FNV-1a-64 (hex) of the sorted selected group ids.
//! - download-activity: `a1.<cutoff epoch>.<paging>`, where `<paging>` is the query of the
//!   search's `_links.next` (without the parameters the spoke sets itself),
//!   percent-encoded as `k=v&k=v`; one time slice of it: `a2.<since>.<from>.<until or
//!   ->.<paging>` (paging empty for the slice's first page).

use crate::errors::SpokeError;
use crate::http::{decode_component, encode_segment};

fn malformed(what: &str, cursor: &str) -> SpokeError {
    let shown: String = cursor.chars().take(80).collect();
    SpokeError::InvalidConfig(format!("malformed {what} cursor: {shown:?}"))
}

/// Cursor of `list-groups`: the offset of the next page.
pub fn encode_groups(start: u64) -> String {
    format!("g1.{start}")
}

pub fn decode_groups(cursor: &str) -> Result<u64, SpokeError> {
    cursor
        .strip_prefix("g1.")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| malformed("list-groups", cursor))
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
    format!("s2.{}.{}.{:016x}", c.group, c.start, c.fingerprint)
}

/// Decodes a download cursor and checks it against the current (sorted) selection.
pub fn decode_download(cursor: &str, groups: &[String]) -> Result<DownloadCursor, SpokeError> {
    let bad = || malformed("download-subscriptions", cursor);
    let rest = cursor.strip_prefix("s2.").ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('.').collect();
    let [group, start, fp] = parts.as_slice() else {
        return Err(bad());
    };
    let group = group.parse::<usize>().map_err(|_| bad())?;
    let start = start.parse::<u64>().map_err(|_| bad())?;
    if fp.len() != 16 {
        return Err(bad());
    }
    let fingerprint = u64::from_str_radix(fp, 16).map_err(|_| bad())?;
    if fingerprint != self::fingerprint(groups) {
        return Err(SpokeError::InvalidConfig(
            "the download cursor belongs to another selection of groups; restart the download"
                .into(),
        ));
    }
    if group >= groups.len() {
        return Err(bad());
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
    let paging: Vec<String> = c
        .paging
        .iter()
        .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
        .collect();
    format!("a1.{}.{}", c.since, paging.join("&"))
}

/// Decodes an activity cursor and checks it was made for the same `since`.
pub fn decode_activity(cursor: &str, since: i64) -> Result<ActivityCursor, SpokeError> {
    let bad = || malformed("download-activity", cursor);
    let rest = cursor.strip_prefix("a1.").ok_or_else(bad)?;
    let (epoch, paging) = rest.split_once('.').ok_or_else(bad)?;
    let epoch = epoch.parse::<i64>().map_err(|_| bad())?;
    let paging = paging
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(bad)?;
            if k.is_empty() {
                return Err(bad());
            }
            Ok((decode_component(k), decode_component(v)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if paging.is_empty() {
        return Err(bad());
    }
    if epoch != since {
        return Err(SpokeError::InvalidConfig(format!(
            "the activity cursor was made for since={epoch}, not {since}; restart the scan"
        )));
    }
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
    let paging: Vec<String> = c
        .paging
        .iter()
        .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
        .collect();
    let until = c.until.map_or_else(|| "-".to_string(), |u| u.to_string());
    format!("a2.{}.{}.{until}.{}", c.since, c.from, paging.join("&"))
}

/// Decodes a slice cursor and checks it was made for the same `since`.
pub fn decode_slice(cursor: &str, since: i64) -> Result<SliceCursor, SpokeError> {
    let bad = || malformed("download-activity", cursor);
    let rest = cursor.strip_prefix("a2.").ok_or_else(bad)?;
    let mut parts = rest.splitn(4, '.');
    let (Some(epoch), Some(from), Some(until), Some(paging)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let epoch = epoch.parse::<i64>().map_err(|_| bad())?;
    let from = from.parse::<i64>().map_err(|_| bad())?;
    let until = match until {
        "-" => None,
        u => Some(u.parse::<i64>().map_err(|_| bad())?),
    };
    if until.is_some_and(|u| u <= from) {
        return Err(bad());
    }
    let paging = paging
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(bad)?;
            if k.is_empty() {
                return Err(bad());
            }
            Ok((decode_component(k), decode_component(v)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if epoch != since {
        return Err(SpokeError::InvalidConfig(format!(
            "the activity cursor was made for since={epoch}, not {since}; restart the scan"
        )));
    }
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
