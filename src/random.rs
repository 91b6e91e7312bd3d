//! The one door to the operating system's CSPRNG.

/// The operating system's random number generator could not be read.
///
/// This practically never happens on a running system; it is an error rather than a panic so
/// that a host can decide what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError(());

/// Fills `buf` from the OS CSPRNG.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError(()))
}
