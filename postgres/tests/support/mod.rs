//! Shared by the tests (and the outbox bench).

pub mod clock;
pub mod pg;
pub mod receiver;
pub mod store;
