//! Approving the spoke component a profile runs, as application operations: how the
//! component now on disk differs from the approved one (its sha256 and what its manifest asks
//! for: hosts, processes with roles and scopes, auth, connection URL), and the approval
//! itself, which pins the component the admin saw (a component that changed between the look
//! and the approval is refused) in one audited transaction.

use serde::{Deserialize, Serialize};

use super::{Actor, App, AppError};
use crate::host::trust;
use crate::model::{AuditAction, EpochSeconds, PinOrigin, PinnedPermissions};
use crate::store::WriteError;

/// `GET /api/v1/plugins/trust`: how a profile's component differs from the approved one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustQuery {
    /// The profile.
    pub profile: String,
}

/// `POST /api/v1/plugins/trust`: approve the component with this sha256 for a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApproveComponent {
    /// The profile.
    pub profile: String,
    /// The sha256 the admin saw (from the look); another component is refused.
    pub sha256: String,
}

/// A component, as pinned or as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentView {
    /// The sha256 of its bytes, lowercase hex.
    pub sha256: String,
    /// The spoke's id.
    pub spoke_id: String,
    /// The spoke's own version.
    pub version: String,
    /// When it was approved (for the pinned one).
    pub pinned_at: Option<EpochSeconds>,
}

/// The approved component against the one on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustView {
    /// The profile.
    pub profile: String,
    /// Where its component is.
    pub spoke_path: String,
    /// The approved component, if any.
    pub approved: Option<ComponentView>,
    /// The component now.
    pub now: ComponentView,
    /// What its manifest asks for against the approved one, for people (empty: the same).
    pub changes: Vec<String>,
    /// Whether the component now is the approved one.
    pub same: bool,
    /// Whether this answer approved it.
    pub approved_now: bool,
}

impl App {
    /// The look: the approved component against the one on disk.
    pub async fn plugins_trust_diff(
        &self,
        _actor: &Actor,
        q: TrustQuery,
    ) -> Result<TrustView, AppError> {
        self.trust_view(&q.profile, None).await
    }

    /// The approval: pins the component on disk when it is the one the admin saw.
    pub async fn plugins_trust(
        &self,
        _actor: &Actor,
        req: ApproveComponent,
    ) -> Result<TrustView, AppError> {
        self.trust_view(&req.profile, Some(&req.sha256)).await
    }

    async fn trust_view(&self, name: &str, approve: Option<&str>) -> Result<TrustView, AppError> {
        let (profile, pin) = {
            let read = self.store().read()?;
            let profile = read
                .profile(name)?
                .ok_or_else(|| AppError::NotFound(format!("no profile named `{name}`")))?;
            (profile, read.plugin_pin(name)?)
        };
        let spoke = super::session::load_profile_spoke(self.host(), &profile.spoke_path).await?;
        let now = self.now();
        let new = trust::pin_for(name, &spoke, now, PinOrigin::Trusted);
        let empty = PinnedPermissions::default();
        let changes = trust::diff(
            pin.as_ref().map_or(&empty, |p| &p.permissions),
            &new.permissions,
        );
        let same = pin.as_ref().is_some_and(|p| p.sha256 == new.sha256);
        let mut approved_now = false;
        if let Some(seen) = approve
            && !same
        {
            if seen.trim() != new.sha256 {
                return Err(AppError::Conflict(format!(
                    "the component of profile `{name}` changed since it was shown (now sha256 {}): look again with `sam plugin trust {name}`",
                    new.sha256
                )));
            }
            self.store().write(|tx| {
                tx.put_plugin_pin(&new)?;
                tx.audit(
                    now,
                    Some(name),
                    AuditAction::PluginTrusted,
                    format!(
                        "spoke component sha256 {} approved for profile `{name}`{}",
                        new.sha256,
                        if changes.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", changes.join(", "))
                        }
                    ),
                    None,
                )?;
                Ok::<_, WriteError>(())
            })?;
            approved_now = true;
        }
        Ok(TrustView {
            profile: name.to_string(),
            spoke_path: profile.spoke_path,
            approved: pin.map(|p| ComponentView {
                sha256: p.sha256,
                spoke_id: p.permissions.spoke_id,
                version: p.permissions.version,
                pinned_at: Some(p.pinned_at),
            }),
            now: ComponentView {
                sha256: new.sha256,
                spoke_id: new.permissions.spoke_id,
                version: new.permissions.version,
                pinned_at: None,
            },
            changes,
            same,
            approved_now,
        })
    }
}
