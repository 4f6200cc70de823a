//! Notifications of the notify-and-approve flow: the [`Notifier`] trait (pluggable), the
//! [`Notice`] it delivers (ask the user, ask the manager, tell the user the seat was taken
//! back or given back) and two notifiers: [`WebhookNotifier`] POSTs the notice as JSON to a
//! URL (a chat bot, a mail relay, a ticketing hook), [`LogNotifier`] writes it to the logs.
//! The answers come back through the CLI (`sam candidates answer|approve|reject`).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::model::{EpochSeconds, RemovalCandidate};

/// Why a notice is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeKind {
    /// Ask the user whether they still need the seat.
    AskUser,
    /// The user wants to keep it: ask the manager to approve or reject the reclaim.
    AskManager,
    /// The seat was reclaimed.
    Reclaimed,
    /// A reclaim was undone: the seat is back.
    Restored,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Why.
    pub kind: NoticeKind,
    /// The candidate.
    pub candidate: u64,
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The user's name, where known.
    pub display_name: Option<String>,
    /// The user's principal name (email), where known.
    pub email: Option<String>,
    /// The subscription identifier.
    pub identifier: String,
    /// The software model.
    pub model: String,
    /// The user's last activity, where known.
    pub last_activity: Option<EpochSeconds>,
    /// When the seat is reclaimed without an answer, where that applies.
    pub auto_reclaim_at: Option<EpochSeconds>,
    /// What to tell people.
    pub message: String,
    /// How to answer (the CLI commands), where an answer is expected.
    pub answer_with: Vec<String>,
    /// The web console's signed, expiring, single-use page where the user answers (no
    /// sign-in), when the daemon serves a console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_url: Option<String>,
}

impl Notice {
    /// A notice about `candidate`.
    pub fn about(kind: NoticeKind, candidate: &RemovalCandidate, message: String) -> Self {
        let id = candidate.id;
        let answer_with = match kind {
            NoticeKind::AskUser => vec![
                format!("sam candidates answer {id} keep"),
                format!("sam candidates answer {id} release"),
            ],
            NoticeKind::AskManager => vec![
                format!("sam candidates approve {id}"),
                format!("sam candidates reject {id}"),
            ],
            NoticeKind::Reclaimed | NoticeKind::Restored => Vec::new(),
        };
        Self {
            kind,
            candidate: id,
            profile: candidate.profile.clone(),
            external_user_id: candidate.external_user_id.clone(),
            display_name: candidate.display_name.clone(),
            email: candidate.email.clone(),
            identifier: candidate.identifier.clone(),
            model: candidate.model.clone(),
            last_activity: candidate.last_activity,
            auto_reclaim_at: candidate.auto_reclaim_at,
            message,
            answer_with,
            answer_url: None,
        }
    }
}

/// A notice could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The request failed (connection, timeout ...).
    #[error("webhook {url}: {message}")]
    Request {
        /// The webhook.
        url: String,
        /// What failed.
        message: String,
    },
    /// The receiver refused the notice.
    #[error("webhook {url} answered HTTP {status}")]
    Status {
        /// The webhook.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The notifier cannot be built.
    #[error("invalid notifier: {0}")]
    Invalid(String),
}

/// Delivers notices.
pub trait Notifier: Send + Sync {
    /// Delivers one notice.
    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Writes notices to the logs (target `sam::notify`, level info).
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            tracing::info!(
                target: "sam::notify",
                kind = ?notice.kind,
                candidate = notice.candidate,
                profile = %notice.profile,
                user = %notice.external_user_id,
                email = notice.email.as_deref().unwrap_or(""),
                "{}",
                notice.message
            );
            Ok(())
        })
    }
}

/// POSTs each notice as JSON to a URL; any 2xx answer is a delivery.
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: url::Url,
}

impl WebhookNotifier {
    /// A notifier posting to `url` (http or https), with a 10 s timeout.
    pub fn new(url: &str) -> Result<Self, NotifyError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| NotifyError::Invalid(format!("webhook URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(NotifyError::Invalid(format!(
                "webhook URL {url:?} is not http or https"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Invalid(e.to_string()))?;
        Ok(Self {
            client,
            url: parsed,
        })
    }
}

impl Notifier for WebhookNotifier {
    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let response = self
                .client
                .post(self.url.clone())
                .json(notice)
                .send()
                .await
                .map_err(|e| NotifyError::Request {
                    url: self.url.to_string(),
                    message: e.to_string(),
                })?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(NotifyError::Status {
                    url: self.url.to_string(),
                    status: status.as_u16(),
                })
            }
        })
    }
}
