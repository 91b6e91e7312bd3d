//! What can go wrong when signing ([`SignError`]) and when verifying ([`VerifyError`]).

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No secret was given.
    #[error("no secret to sign with")]
    NoSecret,
    /// The Standard Webhooks message id is empty or starts or ends with whitespace, which
    /// HTTP strips: the receiver would verify another id than the one signed.
    #[error("the message id must be non-empty, without leading or trailing whitespace")]
    InvalidId,
    /// The key cannot sign this way: a `whpk_` public key (it only verifies), or an Ed25519
    /// key given to a scheme other than Standard Webhooks.
    #[error("{0}")]
    UnsupportedKey(&'static str),
    /// A Standard Webhooks secret written without `whsec_` is not base64: the reference
    /// libraries read such a secret as base64, so no signature made from its text would
    /// verify anywhere else.
    #[error("{}", not_base64(*index))]
    SecretNotBase64 {
        /// Which secret, counted from 0.
        index: usize,
    },
    /// A header value would hold characters HTTP does not allow (e.g. a line break in an id or
    /// token).
    #[error("the `{header}` header value would hold characters HTTP does not allow")]
    InvalidHeaderValue {
        /// The header.
        header: String,
    },
}

/// Why a request was not verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent.
    #[error("the `{header}` header is missing")]
    MissingHeader {
        /// The header.
        header: String,
    },
    /// A header is present but unreadable.
    #[error("the `{header}` header is malformed: {reason}")]
    MalformedHeader {
        /// The header.
        header: String,
        /// What is wrong.
        reason: String,
    },
    /// The signature header holds no `v1,` signature.
    #[error("the `{header}` header holds no `v1,` signature")]
    NoV1Signature {
        /// The header.
        header: String,
    },
    /// The signature header holds no `v1a,` signature, and the receiver holds only Ed25519
    /// public keys.
    #[error("the `{header}` header holds no `v1a,` signature (the receiver holds Ed25519 public keys only)")]
    NoV1aSignature {
        /// The header.
        header: String,
    },
    /// No signature matches any of the secrets: wrong secret, or a forged or altered request.
    #[error("the signature does not match (wrong secret, or the body was altered): verify the raw request bytes as received, before any JSON parsing or re-encoding, and check the secret, written with its `whsec_` prefix for Standard Webhooks")]
    Mismatch,
    /// A pre-shared token matches none of the secrets. The token does not depend on the body,
    /// so nothing was altered: the receiver holds another token than the sender sends.
    #[error("the `{header}` token matches none of the receiver's secrets: copy the signature the platform shows (LearnWorlds: Settings → Developers → Webhooks)")]
    TokenMismatch {
        /// The header.
        header: String,
    },
    /// The signature timestamp is older than the tolerance: a late or replayed request.
    #[error(
        "the signature timestamp is {age_secs} s old; at most {tolerance_secs} s are accepted"
    )]
    TimestampTooOld {
        /// How old it is, in seconds.
        age_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// The signature timestamp is further in the future than the tolerance.
    #[error("the signature timestamp is {ahead_secs} s in the future; at most {tolerance_secs} s are accepted")]
    TimestampTooNew {
        /// How far ahead it is, in seconds.
        ahead_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// No usable secret was given.
    #[error("no secret to verify with")]
    NoSecret,
    /// A Standard Webhooks secret written without `whsec_` is not base64 (see
    /// [`SignError::SecretNotBase64`]): the receiver is misconfigured.
    #[error("{}", not_base64(*index))]
    SecretNotBase64 {
        /// Which secret, counted from 0.
        index: usize,
    },
}

fn not_base64(index: usize) -> String {
    format!(
        "secret #{index} has no `whsec_` prefix and is not base64: Standard Webhooks reads an \
         unprefixed secret as base64, as the reference libraries do; write it as `whsec_` \
         followed by the base64 key"
    )
}
