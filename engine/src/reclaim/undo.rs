//! Undo: gives a reclaimed seat back through the spoke's `restore`, re-applying exactly the
//! changes the reclaim recorded. The candidate is found by its id or by the audit entry of
//! its reclaim; the restore is audited before and after; the seat is active again and the
//! candidate is closed as canceled. A seat given back is not proposed again before the
//! rule's threshold has passed since. A reclaim that was interrupted (Reclaiming) or whose
//! apply failed (Attention Required with its plan kept) is undone from its stored plan: the
//! spoke's `restore` is idempotent, so restoring the whole plan gives back exactly what the
//! vendor had taken, whichever moment the interruption came.

use serde::Serialize;

use super::ReclaimError;
use super::notify::{Notice, NoticeKind, Notifier};
use super::seats::{SeatActions, SeatRef};
use super::state;
use crate::model::{
    AuditAction, CandidateState, EpochSeconds, ReclaimRecord, RemovalCandidate, SeatChange,
};
use crate::store::{ReadTx, Store};

/// What to undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoTarget {
    /// A candidate, by id.
    Candidate(u64),
    /// The audit entry of a reclaim (before or after).
    Audit(u64),
}

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UndoReport {
    /// The candidate.
    pub candidate: u64,
    /// The profile.
    pub profile: String,
    /// The vendor's user id.
    pub external_user_id: String,
    /// The changes re-applied.
    pub changes: Vec<SeatChange>,
    /// The audit entries before and after.
    pub audit: Vec<u64>,
}

/// The candidate an undo target names, checked to be undoable.
pub fn resolve(read: &ReadTx, target: UndoTarget) -> Result<RemovalCandidate, ReclaimError> {
    let id = match target {
        UndoTarget::Candidate(id) => id,
        UndoTarget::Audit(seq) => {
            let entry = read
                .audit_entry(seq)?
                .ok_or(ReclaimError::UnknownAuditEntry(seq))?;
            match entry.action {
                AuditAction::Reclaimed { candidate, .. }
                | AuditAction::ReclaimStarted { candidate } => candidate,
                _ => return Err(ReclaimError::NotAReclaim(seq)),
            }
        }
    };
    let c = read
        .candidate(id)?
        .ok_or(ReclaimError::UnknownCandidate(id))?;
    if let Some(intent) = read.reclaim_intent(&c.profile, id)? {
        return match intent.planned {
            Some(_) => Ok(c),
            None => Err(ReclaimError::NotUndoable {
                candidate: id,
                reason: "its reclaim went through a sam:spoke@0.1.0 spoke, which cannot say \
                         what it changed before it was interrupted; check the user's access at \
                         the vendor"
                    .into(),
            }),
        };
    }
    match (&c.state, &c.reclaim) {
        (CandidateState::ClosedComplete, Some(r)) if r.restored_at.is_none() => Ok(c),
        (_, Some(r)) if r.restored_at.is_some() => Err(ReclaimError::NotUndoable {
            candidate: id,
            reason: "its reclaim was already undone".into(),
        }),
        (state, _) => Err(ReclaimError::NotUndoable {
            candidate: id,
            reason: format!("it was not reclaimed (it is {state})"),
        }),
    }
}

/// Undoes a reclaim through `seats` (see the module doc).
pub async fn undo<S: SeatActions>(
    store: &Store,
    seats: &S,
    notifier: &dyn Notifier,
    target: UndoTarget,
    actor: &str,
    now: EpochSeconds,
) -> Result<UndoReport, ReclaimError> {
    let (mut c, spoke_id, intent) = {
        let read = store.read()?;
        let c = resolve(&read, target)?;
        let profile = read
            .profile(&c.profile)?
            .ok_or_else(|| ReclaimError::UnknownProfile(c.profile.clone()))?;
        let intent = read.reclaim_intent(&c.profile, c.id)?;
        (c, profile.spoke_id, intent)
    };
    if seats.spoke_id() != spoke_id {
        return Err(ReclaimError::WrongSpoke {
            profile: c.profile.clone(),
            expected: spoke_id,
            found: seats.spoke_id().to_string(),
        });
    }
    // An interrupted or failed reclaim is undone from its stored plan.
    let from_plan = intent.is_some();
    let record = match (&intent, c.reclaim.clone()) {
        (Some(i), _) => ReclaimRecord {
            at: i.planned_at,
            granted_by: i.granted_by.clone(),
            changes: i.planned.clone().unwrap_or_default(),
            audit_before: i.audit_before,
            audit_after: i.audit_before,
            restored_at: None,
            restore_audit: None,
        },
        (None, Some(r)) => r,
        (None, None) => {
            return Err(ReclaimError::NotUndoable {
                candidate: c.id,
                reason: "it has no reclaim record".into(),
            });
        }
    };
    let id = c.id;
    let before = store.write(|tx| {
        tx.audit(
            now,
            Some(&c.profile),
            AuditAction::RestoreStarted { candidate: id },
            format!(
                "restoring the {} seat of {} (candidate {id}) by {actor}",
                c.identifier, c.external_user_id
            ),
            None,
        )
    })?;
    let seat = SeatRef {
        external_user_id: c.external_user_id.clone(),
        identifier: c.identifier.clone(),
        granted_by: record.granted_by.clone(),
    };
    if let Err(e) = seats.restore(&seat, &record.changes).await {
        store.write(|tx| {
            tx.audit(
                now,
                Some(&c.profile),
                AuditAction::RestoreFailed { candidate: id },
                format!("restore of candidate {id} failed: {e}"),
                None,
            )
        })?;
        return Err(ReclaimError::Spoke {
            call: e.call,
            message: e.message,
        });
    }
    let after = store.write(|tx| {
        let after = tx.audit(
            now,
            Some(&c.profile),
            AuditAction::Restored {
                candidate: id,
                changes: record.changes.clone(),
            },
            format!(
                "restored the {} seat of {} (candidate {id}): {}",
                c.identifier,
                c.external_user_id,
                super::run::describe_changes(&record.changes)
            ),
            None,
        )?;
        if from_plan {
            c.reclaim = Some(record.clone());
            tx.delete_reclaim_intent(&c.profile, id)?;
        }
        if let Some(r) = c.reclaim.as_mut() {
            r.restored_at = Some(now);
            r.restore_audit = Some(after);
        }
        state::transition(
            &mut c,
            CandidateState::ClosedCanceled,
            now,
            actor,
            "reclaim undone: the seat was restored",
        )?;
        tx.put_candidate(&c)?;
        if let Some(mut sub) = tx.subscription(&c.profile, &c.external_user_id, &c.identifier)?
            && !sub.active
        {
            sub.active = true;
            sub.ended_at = None;
            sub.granted_by = record.granted_by.clone();
            tx.put_subscription(&sub)?;
            tx.adjust_identifier_count(&spoke_id, &c.identifier, 1)?;
        }
        Ok::<_, ReclaimError>(after)
    })?;
    let notice = Notice::about(
        NoticeKind::Restored,
        &c,
        format!("Your {} seat ({}) was given back.", c.model, c.identifier),
    );
    if let Err(e) = notifier.notify(&notice).await {
        tracing::warn!(candidate = id, error = %e, "restore notice not delivered");
    }
    Ok(UndoReport {
        candidate: id,
        profile: c.profile.clone(),
        external_user_id: c.external_user_id.clone(),
        changes: record.changes,
        audit: vec![before, after],
    })
}
