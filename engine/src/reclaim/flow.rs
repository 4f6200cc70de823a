//! The people in the loop: the user's answer to a notification (keep: the manager decides;
//! release: the next run reclaims) and the manager's or admin's decision (approve: the next
//! run reclaims; reject: Closed Skipped). Each is one transaction that records the
//! transition with its actor and reason and writes an audit entry.

use super::ReclaimError;
use super::notify::{Notice, NoticeKind, Notifier};
use super::state;
use crate::model::{AuditAction, CandidateState, EpochSeconds, RemovalCandidate, UserAnswer};
use crate::store::Store;

fn load(store: &Store, id: u64) -> Result<RemovalCandidate, ReclaimError> {
    store
        .read()?
        .candidate(id)?
        .ok_or(ReclaimError::UnknownCandidate(id))
}

fn save(
    store: &Store,
    c: &RemovalCandidate,
    now: EpochSeconds,
    detail: String,
) -> Result<(), ReclaimError> {
    store.write(|tx| {
        tx.put_candidate(c)?;
        tx.audit(
            now,
            Some(&c.profile),
            AuditAction::CandidateChanged { candidate: c.id },
            detail,
            None,
        )?;
        Ok::<_, ReclaimError>(())
    })
}

/// Records the user's answer to a notification. `Keep` moves the candidate to Awaiting
/// Approval and asks the manager (through `notifier`); `Release` to Awaiting Revocation.
pub async fn answer(
    store: &Store,
    notifier: &dyn Notifier,
    id: u64,
    answer: UserAnswer,
    actor: &str,
    now: EpochSeconds,
) -> Result<RemovalCandidate, ReclaimError> {
    let mut c = load(store, id)?;
    if c.state != CandidateState::AwaitingUser {
        return Err(ReclaimError::NotAwaiting {
            candidate: id,
            state: c.state.to_string(),
            expected: CandidateState::AwaitingUser.label(),
        });
    }
    c.answer = Some(answer);
    match answer {
        UserAnswer::Keep => {
            state::transition(
                &mut c,
                CandidateState::AwaitingApproval,
                now,
                actor,
                "the user wants to keep the seat",
            )?;
            let notice = Notice::about(
                NoticeKind::AskManager,
                &c,
                format!(
                    "{} wants to keep their unused {} seat ({}). Approve the reclaim or reject it.",
                    c.display_name.as_deref().unwrap_or(&c.external_user_id),
                    c.model,
                    c.identifier
                ),
            );
            notifier.notify(&notice).await?;
        }
        UserAnswer::Release => {
            state::transition(
                &mut c,
                CandidateState::AwaitingRevocation,
                now,
                actor,
                "the user released the seat",
            )?;
        }
    }
    save(
        store,
        &c,
        now,
        format!("candidate {id}: user answered {answer:?}"),
    )?;
    Ok(c)
}

/// The manager's (or an admin's) decision. Approve: an Awaiting Approval candidate goes to
/// Awaiting Revocation, one needing attention back to Ready. Reject: any open candidate is
/// closed as skipped.
pub fn decide(
    store: &Store,
    id: u64,
    approve: bool,
    actor: &str,
    reason: Option<&str>,
    now: EpochSeconds,
) -> Result<RemovalCandidate, ReclaimError> {
    let mut c = load(store, id)?;
    if approve {
        let (to, why) = match &c.state {
            CandidateState::AwaitingApproval => (
                CandidateState::AwaitingRevocation,
                "the manager approved the reclaim",
            ),
            CandidateState::AttentionRequired(_) => {
                (CandidateState::Ready, "an admin resolved the problem")
            }
            other => {
                return Err(ReclaimError::NotAwaiting {
                    candidate: id,
                    state: other.to_string(),
                    expected: CandidateState::AwaitingApproval.label(),
                });
            }
        };
        let why = reason.map_or(why.to_string(), |r| format!("{why}: {r}"));
        state::transition(&mut c, to, now, actor, why)?;
    } else {
        let why = match (&c.state, reason) {
            (CandidateState::AwaitingApproval, None) => {
                "the manager declined the reclaim".to_string()
            }
            (CandidateState::AwaitingApproval, Some(r)) => {
                format!("the manager declined the reclaim: {r}")
            }
            (_, None) => "skipped by an admin".to_string(),
            (_, Some(r)) => format!("skipped by an admin: {r}"),
        };
        state::transition(&mut c, CandidateState::ClosedSkipped, now, actor, why)?;
    }
    let verb = if approve { "approved" } else { "rejected" };
    save(store, &c, now, format!("candidate {id} {verb} by {actor}"))?;
    Ok(c)
}
