//! Secrets at rest: endpoints are stored sealed under the host's master key (AES-256-CBC then
//! HMAC-SHA256, the MAC checked first, a fresh IV each time), bound to their tenant and id so
//! that a sealed row cannot be moved to another.

use std::fmt;

use lms_webhooks::{EncryptionKey, Endpoint};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// The host's master key: 32 bytes, written as for `webhook --key` (32 characters, or
/// `base64:` and the base64 of 32 bytes). `Debug` shows nothing of it.
#[derive(Clone)]
pub struct MasterKey(EncryptionKey);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").finish_non_exhaustive()
    }
}

/// What a sealed endpoint row holds once opened.
#[derive(Serialize, Deserialize)]
struct Sealed<'a> {
    tenant: &'a str,
    id: &'a str,
    endpoint: Endpoint,
}

#[derive(Deserialize)]
struct Opened {
    tenant: String,
    id: String,
    endpoint: Endpoint,
}

/// The plaintext sealed in `lmsw_meta` to recognise the master key.
const CHECK: &[u8] = b"lms-webhooks-postgres master key check v1";

impl MasterKey {
    /// Parses a key.
    pub fn parse(text: &str) -> Result<MasterKey, StoreError> {
        Ok(MasterKey(EncryptionKey::parse(text)?))
    }

    pub(crate) fn seal_endpoint(
        &self,
        tenant: &str,
        endpoint: &Endpoint,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(&Sealed {
            tenant,
            id: endpoint.id(),
            endpoint: endpoint.clone(),
        })
        .map_err(|e| corrupt(tenant, endpoint.id(), e.to_string()))?;
        let plain = zeroize::Zeroizing::new(plain);
        self.0.encrypt(&plain).map_err(|e| StoreError::Corrupt {
            what: format!("endpoint {tenant}/{}", endpoint.id()),
            reason: e.to_string(),
        })
    }

    pub(crate) fn open_endpoint(
        &self,
        tenant: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<Endpoint, StoreError> {
        let plain = zeroize::Zeroizing::new(self.0.decrypt(sealed)?);
        let opened: Opened =
            serde_json::from_slice(&plain).map_err(|e| corrupt(tenant, id, e.to_string()))?;
        if opened.tenant != tenant || opened.id != id || opened.endpoint.id() != id {
            return Err(corrupt(tenant, id, "sealed for another row".to_owned()));
        }
        Ok(opened.endpoint)
    }

    pub(crate) fn check_value(&self) -> Result<Vec<u8>, StoreError> {
        self.0.encrypt(CHECK).map_err(|e| StoreError::Corrupt {
            what: "master key check".to_owned(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn matches(&self, check: &[u8]) -> bool {
        self.0.decrypt(check).is_ok_and(|plain| plain == CHECK)
    }
}

fn corrupt(tenant: &str, id: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        what: format!("endpoint {tenant}/{id}"),
        reason,
    }
}
