//! Asking for the next page while the current one is written. A paged subflow knows the next
//! cursor as soon as a page arrives; [`Prefetch`] starts that page's spoke call (polled once,
//! so the spoke runs up to its HTTP request and the request is on the wire), then the caller
//! writes the current page (synchronous store work), then awaits the prefetched page. The
//! vendor serves the next page while sam stores this one. Nothing of the prefetched page is
//! written before the current page commits, so checkpoints and resume are unchanged; a run
//! that stops or fails drops the prefetch (at most one call spent for nothing). A source that
//! can run a call on a task of its own ([`Prefetch::detached`]) gets its response parsed on
//! another core while this page is written; the task is aborted if the prefetch is dropped.

use std::future::Future;
use std::pin::Pin;

use futures::future::{BoxFuture, MaybeDone, maybe_done};

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

    /// A page already requested on a task of its own; `lost` turns a task that panicked or
    /// was cancelled into a page error. Dropping the prefetch aborts the task.
    pub fn detached(
        cursor: String,
        task: tokio::task::JoinHandle<T>,
        lost: fn(tokio::task::JoinError) -> T,
    ) -> Prefetch<'a, T>
    where
        T: Send + 'static,
    {
        let task = AbortOnDrop(task);
        let fetch: BoxFuture<'a, T> = Box::pin(async move {
            let mut task = task;
            (&mut task.0).await.unwrap_or_else(lost)
        });
        Prefetch {
            cursor,
            page: Box::pin(maybe_done(fetch)),
        }
    }

    /// Starts the page after the current one, at `next_cursor`, if there is one.
    pub async fn next<Fut>(
        next_cursor: Option<&str>,
        fetch: impl FnOnce(String) -> Fut,
    ) -> Option<Prefetch<'a, T>>
    where
        Fut: Future<Output = T> + Send + 'a,
    {
        let cursor = next_cursor?.to_string();
        let page = fetch(cursor.clone());
        Some(Prefetch::start(cursor, page).await)
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

    #[tokio::test]
    async fn a_detached_page_runs_on_its_own_and_is_aborted_when_dropped() {
        let lost = |_: tokio::task::JoinError| -1;
        let task = tokio::spawn(async { 3 });
        let ready = Prefetch::detached("c2".into(), task, lost);
        assert_eq!(ready.take(Some("c2")).await, Some(3));

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _keep = tx; // dropped (closing the channel) when the task ends
            std::future::pending::<i32>().await
        });
        let pending = Prefetch::detached("c2".into(), task, lost);
        assert_eq!(
            pending.take(Some("c3")).await,
            None,
            "another cursor: dropped"
        );
        assert!(rx.await.is_err(), "the task was aborted");

        let task = tokio::spawn(async { panic!("spoke host bug") });
        let failed = Prefetch::detached("c2".into(), task, lost);
        assert_eq!(failed.take(Some("c2")).await, Some(-1));
    }

    #[tokio::test]
    async fn page_at_uses_the_prefetch_only_for_its_cursor() {
        let mut ahead = Prefetch::next(Some("c2"), |c| async move { format!("ahead {c}") }).await;
        let page = Prefetch::page_at(&mut ahead, Some("c2"), || async { "now".to_string() }).await;
        assert_eq!(page, "ahead c2");
        assert!(ahead.is_none());
        let mut ahead = Prefetch::next(Some("c2"), |c| async move { format!("ahead {c}") }).await;
        let page = Prefetch::page_at(&mut ahead, Some("c3"), || async { "now".to_string() }).await;
        assert_eq!(page, "now");
        let none = Prefetch::next(None, |c| async move { c }).await;
        assert!(none.is_none());
    }
}
