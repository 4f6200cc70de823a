//! The vendors' common pagination styles, and the `following-cursors` a page may tell
//! (`subscription-page.following-cursors`: the cursors of the pages after `next-cursor`,
//! when they are independently addressable, so the engine may request them concurrently).
//!
//! - Offset + limit (`start`/`offset` and `limit`), with or without a total:
//!   [`next_offset`], [`following_offsets`].
//! - An opaque vendor cursor (`next_cursor` in the body): nothing to compute; wrap it in a
//!   [`crate::cursor`] so it is versioned and validated.
//! - A `Link` header (RFC 8288, as GitHub writes it): [`link_rel`], [`next_link`],
//!   [`last_link`], and [`pages_between`] a `next` and a `last` link.

/// Cursors told ahead from one page, at most (the engine takes no more).
pub const MAX_FOLLOWING: usize = 10_000;

/// The offset of the page after one that started at `start` and held `got` items, for a
/// vendor that reports a `total` (or none): `None` when the page was empty or the total is
/// reached.
pub fn next_offset(start: u64, got: usize, total: Option<u64>) -> Option<u64> {
    if got == 0 {
        return None;
    }
    let next = start.saturating_add(got as u64);
    match total {
        Some(total) if next >= total => None,
        _ => Some(next),
    }
}

/// The offsets of the pages after the one at `next`, each `step` further, while below
/// `total` (at most [`MAX_FOLLOWING`]): what `following-cursors` holds, encoded, for an
/// offset-paged listing whose total came with the page. Empty for a zero `step`.
pub fn following_offsets(next: u64, step: u64, total: u64) -> Vec<u64> {
    if step == 0 {
        return Vec::new();
    }
    (1..)
        .map_while(|k: u64| step.checked_mul(k).and_then(|d| next.checked_add(d)))
        .take_while(|start| *start < total)
        .take(MAX_FOLLOWING)
        .collect()
}

/// The URL of the `Link` header entry with relation `rel` (quoted or bare), if any.
pub fn link_rel(link: &str, rel: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                let Some(value) = p.trim().strip_prefix("rel=") else {
                    return false;
                };
                let value = value.trim_matches('"');
                value.split_ascii_whitespace().any(|r| r == rel)
            })
            .then(|| url.to_string())
    })
}

/// The `rel="next"` URL of a `Link` header, if any.
pub fn next_link(link: &str) -> Option<String> {
    link_rel(link, "next")
}

/// The `rel="last"` URL of a `Link` header, if any.
pub fn last_link(link: &str) -> Option<String> {
    link_rel(link, "last")
}

/// The URLs of the pages after `next` up to `last` (two links of a `Link` header that differ
/// only in their `page` parameter): `next` with its `page` number replaced, in place, by each
/// number after it up to `last`'s, so each is the URL the page before names as its next
/// (at most [`MAX_FOLLOWING`]). Empty when either has no `page` number or the two differ
/// otherwise.
pub fn pages_between(next: &str, last: &str) -> Vec<String> {
    // The URL around its page number, and the number.
    let split = |url: &str| -> Option<(String, u64, String)> {
        let query_at = url.find('?')?;
        let mut offset = query_at + 1;
        for pair in url[query_at + 1..].split('&') {
            if let Some(n) = pair.strip_prefix("page=") {
                let number = n.parse::<u64>().ok()?;
                let value_at = offset + "page=".len();
                return Some((
                    url[..value_at].to_string(),
                    number,
                    url[value_at + n.len()..].to_string(),
                ));
            }
            offset += pair.len() + 1;
        }
        None
    };
    let (Some((head, from, tail)), Some((last_head, to, last_tail))) = (split(next), split(last))
    else {
        return Vec::new();
    };
    if head != last_head || tail != last_tail || to <= from {
        return Vec::new();
    }
    (from + 1..=to.min(from.saturating_add(MAX_FOLLOWING as u64)))
        .map(|n| format!("{head}{n}{tail}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_stop_at_the_total_or_an_empty_page() {
        assert_eq!(next_offset(0, 50, Some(120)), Some(50));
        assert_eq!(next_offset(100, 20, Some(120)), None);
        assert_eq!(next_offset(100, 50, None), Some(150));
        assert_eq!(next_offset(100, 0, None), None);
        assert_eq!(following_offsets(200, 200, 1000), vec![400, 600, 800]);
        assert_eq!(following_offsets(200, 200, 400), Vec::<u64>::new());
        assert!(following_offsets(5, 0, 100).is_empty());
        assert_eq!(following_offsets(0, 1, u64::MAX).len(), MAX_FOLLOWING);
        assert!(following_offsets(u64::MAX - 1, 5, u64::MAX).is_empty());
    }

    #[test]
    fn the_next_link_is_found_among_the_others() {
        let link = "<https://api.github.com/x?page=2&per_page=100>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"";
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/x?page=2&per_page=100")
        );
        let last = "<https://api.github.com/x?page=4>; rel=\"prev\", <https://api.github.com/x?page=1>; rel=\"first\"";
        assert_eq!(next_link(last), None);
        assert_eq!(last_link(last), None);
        assert_eq!(
            last_link(link).as_deref(),
            Some("https://api.github.com/x?page=5")
        );
        assert_eq!(
            next_link("</p?page=3>; rel=next").as_deref(),
            Some("/p?page=3")
        );
        assert_eq!(
            next_link("</p?page=3>; rel=\"next last\"").as_deref(),
            Some("/p?page=3")
        );
        assert_eq!(next_link("</p?page=3>; rel=\"nextpage\""), None);
        assert_eq!(next_link("garbage, ; rel=next"), None);
    }

    #[test]
    fn pages_between_two_links() {
        let next = "https://h/orgs/o/copilot/billing/seats?per_page=100&page=2";
        let last = "https://h/orgs/o/copilot/billing/seats?per_page=100&page=5";
        assert_eq!(
            pages_between(next, last),
            [3, 4, 5]
                .map(|n| format!("https://h/orgs/o/copilot/billing/seats?per_page=100&page={n}"))
        );
        assert!(pages_between(next, next).is_empty(), "next is the last");
        assert!(pages_between(next, "https://h/other?per_page=100&page=5").is_empty());
        assert!(
            pages_between(
                next,
                "https://h/orgs/o/copilot/billing/seats?per_page=50&page=5"
            )
            .is_empty()
        );
        assert!(pages_between("https://h/x?per_page=100", last).is_empty());
        assert!(pages_between("https://h/x?page=2&per_page=100", last).is_empty());
        let huge = pages_between("/x?page=1", &format!("/x?page={}", u64::MAX));
        assert_eq!(huge.len(), MAX_FOLLOWING);
    }

    proptest::proptest! {
        #[test]
        fn following_offsets_are_increasing_and_below_the_total(
            next in 0u64..10_000, step in 1u64..500, total in 0u64..100_000
        ) {
            let all = following_offsets(next, step, total);
            proptest::prop_assert!(all.windows(2).all(|w| w[1] == w[0] + step));
            proptest::prop_assert!(all.iter().all(|o| *o < total && *o > next));
        }
    }
}
