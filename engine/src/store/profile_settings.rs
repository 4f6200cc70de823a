//! The records an operator keeps per profile beside the profile itself: the component its
//! runs are pinned to ([`PluginPin`], table `plugin_pins`) and its limits ([`ProfileLimits`],
//! table `profile_limits`), both keyed by the profile's name and removed with the profile.
//! Kept apart from the profile record so that record's encoding stays as it was.

use super::tables::{PLUGIN_PINS, PROFILE_LIMITS};
use super::{ReadError, ReadTx, WriteError, WriteTx, key, write_key};
use crate::model::{PluginPin, ProfileLimits};

impl WriteTx {
    /// The pin of a profile's component.
    pub fn plugin_pin(&self, profile: &str) -> Result<Option<PluginPin>, WriteError> {
        match key(&[profile]) {
            Some(k) => self.get(PLUGIN_PINS, &k),
            None => Ok(None),
        }
    }

    /// Records (or replaces) the pin of a profile's component.
    pub fn put_plugin_pin(&self, pin: &PluginPin) -> Result<(), WriteError> {
        self.put(PLUGIN_PINS, &write_key(&[&pin.profile])?, pin)
    }

    /// A profile's operator limits (empty when none were set).
    pub fn profile_limits(&self, profile: &str) -> Result<ProfileLimits, WriteError> {
        let found = match key(&[profile]) {
            Some(k) => self.get(PROFILE_LIMITS, &k)?,
            None => None,
        };
        Ok(found.unwrap_or_else(|| ProfileLimits {
            profile: profile.to_string(),
            ..ProfileLimits::default()
        }))
    }

    /// Stores a profile's operator limits (removes the record when it holds none).
    pub fn put_profile_limits(&self, limits: &ProfileLimits) -> Result<(), WriteError> {
        let k = write_key(&[&limits.profile])?;
        if limits.values.is_empty() {
            self.delete(PROFILE_LIMITS, &k)?;
            return Ok(());
        }
        self.put(PROFILE_LIMITS, &k, limits)
    }

    /// Removes a profile's pin and limits (with the profile).
    pub(crate) fn delete_profile_settings(&self, profile: &str) -> Result<(), WriteError> {
        let k = write_key(&[profile])?;
        self.delete(PLUGIN_PINS, &k)?;
        self.delete(PROFILE_LIMITS, &k)?;
        Ok(())
    }
}

impl ReadTx {
    /// The pin of a profile's component.
    pub fn plugin_pin(&self, profile: &str) -> Result<Option<PluginPin>, ReadError> {
        match key(&[profile]) {
            Some(k) => self.get(PLUGIN_PINS, &k),
            None => Ok(None),
        }
    }

    /// A profile's operator limits (empty when none were set).
    pub fn profile_limits(&self, profile: &str) -> Result<ProfileLimits, ReadError> {
        let found = match key(&[profile]) {
            Some(k) => self.get(PROFILE_LIMITS, &k)?,
            None => None,
        };
        Ok(found.unwrap_or_else(|| ProfileLimits {
            profile: profile.to_string(),
            ..ProfileLimits::default()
        }))
    }
}
