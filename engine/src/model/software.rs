//! Software models and subscription identifiers. A model (publisher, product, edition) is
//! created automatically the first time a spoke reports an identifier its manifest lists as a
//! product; an identifier no model recognizes is listed as unrecognized with its subscription
//! count, until an admin assigns it a model.

use serde::{Deserialize, Serialize};

use super::EpochSeconds;

/// A software model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SoftwareModel {
    /// Stable id: `publisher/product[/edition]`, lowercase.
    pub id: String,
    /// e.g. "Atlassian".
    pub publisher: String,
    /// e.g. "Confluence".
    pub product: String,
    /// Edition, where the vendor has one.
    pub edition: Option<String>,
    /// Created from a spoke's product list (not by hand).
    pub auto_created: bool,
    /// When it was created.
    pub created_at: EpochSeconds,
}

impl SoftwareModel {
    /// The id a model for this publisher, product and edition gets.
    pub fn id_for(publisher: &str, product: &str, edition: Option<&str>) -> String {
        let mut id = format!("{}/{}", publisher.trim(), product.trim());
        if let Some(edition) = edition {
            id.push('/');
            id.push_str(edition.trim());
        }
        id.to_lowercase()
    }
}

/// A subscription identifier seen from a spoke (keyed by spoke id and identifier).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionIdentifier {
    /// The spoke that reports it.
    pub spoke_id: String,
    /// The identifier.
    pub identifier: String,
    /// The model it maps to; `None` while unrecognized.
    pub model: Option<String>,
    /// Profiles whose subscriptions carry it.
    pub profiles: Vec<String>,
    /// Active subscriptions carrying it.
    pub subscription_count: u64,
}

impl SubscriptionIdentifier {
    /// Whether a model recognizes it.
    pub fn recognized(&self) -> bool {
        self.model.is_some()
    }
}
