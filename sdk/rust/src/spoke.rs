//! The [`Spoke`] trait a spoke implements, with defaults for the optional exports, and the
//! [`export!`](crate::export) macro that wires an implementation to the generated `Guest`
//! export of the `connector` interface (converting [`SpokeError`] to the contract's).
//!
//! The defaults say "this spoke does not do that", the way the WIT reads an absent
//! capability: no groups to select (an empty page), no activity scan (an empty page; the
//! engine then asks `lookup-activity`), activity unknown for every user looked up, nothing
//! to reclaim (an empty plan; applying or restoring a change it never plans is
//! `invalid-config`), and no vendor seat counts (an empty list).

use crate::error::SpokeError;
use crate::wit;

/// A spoke: the `connector` exports of `sam:spoke@0.2.0`. Register an implementation with
/// `sam_spoke::export!(MySpoke);`.
pub trait Spoke {
    /// Describes the spoke; makes no requests.
    fn manifest() -> wit::Manifest;

    /// Proves, with the granted credential, that the APIs of the given processes answer
    /// (never writing). A failed check goes into its `outcome` (see [`validation_check`]);
    /// the call fails only when nothing could be checked.
    fn validate(
        config: wit::Config,
        processes: Vec<wit::Process>,
    ) -> Result<Vec<wit::ValidationCheck>, SpokeError>;

    /// One page of the groups an admin can choose to scope a profile. Default: none (for a
    /// manifest without `scope`, where the engine does not call it).
    fn list_groups(
        _config: wit::Config,
        _cursor: Option<String>,
    ) -> Result<wit::GroupPage, SpokeError> {
        Ok(wit::GroupPage {
            groups: Vec::new(),
            next_cursor: None,
        })
    }

    /// One page of seats.
    fn download_subscriptions(
        config: wit::Config,
        cursor: Option<String>,
    ) -> Result<wit::SubscriptionPage, SpokeError>;

    /// One page of users' last activity since `since`. Default: an empty last page (no scan;
    /// for example a spoke whose download carries the activity).
    fn download_activity(
        _config: wit::Config,
        _since: wit::EpochSeconds,
        _cursor: Option<String>,
    ) -> Result<wit::ActivityPage, SpokeError> {
        Ok(wit::ActivityPage {
            activities: Vec::new(),
            next_cursor: None,
            slices: Vec::new(),
        })
    }

    /// The last activity of each given user since `since`, one entry per user. Default:
    /// `unknown` for each.
    fn lookup_activity(
        _config: wit::Config,
        _since: wit::EpochSeconds,
        external_user_ids: Vec<String>,
    ) -> Result<Vec<wit::UserActivity>, SpokeError> {
        Ok(external_user_ids
            .into_iter()
            .map(|external_user_id| wit::UserActivity {
                external_user_id,
                status: wit::ActivityStatus::Unknown(
                    "this spoke cannot look up a user's activity".into(),
                ),
            })
            .collect())
    }

    /// What taking the seat back would change, read-only. Default: nothing.
    fn plan_reclaim(
        _config: wit::Config,
        _subscription: wit::SubscriptionRef,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        Ok(Vec::new())
    }

    /// Performs exactly the planned changes, idempotently. Default: only the empty plan.
    fn apply_reclaim(
        _config: wit::Config,
        _subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<Vec<wit::SeatChange>, SpokeError> {
        match changes.first() {
            None => Ok(changes),
            Some(c) => Err(unplanned(c)),
        }
    }

    /// Reverts exactly the planned changes, idempotently. Default: only the empty plan.
    fn restore(
        _config: wit::Config,
        _subscription: wit::SubscriptionRef,
        changes: Vec<wit::SeatChange>,
    ) -> Result<(), SpokeError> {
        match changes.first() {
            None => Ok(()),
            Some(c) => Err(unplanned(c)),
        }
    }

    /// The vendor's own seat counts. Default: none reported.
    fn vendor_seat_counts(_config: wit::Config) -> Result<Vec<wit::VendorSeatCount>, SpokeError> {
        Ok(Vec::new())
    }
}

fn unplanned(change: &wit::SeatChange) -> SpokeError {
    SpokeError::InvalidConfig(format!(
        "`{}` is not a change this spoke plans",
        change.kind
    ))
}

/// One `validate` check of `process`: `description` says what was called, `outcome` how the
/// vendor answered.
pub fn validation_check(
    process: wit::Process,
    description: impl Into<String>,
    outcome: Result<(), SpokeError>,
) -> wit::ValidationCheck {
    wit::ValidationCheck {
        process,
        description: description.into(),
        outcome: outcome.map_err(Into::into),
    }
}

/// Registers a [`Spoke`] implementation as the component's `connector` export:
/// `sam_spoke::export!(MySpoke);` once, at the crate's top level. The export exists on
/// wasm32 only (a host build, for unit tests, only checks that the type is a `Spoke`: the
/// contract's symbol names are not valid host linker symbols).
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            fn __sam_spoke_is_a_spoke<T: $crate::Spoke>() {}
            let _ = __sam_spoke_is_a_spoke::<$ty>;
        };

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        struct __SamSpokeExport;

        #[cfg(target_arch = "wasm32")]
        impl $crate::bindings::exports::sam::spoke::connector::Guest for __SamSpokeExport {
            fn manifest() -> $crate::wit::Manifest {
                <$ty as $crate::Spoke>::manifest()
            }
            fn validate(
                config: $crate::wit::Config,
                processes: ::std::vec::Vec<$crate::wit::Process>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::wit::ValidationCheck>,
                $crate::wit::SpokeError,
            > {
                <$ty as $crate::Spoke>::validate(config, processes).map_err(::std::convert::Into::into)
            }
            fn list_groups(
                config: $crate::wit::Config,
                cursor: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<$crate::wit::GroupPage, $crate::wit::SpokeError> {
                <$ty as $crate::Spoke>::list_groups(config, cursor).map_err(::std::convert::Into::into)
            }
            fn download_subscriptions(
                config: $crate::wit::Config,
                cursor: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<$crate::wit::SubscriptionPage, $crate::wit::SpokeError> {
                <$ty as $crate::Spoke>::download_subscriptions(config, cursor)
                    .map_err(::std::convert::Into::into)
            }
            fn download_activity(
                config: $crate::wit::Config,
                since: $crate::wit::EpochSeconds,
                cursor: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<$crate::wit::ActivityPage, $crate::wit::SpokeError> {
                <$ty as $crate::Spoke>::download_activity(config, since, cursor)
                    .map_err(::std::convert::Into::into)
            }
            fn lookup_activity(
                config: $crate::wit::Config,
                since: $crate::wit::EpochSeconds,
                external_user_ids: ::std::vec::Vec<::std::string::String>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::wit::UserActivity>,
                $crate::wit::SpokeError,
            > {
                <$ty as $crate::Spoke>::lookup_activity(config, since, external_user_ids)
                    .map_err(::std::convert::Into::into)
            }
            fn plan_reclaim(
                config: $crate::wit::Config,
                subscription: $crate::wit::SubscriptionRef,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::wit::SeatChange>,
                $crate::wit::SpokeError,
            > {
                <$ty as $crate::Spoke>::plan_reclaim(config, subscription)
                    .map_err(::std::convert::Into::into)
            }
            fn apply_reclaim(
                config: $crate::wit::Config,
                subscription: $crate::wit::SubscriptionRef,
                changes: ::std::vec::Vec<$crate::wit::SeatChange>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::wit::SeatChange>,
                $crate::wit::SpokeError,
            > {
                <$ty as $crate::Spoke>::apply_reclaim(config, subscription, changes)
                    .map_err(::std::convert::Into::into)
            }
            fn restore(
                config: $crate::wit::Config,
                subscription: $crate::wit::SubscriptionRef,
                changes: ::std::vec::Vec<$crate::wit::SeatChange>,
            ) -> ::std::result::Result<(), $crate::wit::SpokeError> {
                <$ty as $crate::Spoke>::restore(config, subscription, changes)
                    .map_err(::std::convert::Into::into)
            }
            fn vendor_seat_counts(
                config: $crate::wit::Config,
            ) -> ::std::result::Result<
                ::std::vec::Vec<$crate::wit::VendorSeatCount>,
                $crate::wit::SpokeError,
            > {
                <$ty as $crate::Spoke>::vendor_seat_counts(config).map_err(::std::convert::Into::into)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_spoke_world!(__SamSpokeExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spoke that implements only what is required.
    struct Minimal;

    impl Spoke for Minimal {
        fn manifest() -> wit::Manifest {
            unreachable!("not called")
        }
        fn validate(
            _config: wit::Config,
            _processes: Vec<wit::Process>,
        ) -> Result<Vec<wit::ValidationCheck>, SpokeError> {
            Ok(Vec::new())
        }
        fn download_subscriptions(
            _config: wit::Config,
            _cursor: Option<String>,
        ) -> Result<wit::SubscriptionPage, SpokeError> {
            Err(SpokeError::Transient("x".into()))
        }
    }

    // The macro expands for the host too (there it only checks the type is a `Spoke`).
    crate::export!(Minimal);

    fn config() -> wit::Config {
        wit::Config {
            values: Vec::new(),
            selected_groups: Vec::new(),
        }
    }

    fn user() -> wit::SubscriptionRef {
        wit::SubscriptionRef {
            external_user_id: "u".into(),
            identifier: "p".into(),
            granted_by: Vec::new(),
        }
    }

    #[test]
    fn the_defaults_say_the_capability_is_absent() {
        let groups = Minimal::list_groups(config(), None).unwrap();
        assert!(groups.groups.is_empty() && groups.next_cursor.is_none());
        let page = Minimal::download_activity(config(), 0, None).unwrap();
        assert!(page.activities.is_empty() && page.next_cursor.is_none() && page.slices.is_empty());
        let looked = Minimal::lookup_activity(config(), 0, vec!["a".into(), "b".into()]).unwrap();
        assert_eq!(looked.len(), 2, "one entry per user");
        assert!(
            looked
                .iter()
                .all(|a| matches!(a.status, wit::ActivityStatus::Unknown(_)))
        );
        assert!(Minimal::plan_reclaim(config(), user()).unwrap().is_empty());
        assert!(
            Minimal::apply_reclaim(config(), user(), Vec::new())
                .unwrap()
                .is_empty()
        );
        assert!(Minimal::restore(config(), user(), Vec::new()).is_ok());
        let change = wit::SeatChange {
            kind: "seat-removed".into(),
            target_id: "pro".into(),
            target_name: None,
        };
        assert!(matches!(
            Minimal::apply_reclaim(config(), user(), vec![change.clone()]),
            Err(SpokeError::InvalidConfig(m)) if m.contains("seat-removed")
        ));
        assert!(matches!(
            Minimal::restore(config(), user(), vec![change]),
            Err(SpokeError::InvalidConfig(_))
        ));
        assert!(Minimal::vendor_seat_counts(config()).unwrap().is_empty());
        let check = validation_check(
            wit::Process::DownloadSubscriptions,
            "list seats",
            Err(SpokeError::NotFound("n".into())),
        );
        assert!(matches!(check.outcome, Err(wit::SpokeError::NotFound(_))));
    }
}
