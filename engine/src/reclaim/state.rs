//! The removal-candidate state machine: which state may follow which, and the one function
//! that changes a candidate's state and appends the transition (time, actor, reason) to its
//! history. Creation is the first transition (from no state).

use crate::model::{CandidateState, EpochSeconds, RemovalCandidate, Subscription, Transition};

/// The engine's own name as an actor.
pub const ENGINE_ACTOR: &str = "sam";

/// A state change the machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("candidate {candidate} is {from}; it cannot become {to}")]
pub struct TransitionError {
    /// The candidate.
    pub candidate: u64,
    /// Its state.
    pub from: String,
    /// The state asked for.
    pub to: String,
}

/// Whether `to` may follow `from`.
pub fn allowed(from: &CandidateState, to: &CandidateState) -> bool {
    use CandidateState::*;
    match from {
        AttentionRequired(_) => !matches!(to, AwaitingUser | AwaitingApproval),
        Ready => !matches!(to, Ready | AwaitingApproval),
        AwaitingUser => matches!(
            to,
            AwaitingApproval
                | AwaitingRevocation
                | AttentionRequired(_)
                | ClosedCanceled
                | ClosedSkipped
        ),
        AwaitingApproval => matches!(
            to,
            AwaitingRevocation | AttentionRequired(_) | ClosedCanceled | ClosedSkipped
        ),
        AwaitingRevocation => matches!(
            to,
            Reclaiming | ClosedComplete | AttentionRequired(_) | ClosedCanceled | ClosedSkipped
        ),
        // A stored plan is finished (complete), fails (attention), or is restored (canceled).
        Reclaiming => matches!(to, ClosedComplete | AttentionRequired(_) | ClosedCanceled),
        // Only an undo reopens a completed reclaim, as canceled.
        ClosedComplete => matches!(to, ClosedCanceled),
        ClosedSkipped | ClosedCanceled => false,
    }
}

/// Moves `candidate` to `to`, recording the transition; refuses what [`allowed`] refuses.
pub fn transition(
    candidate: &mut RemovalCandidate,
    to: CandidateState,
    at: EpochSeconds,
    actor: &str,
    reason: impl Into<String>,
) -> Result<(), TransitionError> {
    if !allowed(&candidate.state, &to) {
        return Err(TransitionError {
            candidate: candidate.id,
            from: candidate.state.to_string(),
            to: to.to_string(),
        });
    }
    candidate.history.push(Transition {
        at,
        from: Some(candidate.state.clone()),
        to: to.clone(),
        actor: actor.to_string(),
        reason: reason.into(),
    });
    candidate.state = to;
    Ok(())
}

/// What a new candidate is built from.
pub struct NewCandidate<'a> {
    /// Its id.
    pub id: u64,
    /// The seat.
    pub subscription: &'a Subscription,
    /// The model.
    pub model: &'a str,
    /// The rule that proposes it.
    pub rule: &'a str,
    /// Why, in a word ("Low Usage").
    pub justification: &'a str,
    /// The holder's last activity, where known.
    pub last_activity: Option<EpochSeconds>,
    /// The first state (Ready or Attention Required).
    pub state: CandidateState,
    /// When.
    pub at: EpochSeconds,
    /// Why, in words.
    pub reason: String,
}

/// A new candidate, its creation recorded as the first transition.
pub fn create(new: NewCandidate<'_>) -> RemovalCandidate {
    let s = new.subscription;
    RemovalCandidate {
        id: new.id,
        profile: s.profile.clone(),
        external_user_id: s.external_user_id.clone(),
        identifier: s.identifier.clone(),
        model: new.model.to_string(),
        display_name: s.display_name.clone(),
        email: s.email.clone(),
        rule: new.rule.to_string(),
        justification: new.justification.to_string(),
        last_activity: new.last_activity,
        state: new.state.clone(),
        created_at: new.at,
        notified_at: None,
        auto_reclaim_at: None,
        answer: None,
        reclaim: None,
        history: vec![Transition {
            at: new.at,
            from: None,
            to: new.state,
            actor: ENGINE_ACTOR.to_string(),
            reason: new.reason,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CandidateState::*;

    fn all() -> Vec<CandidateState> {
        vec![
            AttentionRequired("x".into()),
            Ready,
            AwaitingUser,
            AwaitingApproval,
            AwaitingRevocation,
            ClosedComplete,
            ClosedSkipped,
            ClosedCanceled,
        ]
    }

    #[test]
    fn closed_states_are_final_except_that_an_undo_cancels_a_complete_one() {
        for to in all() {
            assert!(!allowed(&ClosedSkipped, &to));
            assert!(!allowed(&ClosedCanceled, &to));
            assert_eq!(allowed(&ClosedComplete, &to), to == ClosedCanceled);
        }
    }

    #[test]
    fn the_notify_flow_is_ordered() {
        assert!(allowed(&Ready, &AwaitingUser));
        assert!(allowed(&AwaitingUser, &AwaitingApproval));
        assert!(allowed(&AwaitingApproval, &AwaitingRevocation));
        assert!(allowed(&AwaitingRevocation, &ClosedComplete));
        assert!(!allowed(&Ready, &AwaitingApproval));
        assert!(!allowed(&AwaitingUser, &ClosedComplete));
        assert!(!allowed(&AwaitingApproval, &ClosedComplete));
        assert!(!allowed(&AttentionRequired("e".into()), &AwaitingUser));
    }
}
