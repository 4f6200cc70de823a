//! Borrowed views of stored rows, for the scans that look at a few fields of every row (the
//! console's and the API's subscription lists, their totals, one user's seats, a profile's
//! counts). A [`SubscriptionRow`] reads a subscription's fields in place from the page redb
//! hands out (strings borrowed, the granting groups counted, nothing allocated) and decodes
//! the whole [`Subscription`] only for a row that is kept; an [`ActivityBrief`] does the same
//! for an activity record. Each brief mirrors its record's postcard layout field for field and
//! refuses trailing bytes, so a layout change that forgets it fails its tests instead of
//! misreading rows.

use serde::Deserialize;
use serde::de::{SeqAccess, Visitor};

use super::{DecodeError, decode};
use crate::model::{
    AccountType, ActivityKind, ActivityState, EpochSeconds, Subscription, UserActivityRecord,
};

/// How many strings a list holds, read without keeping them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted(pub usize);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = Counted;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counted, A::Error> {
                let mut n = 0;
                while seq.next_element::<&'de str>()?.is_some() {
                    n += 1;
                }
                Ok(Counted(n))
            }
        }
        deserializer.deserialize_seq(Count)
    }
}

/// A subscription's fields, borrowed from its stored bytes (the layout of [`Subscription`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscriptionBrief<'a> {
    /// The profile.
    pub profile: &'a str,
    /// The vendor's user id.
    pub external_user_id: &'a str,
    /// The subscription identifier.
    pub identifier: &'a str,
    /// The software model, when recognized.
    #[serde(borrow)]
    pub model: Option<&'a str>,
    /// Display name.
    #[serde(borrow)]
    pub display_name: Option<&'a str>,
    /// E-mail.
    #[serde(borrow)]
    pub email: Option<&'a str>,
    /// Kind of account.
    pub account_type: AccountType,
    /// How many groups grant the seat.
    pub granted_by: Counted,
    /// When the vendor granted it.
    pub granted_at: Option<EpochSeconds>,
    /// Whether the vendor still reports it.
    pub active: bool,
    /// When the engine first saw it.
    pub first_seen_at: EpochSeconds,
    /// When a complete download stopped seeing it.
    pub ended_at: Option<EpochSeconds>,
}

/// A stored subscription read in place: its brief, and its bytes for the whole record.
#[derive(Debug, Clone)]
pub struct SubscriptionRow<'a> {
    /// The fields, borrowed.
    pub brief: SubscriptionBrief<'a>,
    key: &'a str,
    bytes: &'a [u8],
}

impl<'a> SubscriptionRow<'a> {
    /// Reads the row stored under `key`.
    pub(super) fn read(key: &'a str, bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            brief: decode("subscriptions", &key, bytes)?,
            key,
            bytes,
        })
    }

    /// The whole subscription (allocates; for the rows a scan keeps).
    pub fn full(&self) -> Result<Subscription, DecodeError> {
        decode("subscriptions", &self.key, self.bytes)
    }
}

/// An activity record's fields, borrowed from its stored bytes (the layout of
/// [`crate::model::UserActivityRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActivityBrief<'a> {
    /// The profile.
    pub profile: &'a str,
    /// The vendor's user id.
    pub external_user_id: &'a str,
    /// The latest activity ever seen.
    pub last_activity: Option<EpochSeconds>,
    /// What it was, in the spoke's words.
    #[serde(borrow)]
    pub source: Option<&'a str>,
    /// What the latest check said.
    pub state: ActivityState,
    /// The kind of evidence.
    pub kind: Option<ActivityKind>,
    /// When a lookup last asked the vendor about this user.
    pub checked_at: Option<EpochSeconds>,
}

impl<'a> ActivityBrief<'a> {
    /// Reads the record stored under `key`.
    pub(super) fn read(key: &'a str, bytes: &'a [u8]) -> Result<Self, DecodeError> {
        decode("activity", &key, bytes)
    }

    /// The whole record (allocates).
    pub fn to_record(&self) -> UserActivityRecord {
        UserActivityRecord {
            profile: self.profile.to_string(),
            external_user_id: self.external_user_id.to_string(),
            last_activity: self.last_activity,
            source: self.source.map(str::to_string),
            state: self.state.clone(),
            kind: self.kind,
            checked_at: self.checked_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 é@._-]{0,12}"
    }

    fn account() -> impl Strategy<Value = AccountType> {
        prop_oneof![
            Just(AccountType::Human),
            Just(AccountType::Guest),
            Just(AccountType::App),
            Just(AccountType::Other),
        ]
    }

    prop_compose! {
        fn subscription()(
            profile in text(), user in text(), identifier in text(),
            model in proptest::option::of(text()), name in proptest::option::of(text()),
            email in proptest::option::of(text()), account_type in account(),
            granted_by in proptest::collection::vec(text(), 0..4),
            granted_at in proptest::option::of(any::<i64>()), active in any::<bool>(),
            first_seen_at in any::<i64>(), ended_at in proptest::option::of(any::<i64>()),
        ) -> Subscription {
            Subscription {
                profile, external_user_id: user, identifier, model, display_name: name, email,
                account_type, granted_by, granted_at, active, first_seen_at, ended_at,
            }
        }
    }

    proptest! {
        /// The brief reads every field of any stored subscription as the whole record has it,
        /// and the row gives the record back.
        #[test]
        fn a_subscription_brief_reads_what_the_record_says(sub in subscription()) {
            let bytes = postcard::to_stdvec(&sub).unwrap();
            let row = SubscriptionRow::read("k", &bytes).unwrap();
            let b = &row.brief;
            prop_assert_eq!(b.profile, sub.profile.as_str());
            prop_assert_eq!(b.external_user_id, sub.external_user_id.as_str());
            prop_assert_eq!(b.identifier, sub.identifier.as_str());
            prop_assert_eq!(b.model, sub.model.as_deref());
            prop_assert_eq!(b.display_name, sub.display_name.as_deref());
            prop_assert_eq!(b.email, sub.email.as_deref());
            prop_assert_eq!(b.account_type, sub.account_type);
            prop_assert_eq!(b.granted_by.0, sub.granted_by.len());
            prop_assert_eq!(b.granted_at, sub.granted_at);
            prop_assert_eq!(b.active, sub.active);
            prop_assert_eq!(b.first_seen_at, sub.first_seen_at);
            prop_assert_eq!(b.ended_at, sub.ended_at);
            prop_assert_eq!(row.full().unwrap(), sub);
        }

        /// Likewise for activity records.
        #[test]
        fn an_activity_brief_reads_what_the_record_says(
            profile in text(), user in text(), last in proptest::option::of(any::<i64>()),
            source in proptest::option::of(text()), seen in any::<bool>(),
            checked_at in proptest::option::of(any::<i64>()),
        ) {
            let record = UserActivityRecord {
                profile, external_user_id: user, last_activity: last, source,
                state: if seen { ActivityState::Seen } else { ActivityState::Unknown("why".into()) },
                kind: last.map(|_| ActivityKind::Other), checked_at,
            };
            let bytes = postcard::to_stdvec(&record).unwrap();
            let b = ActivityBrief::read("k", &bytes).unwrap();
            prop_assert_eq!(b.profile, record.profile.as_str());
            prop_assert_eq!(b.external_user_id, record.external_user_id.as_str());
            prop_assert_eq!(b.last_activity, record.last_activity);
            prop_assert_eq!(b.source, record.source.as_deref());
            prop_assert_eq!(&b.state, &record.state);
            prop_assert_eq!(b.kind, record.kind);
            prop_assert_eq!(b.checked_at, record.checked_at);
            prop_assert_eq!(b.to_record(), record);
        }
    }

    /// Bytes the layout does not account for are refused, not ignored: a field added to the
    /// record but not to its brief fails here.
    #[test]
    fn trailing_bytes_are_refused() {
        let sub = Subscription {
            profile: "p".into(),
            external_user_id: "u".into(),
            identifier: "i".into(),
            model: None,
            display_name: None,
            email: None,
            account_type: AccountType::Human,
            granted_by: vec![],
            granted_at: None,
            active: true,
            first_seen_at: 0,
            ended_at: None,
        };
        let mut bytes = postcard::to_stdvec(&sub).unwrap();
        bytes.push(0);
        assert!(SubscriptionRow::read("k", &bytes).is_err());
    }
}
