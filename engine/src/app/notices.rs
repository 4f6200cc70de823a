//! What the console adds to removal notices: each notice that asks the user gets a signed,
//! expiring, single-use answer link ([`crate::web::links`]) to the console's answer page (when the
//! console's address is known: `console_url`, or the daemon's own address), and, when
//! `[smtp]` is configured, every notice addressed to a user with an e-mail address also goes
//! out as an e-mail over SMTP (lettre). The webhook or log notifier the caller chose still
//! gets every notice, with the link in it.

use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Body, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{Settings, SmtpConfig};
use crate::model::EpochSeconds;
use crate::reclaim::{Notice, NoticeKind, Notifier, NotifyError};
use crate::web::links::{DEFAULT_LIFETIME, LinkKey, answer_url};

/// `inner` with the console's links and e-mail copies, as `settings` configure them.
pub fn wrap(settings: &Settings, now: EpochSeconds, inner: Box<dyn Notifier>) -> Box<dyn Notifier> {
    let links = settings.console.url.as_ref().and_then(|base| {
        LinkKey::from_settings(settings)
            .ok()
            .map(|key| (key, base.clone()))
    });
    let mail = settings.console.smtp.clone();
    if links.is_none() && mail.is_none() {
        return inner;
    }
    Box::new(ConsoleNotifier {
        inner,
        links,
        mail,
        now,
    })
}

/// A notifier with answer links and e-mail.
pub struct ConsoleNotifier {
    inner: Box<dyn Notifier>,
    links: Option<(LinkKey, String)>,
    mail: Option<SmtpConfig>,
    now: EpochSeconds,
}

impl ConsoleNotifier {
    /// The notice as sent: with its answer link when it asks the user.
    pub fn with_link(&self, notice: &Notice) -> Notice {
        let mut notice = notice.clone();
        if notice.kind == NoticeKind::AskUser
            && let Some((key, base)) = &self.links
        {
            let expires = notice
                .auto_reclaim_at
                .filter(|at| *at > self.now)
                .unwrap_or(self.now + DEFAULT_LIFETIME);
            let url = answer_url(base, &key.sign(notice.candidate, expires));
            notice
                .message
                .push_str(&format!("\nAnswer here (no sign-in needed): {url}"));
            notice.answer_url = Some(url);
        }
        notice
    }
}

impl Notifier for ConsoleNotifier {
    fn notify<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let notice = self.with_link(notice);
            self.inner.notify(&notice).await?;
            if let Some(smtp) = &self.mail
                && notice.kind != NoticeKind::AskManager
                && let Some(to) = notice.email.as_deref()
            {
                send_mail(smtp, to, &notice).await?;
            }
            Ok(())
        })
    }
}

fn subject(notice: &Notice) -> String {
    match notice.kind {
        NoticeKind::AskUser => format!("Do you still need your {} seat?", notice.model),
        NoticeKind::AskManager => format!("Approve reclaiming a {} seat?", notice.model),
        NoticeKind::Reclaimed => format!("Your {} seat was reclaimed", notice.model),
        NoticeKind::Restored => format!("Your {} seat is back", notice.model),
    }
}

/// The text of a notice's e-mail.
pub fn mail_body(notice: &Notice) -> String {
    let mut body = format!(
        "Hello {},\n\n{}\n",
        notice
            .display_name
            .as_deref()
            .unwrap_or(&notice.external_user_id),
        notice.message
    );
    if notice.answer_url.is_none() && !notice.answer_with.is_empty() {
        body.push_str("\nAn admin can record your answer with:\n");
        for line in &notice.answer_with {
            body.push_str(&format!("  {line}\n"));
        }
    }
    body.push_str("\n-- sam, software asset management\n");
    body
}

async fn send_mail(smtp: &SmtpConfig, to: &str, notice: &Notice) -> Result<(), NotifyError> {
    let failed = |message: String| NotifyError::Request {
        url: format!("smtp://{}", smtp.host),
        message,
    };
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| NotifyError::Invalid(format!("[smtp] from {:?}: {e}", smtp.from)))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| failed(format!("recipient {to:?}: {e}")))?;
    // lettre picks the transfer encoding (quoted-printable for long lines: mail clients
    // decode it, and the link stays whole).
    let body = Body::new(mail_body(notice));
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject(notice))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| failed(e.to_string()))?;
    let builder = match smtp.tls.as_str() {
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port.unwrap_or(25)),
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| failed(e.to_string()))?
            .port(smtp.port.unwrap_or(465)),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| failed(e.to_string()))?
            .port(smtp.port.unwrap_or(587)),
        other => {
            return Err(NotifyError::Invalid(format!(
                "[smtp] tls = {other:?}: use starttls, tls or none"
            )));
        }
    };
    let builder = match (&smtp.username, &smtp.password_env) {
        (Some(user), Some(var)) => {
            let password = std::env::var(var).map_err(|_| {
                NotifyError::Invalid(format!("[smtp] password_env: ${var} is not set"))
            })?;
            builder.credentials(Credentials::new(user.clone(), password))
        }
        _ => builder,
    };
    let transport = builder
        .timeout(Some(std::time::Duration::from_secs(20)))
        .build();
    transport
        .send(message)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}
