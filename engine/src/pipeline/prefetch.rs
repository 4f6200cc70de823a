//! Asking for the next page while the current one is written. A paged subflow knows the next
//! cursor as soon as a page arrives; [`Prefetch`] starts that page's spoke call (polled once,
//! so the spoke runs up to its HTTP request and the request is on the wire), then the caller
//! writes the current page (synchronous store work), then awaits the prefetched page. The
//! vendor serves the next page while sam stores this one. Nothing of the prefetched page is
//! written before the current page commits, so checkpoints and resume are unchanged; a run
//! that stops or fails drops the prefetch (at most one call spent for nothing).

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
