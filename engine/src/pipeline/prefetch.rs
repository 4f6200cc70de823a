//! Asking for the next page while the current one is written. A paged subflow knows the next
//! cursor as soon as a page arrives; [`Prefetch`] starts that page's spoke call (polled once,
//! so the spoke runs up to its HTTP request and the request is on the wire), then the caller
//! writes the current page (synchronous store work), then awaits the prefetched page. The
//! vendor serves the next page while sam stores this one. A source that can run calls on a
//! task of its own reads further ahead with [`ReadAhead`] ([`Ahead`] picks one or the
//! other for both paged subflows): a task follows the cursors from
//! page to page, one request at a time, up to a few pages ahead of the caller, so neither the
//! spoke's parse nor a slow commit (a durable checkpoint) holds up the vendor's next page.
//! A page that tells the cursors of the pages after it (offsets under a known total) lets the
//! read-ahead request those concurrently within an [`AdaptiveConcurrency`], one call per
//! page, still handed over in order.
//! Nothing of a page read ahead is written before the pages before it commit, so
//! checkpoints and resume are unchanged; a run that stops or fails drops what was read
//! ahead (a few calls spent for nothing) and aborts the task.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use futures::future::{BoxFuture, MaybeDone, maybe_done};

use super::concurrency::{AdaptiveConcurrency, Caller};

/// A page requested ahead of need, for one cursor.
pub(crate) struct Prefetch<'a, T> {
    cursor: String,
    page: Pin<Box<MaybeDone<BoxFuture<'a, T>>>>,
}

impl<'a, T> Prefetch<'a, T> {
    /// Starts `fetch` (the page at `cursor`): polls it once so its request goes out now.
    pub async fn start(
        cursor: String,
        fetch: impl Future<Output = T> + Send + 'a,
    ) -> Prefetch<'a, T> {
        let boxed: BoxFuture<'a, T> = Box::pin(fetch);
        let mut page = Box::pin(maybe_done(boxed));
        let _ = futures::poll!(page.as_mut());
        Prefetch { cursor, page }
    }

    /// The page at `cursor`: the one in `ahead` if it was requested for that cursor, else
    /// fetched now by `fetch`.
    pub async fn page_at<Fut: Future<Output = T>>(
        ahead: &mut Option<Prefetch<'a, T>>,
        cursor: Option<&str>,
        fetch: impl FnOnce() -> Fut,
    ) -> T {
        if let Some(prefetched) = ahead.take()
            && let Some(page) = prefetched.take(cursor).await
        {
            return page;
        }
        fetch().await
    }

    /// The page, if it was requested for `cursor`; `None` (and the request dropped) if not.
    pub async fn take(mut self, cursor: Option<&str>) -> Option<T> {
        if cursor != Some(self.cursor.as_str()) {
            return None;
        }
        self.page.as_mut().await;
        self.page.as_mut().take_output()
    }
}

/// The pages after the one being written, asked for ahead of need: read ahead on a task
/// when the source can ([`ReadAhead`]), else the next page prefetched ([`Prefetch`]). Both
/// paged subflows page through one.
pub(crate) struct Ahead<'a, T> {
    read_ahead: Option<ReadAhead<T>>,
    prefetch: Option<Prefetch<'a, T>>,
}

impl<'a, T: Send + 'static> Ahead<'a, T> {
    /// Nothing asked for yet.
    pub fn new() -> Self {
        Ahead {
            read_ahead: None,
            prefetch: None,
        }
    }

    /// The page at `cursor`: the one read ahead or prefetched for it, else fetched now by
    /// `fetch` (a read-ahead that has no page for `cursor` is dropped).
    pub async fn page_at<Fut: Future<Output = T>>(
        &mut self,
        cursor: Option<&str>,
        fetch: impl FnOnce() -> Fut,
    ) -> T {
        if let Some(pages) = self.read_ahead.as_mut() {
            if let Some(page) = pages.take(cursor).await {
                return page;
            }
            self.read_ahead = None;
        }
        Prefetch::page_at(&mut self.prefetch, cursor, fetch).await
    }

    /// Asks for the pages after the current one, at `next` (none after the last page),
    /// unless a read-ahead already is: starts one with `read_ahead`, or, when the source
    /// cannot read ahead, prefetches the next page with `fetch`.
    pub async fn after<Fut>(
        &mut self,
        next: Option<&str>,
        read_ahead: impl FnOnce(String) -> Option<ReadAhead<T>>,
        fetch: impl FnOnce(String) -> Fut,
    ) where
        Fut: Future<Output = T> + Send + 'a,
    {
        let Some(next) = next.filter(|_| self.read_ahead.is_none()) else {
            return;
        };
        self.read_ahead = read_ahead(next.to_string());
        if self.read_ahead.is_none() {
            self.prefetch = Some(Prefetch::start(next.to_string(), fetch(next.to_string())).await);
        }
    }
}

/// Pages read on a task of their own, ahead of the caller, and handed over in order: the task
/// fetches the page at a cursor, hands it over, and goes on with the cursor that page names,
/// until a page names none or fails; at most `depth` pages wait to be taken. When a page tells
/// the cursors of the pages after its next one (`following-cursors`: independently
/// addressable pages), those are requested concurrently, one call each, as many at once as
/// its [`AdaptiveConcurrency`] allows, and still handed over in order. Dropping the read-ahead
/// aborts the task and the calls it is making.
pub struct ReadAhead<T> {
    pages: tokio::sync::mpsc::Receiver<(String, T)>,
    _task: AbortOnDrop<()>,
}

/// Cursors a page tells beyond its next one, at most, taken from one page (a longer list is
/// cut: the page at the last one taken names its own next cursor).
pub const MAX_FOLLOWING: usize = 10_000;

/// Where a page leads: the cursor after it, and the cursors it tells after that one.
pub type Continuation = (Option<String>, Vec<String>);

/// How a read-ahead may page: how many pages may wait to be taken, the longest cursor it
/// follows from a page's `following-cursors` (a list with a longer one is not followed), and
/// the run's concurrency.
#[derive(Debug, Clone)]
pub struct ReadAheadPaging {
    /// Pages waiting to be taken, at most.
    pub depth: usize,
    /// The longest cursor followed, in bytes.
    pub cursor_bytes: usize,
    /// The run's concurrency.
    pub pacing: Arc<AdaptiveConcurrency>,
}

impl ReadAheadPaging {
    /// The following cursors of a page worth following: none when one of them is empty or
    /// longer than the cursor limit; at most [`MAX_FOLLOWING`].
    pub fn following(&self, cursors: &[String]) -> Vec<String> {
        let cursors = &cursors[..cursors.len().min(MAX_FOLLOWING)];
        if cursors
            .iter()
            .any(|c| c.is_empty() || c.len() > self.cursor_bytes)
        {
            return Vec::new();
        }
        cursors.to_vec()
    }
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts reading at `cursor`, one page at a time: `fetch` reads one page, `next` names
    /// the cursor after it (`None` for the last page, or for a failed call, which ends the
    /// read-ahead).
    pub fn spawn<F, Fut>(
        cursor: String,
        depth: usize,
        fetch: F,
        next: fn(&T) -> Option<String>,
    ) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        Self::spawn_concurrent(
            cursor,
            Vec::new(),
            depth,
            fetch,
            move |page| (next(page), Vec::new()),
            Arc::new(AdaptiveConcurrency::new(1, 0)),
            || 0,
        )
    }

    /// Starts reading at `cursor`, with `following` the cursors known after it (in order),
    /// concurrently within `pacing`: `fetch` reads one page (on a task of its own), `next`
    /// says where a page leads ([`Continuation`]); `signals` is the session's limit-signal
    /// count, read after each answer. A page's continuation is followed only when it is
    /// the last page known; before that, the cursors already known are the chain (a page
    /// that says otherwise is the caller's to notice: it gets a page for another cursor).
    pub fn spawn_concurrent<F, Fut>(
        cursor: String,
        following: Vec<String>,
        depth: usize,
        fetch: F,
        next: impl Fn(&T) -> Continuation + Send + 'static,
        pacing: Arc<AdaptiveConcurrency>,
        signals: impl Fn() -> u64 + Send + 'static,
    ) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (handover, pages) = tokio::sync::mpsc::channel(depth.max(1));
        let fetch = Arc::new(fetch);
        let task = tokio::spawn(async move {
            let mut known: VecDeque<String> = std::iter::once(cursor)
                .chain(following.into_iter().take(MAX_FOLLOWING))
                .collect();
            let mut in_flight: VecDeque<(String, AbortOnDrop<(T, Duration)>)> = VecDeque::new();
            loop {
                while in_flight.len() < pacing.allowed()
                    && let Some(at) = known.pop_front()
                {
                    let (fetch, cursor) = (fetch.clone(), at.clone());
                    let call = tokio::spawn(async move {
                        let started = Instant::now();
                        let page = fetch(cursor).await;
                        (page, started.elapsed())
                    });
                    in_flight.push_back((at, AbortOnDrop(call)));
                }
                let Some((at, mut call)) = in_flight.pop_front() else {
                    return; // nothing more known: the chain ended
                };
                let Ok((page, took)) = (&mut call.0).await else {
                    return; // the call's task panicked: the caller fetches itself
                };
                // Pages handed over and not yet taken, once the caller had a turn to take
                // them (answers that come together are not a backlog): the caller sets the
                // pace.
                tokio::task::yield_now().await;
                let caller = if handover.capacity() == 0 {
                    Caller::Full
                } else if handover.capacity() < handover.max_capacity() {
                    Caller::Behind
                } else {
                    Caller::Ready
                };
                pacing.answered(took, signals(), caller);
                if in_flight.is_empty() && known.is_empty() {
                    let (after, following) = next(&page);
                    if let Some(after) = after {
                        known.push_back(after);
                        known.extend(following.into_iter().take(MAX_FOLLOWING));
                    }
                }
                if handover.send((at, page)).await.is_err() {
                    return; // the reader is gone
                }
            }
        });
        ReadAhead {
            pages,
            _task: AbortOnDrop(task),
        }
    }

    /// The next page read, if it is the one at `cursor`. `None` when the read-ahead ended
    /// (or its task stopped) or read another cursor: the caller then fetches the page
    /// itself, and should drop the read-ahead.
    pub async fn take(&mut self, cursor: Option<&str>) -> Option<T> {
        let (at, page) = self.pages.recv().await?;
        (cursor == Some(at.as_str())).then_some(page)
    }
}

impl<T> std::fmt::Debug for ReadAhead<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadAhead")
            .field("waiting", &self.pages.len())
            .finish_non_exhaustive()
    }
}

/// A task handle that aborts its task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn the_request_starts_before_the_caller_awaits_it() {
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let pending = Prefetch::start("c2".into(), async move {
            s.fetch_add(1, Ordering::SeqCst);
            rx.await.unwrap_or(0)
        })
        .await;
        // The fetch ran up to its first wait before `take`.
        assert_eq!(started.load(Ordering::SeqCst), 1);
        tx.send(7).unwrap();
        assert_eq!(pending.take(Some("c2")).await, Some(7));
    }

    #[tokio::test]
    async fn a_page_for_another_cursor_is_not_used() {
        let ready = Prefetch::start("c2".into(), async { 1 }).await;
        assert_eq!(ready.take(Some("c3")).await, None);
        let ready = Prefetch::start("c2".into(), async { 1 }).await;
        assert_eq!(ready.take(None).await, None);
        let ready = Prefetch::start("c2".into(), async { 5 }).await;
        assert_eq!(ready.take(Some("c2")).await, Some(5));
    }

    /// A read-ahead over pages "1".."5": page n names n+1, and "5" names none.
    fn numbered(fetched: Arc<AtomicUsize>) -> ReadAhead<Result<u32, String>> {
        numbered_from(1, fetched)
    }

    /// [`numbered`] from page `first` on.
    fn numbered_from(first: u32, fetched: Arc<AtomicUsize>) -> ReadAhead<Result<u32, String>> {
        ReadAhead::spawn(
            first.to_string(),
            2,
            move |at: String| {
                let fetched = fetched.clone();
                async move {
                    fetched.fetch_add(1, Ordering::SeqCst);
                    at.parse::<u32>().map_err(|e| e.to_string())
                }
            },
            |page| match page {
                Ok(n) if *n < 5 => Some((n + 1).to_string()),
                _ => None,
            },
        )
    }

    #[tokio::test]
    async fn read_ahead_follows_the_cursors_and_stays_within_its_depth() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let mut ahead = numbered(fetched.clone());
        assert_eq!(ahead.take(Some("1")).await, Some(Ok(1)));
        // Give the task time to fill the queue: two pages wait, a third is being handed
        // over, and it reads no further.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        let read = fetched.load(Ordering::SeqCst);
        assert!((3..=4).contains(&read), "read {read} pages, depth 2");
        for n in 2..=5 {
            assert_eq!(ahead.take(Some(&n.to_string())).await, Some(Ok(n)));
        }
        assert_eq!(ahead.take(Some("6")).await, None, "the last page ends it");
        assert_eq!(fetched.load(Ordering::SeqCst), 5, "one call per page");
    }

    #[tokio::test]
    async fn read_ahead_for_another_cursor_is_refused_and_dropping_it_stops_the_task() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let mut ahead = numbered(fetched.clone());
        assert_eq!(ahead.take(Some("7")).await, None, "another cursor");
        drop(ahead);
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(fetched.load(Ordering::SeqCst) <= 3, "the task was aborted");

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ahead: ReadAhead<u32> = ReadAhead::spawn(
            "1".into(),
            1,
            move |_| {
                let _keep = &tx; // dropped (closing the channel) with the task
                std::future::pending::<u32>()
            },
            |_| None,
        );
        drop(ahead);
        assert!(rx.await.is_err(), "the call in flight was aborted");
    }

    #[tokio::test]
    async fn read_ahead_ends_at_a_failed_page_or_a_stopped_task() {
        let mut failing: ReadAhead<Result<u32, String>> = ReadAhead::spawn(
            "x".into(),
            2,
            |at: String| async move { at.parse::<u32>().map_err(|_| format!("bad {at}")) },
            |page| page.as_ref().ok().map(|n| (n + 1).to_string()),
        );
        assert_eq!(failing.take(Some("x")).await, Some(Err("bad x".into())));
        assert_eq!(
            failing.take(Some("y")).await,
            None,
            "nothing after a failure"
        );

        let mut panicking: ReadAhead<u32> = ReadAhead::spawn(
            "1".into(),
            2,
            |_| async { panic!("spoke host bug") },
            |_| None,
        );
        assert_eq!(
            panicking.take(Some("1")).await,
            None,
            "the caller fetches itself"
        );
    }

    #[tokio::test]
    async fn ahead_prefetches_one_page_when_the_source_cannot_read_ahead() {
        let mut ahead: Ahead<'_, String> = Ahead::new();
        let no_read_ahead = |_: String| None;
        let prefetch = |c: String| async move { format!("ahead {c}") };
        let now = || async { "now".to_string() };
        ahead.after(Some("c2"), no_read_ahead, prefetch).await;
        assert_eq!(ahead.page_at(Some("c2"), now).await, "ahead c2");
        assert_eq!(
            ahead.page_at(Some("c2"), now).await,
            "now",
            "a prefetched page serves once"
        );
        ahead.after(Some("c2"), no_read_ahead, prefetch).await;
        assert_eq!(
            ahead.page_at(Some("c3"), now).await,
            "now",
            "another cursor: fetched now"
        );
        ahead.after(None, no_read_ahead, prefetch).await;
        assert_eq!(
            ahead.page_at(None, now).await,
            "now",
            "nothing after the last page"
        );
    }

    #[tokio::test]
    async fn ahead_starts_one_read_ahead_and_follows_it() {
        let fetched = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let mut ahead: Ahead<'_, Result<u32, String>> = Ahead::new();
        for n in 1..=5u32 {
            let page = ahead
                .page_at(Some(&n.to_string()), || async { Err("fetched now".into()) })
                .await;
            assert_eq!(
                page,
                if n == 1 {
                    Err("fetched now".into())
                } else {
                    Ok(n)
                }
            );
            let next = (n < 5).then(|| (n + 1).to_string());
            ahead
                .after(
                    next.as_deref(),
                    |_| {
                        started.fetch_add(1, Ordering::SeqCst);
                        Some(numbered_from(2, fetched.clone()))
                    },
                    |_| async { Err("prefetched".into()) },
                )
                .await;
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one read-ahead for the run"
        );
        assert_eq!(fetched.load(Ordering::SeqCst), 4, "pages 2 to 5, once each");
    }

    /// A vendor of `pages` pages ("1".."pages") answering after `answer`; the page at "1"
    /// tells the rest. Counts calls, the most in flight at once, and the requests refused
    /// for going over `burst` at once (each a limit signal, answered after a wait, as the gate
    /// does after a 429).
    #[derive(Default)]
    struct Vendor {
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        refused: AtomicUsize,
    }

    fn read_concurrently(
        vendor: Arc<Vendor>,
        pages: u32,
        burst: usize,
        pacing: Arc<AdaptiveConcurrency>,
        honour_signals: bool,
    ) -> ReadAhead<u32> {
        let signals = vendor.clone();
        ReadAhead::spawn_concurrent(
            "1".into(),
            Vec::new(),
            4,
            move |at: String| {
                let v = vendor.clone();
                async move {
                    v.calls.fetch_add(1, Ordering::SeqCst);
                    let now = v.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    v.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let over = now > burst;
                    if over {
                        v.refused.fetch_add(1, Ordering::SeqCst);
                    }
                    let wait = if over { 25 } else { 5 };
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    v.in_flight.fetch_sub(1, Ordering::SeqCst);
                    at.parse::<u32>().unwrap_or(0)
                }
            },
            move |&n| match n {
                1 => (
                    Some("2".into()),
                    (3..=pages).map(|k| k.to_string()).collect(),
                ),
                n if n < pages => (Some((n + 1).to_string()), Vec::new()),
                _ => (None, Vec::new()),
            },
            pacing,
            move || {
                if honour_signals {
                    signals.refused.load(Ordering::SeqCst) as u64
                } else {
                    0
                }
            },
        )
    }

    // Paused virtual time on one thread: the vendor's answer times and the order in which
    // tasks run are the same on an idle laptop and a loaded CI machine.
    #[tokio::test(start_paused = true)]
    async fn told_pages_are_read_concurrently_in_order_one_call_each_within_the_ceiling() {
        let vendor = Arc::new(Vendor::default());
        let pacing = Arc::new(AdaptiveConcurrency::new(4, 0));
        let mut ahead = read_concurrently(vendor.clone(), 40, usize::MAX, pacing.clone(), true);
        for n in 1..=40u32 {
            assert_eq!(ahead.take(Some(&n.to_string())).await, Some(n), "in order");
        }
        assert_eq!(ahead.take(Some("41")).await, None, "the last page ends it");
        assert_eq!(vendor.calls.load(Ordering::SeqCst), 40, "one call per page");
        let most = vendor.max_in_flight.load(Ordering::SeqCst);
        assert!(
            (2..=4).contains(&most),
            "{most} in flight at once, ceiling 4"
        );
        // It grew past the initial 2 and never above the ceiling (how far it grows depends
        // on how fast the answers come on a loaded machine; the arithmetic itself is tested
        // in `concurrency.rs`).
        let peak = pacing.peak();
        assert!((3..=4).contains(&peak), "peak {peak}, ceiling 4");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_backs_off_on_a_burst_limit() {
        // The vendor refuses a fourth request in flight. Adaptive paging finds the limit and
        // stays near it; ignoring the signals (growing to the ceiling) is refused far more.
        let run = |honour: bool| async move {
            let vendor = Arc::new(Vendor::default());
            let pacing = Arc::new(AdaptiveConcurrency::new(8, 0));
            let mut ahead = read_concurrently(vendor.clone(), 60, 3, pacing.clone(), honour);
            for n in 1..=60u32 {
                assert_eq!(ahead.take(Some(&n.to_string())).await, Some(n));
            }
            assert_eq!(vendor.calls.load(Ordering::SeqCst), 60);
            (vendor.refused.load(Ordering::SeqCst), pacing.backoffs())
        };
        let (adaptive, backoffs) = run(true).await;
        let (blind, _) = run(false).await;
        assert!(backoffs >= 1, "it backed off");
        assert!(
            adaptive <= 15 && adaptive * 3 < blind,
            "refused {adaptive} times adapting, {blind} times not"
        );
    }

    #[tokio::test]
    async fn a_page_that_contradicts_the_told_cursors_is_noticed_by_the_caller() {
        let mut ahead: ReadAhead<(u32, Option<String>)> = ReadAhead::spawn_concurrent(
            "1".into(),
            vec!["2".into(), "3".into()],
            4,
            |at: String| async move {
                let n = at.parse::<u32>().unwrap_or(0);
                // Page 2 says page 9 follows it, not the told page 3.
                (
                    n,
                    Some(if n == 2 {
                        "9".into()
                    } else {
                        (n + 1).to_string()
                    }),
                )
            },
            |page| (page.1.clone(), Vec::new()),
            Arc::new(AdaptiveConcurrency::new(4, 0)),
            || 0,
        );
        assert_eq!(ahead.take(Some("1")).await.map(|p| p.0), Some(1));
        let two = ahead.take(Some("2")).await.expect("page 2");
        assert_eq!(two.1.as_deref(), Some("9"));
        assert_eq!(
            ahead.take(Some("9")).await,
            None,
            "the caller asked for 9 and was handed 3: it fetches 9 itself"
        );
    }
}
