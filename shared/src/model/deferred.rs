//! A value made the first time it is needed: an AWS client costs 80–300 µs to build (the first
//! of each service crate parses its endpoint rules), and a cold start that builds clients it
//! may never use makes every cold start slower. Holders (state store, notifier, throttle
//! table, traffic switches) can take one of these and build their client on their first call.
//!
//! Only for clients an invocation may not need (the notifier, Route 53's control plane, a
//! peer's throttle table read on failure only): an on-demand function's init runs on a full,
//! unthrottled vCPU, an invocation on the memory's share of one (128 MB: about 1/14), so a
//! client every invocation uses is cheaper built in init ("Effectively running Java on
//! Serverless: utilize the initialization phase", Serverless Land, AWS).

use std::fmt;
use std::sync::{Arc, OnceLock};

type Make<C> = Arc<dyn Fn() -> C + Send + Sync>;

pub struct Deferred<C> {
    cell: Arc<OnceLock<C>>,
    make: Make<C>,
}

impl<C> Clone for Deferred<C> {
    fn clone(&self) -> Self {
        Deferred {
            cell: self.cell.clone(),
            make: self.make.clone(),
        }
    }
}

impl<C> fmt::Debug for Deferred<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred").field("made", &self.cell.get().is_some()).finish()
    }
}

impl<C: Clone + Send + Sync + 'static> Deferred<C> {
    /// Already made (tests, mocked clients).
    pub fn ready(value: C) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value.clone());
        Deferred {
            cell: Arc::new(cell),
            make: Arc::new(move || value.clone()),
        }
    }

    /// Made by `make` on the first [`Deferred::get`]; every clone shares it.
    pub fn later(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        Deferred {
            cell: Arc::new(OnceLock::new()),
            make: Arc::new(make),
        }
    }

    pub fn get(&self) -> &C {
        self.cell.get_or_init(|| (self.make)())
    }

    /// Whether it has been made yet.
    pub fn is_made(&self) -> bool {
        self.cell.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn it_is_made_once_on_first_use_and_shared_by_clones() {
        let made = Arc::new(AtomicUsize::new(0));
        let m = made.clone();
        let d = Deferred::later(move || {
            m.fetch_add(1, Ordering::SeqCst);
            7
        });
        let copy = d.clone();
        assert!(!d.is_made() && made.load(Ordering::SeqCst) == 0, "not made before use");
        assert_eq!((*d.get(), *copy.get(), *d.get()), (7, 7, 7));
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert!(Deferred::ready(3).is_made());
    }
}
