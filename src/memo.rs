//! A value derived from the fields beside it, kept so that hot paths do not rebuild it.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A remembered value that takes no part in equality, `Debug` or serde: the owner's fields
/// define it, and the owner clears it whenever one of them changes. A clone starts with the
/// same value.
pub(crate) struct Memo<T>(Mutex<Option<T>>);

impl<T: Clone> Memo<T> {
    /// The remembered value, if there is one and `valid` accepts it.
    pub(crate) fn get(&self, valid: impl FnOnce(&T) -> bool) -> Option<T> {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref().filter(|value| valid(value)).cloned()
    }

    /// Remembers `value`, replacing what was there.
    pub(crate) fn set(&self, value: T) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }

    /// Forgets the value (the fields it came from changed).
    pub(crate) fn clear(&mut self) {
        *self.0.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl<T> Default for Memo<T> {
    fn default() -> Memo<T> {
        Memo(Mutex::new(None))
    }
}

impl<T: Clone> Clone for Memo<T> {
    fn clone(&self) -> Memo<T> {
        Memo(Mutex::new(
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        ))
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Memo<T>) -> bool {
        true
    }
}

impl<T> fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Memo")
    }
}
