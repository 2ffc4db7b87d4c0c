//! Strategy kinds by name: the built-ins, plus the kinds a user's crate registers. A strategy
//! file's `kind` is looked up here; a user's kind reads its own `[params]` and builds one
//! strategy per book.
//!
//! ```
//! use alpha_panda::domain::Tick;
//! use alpha_panda::strategy::params::Quantity;
//! use alpha_panda::strategy::{Actions, Context, Params, Registry, Setup, Strategy, UserKind};
//!
//! struct Idle;
//! impl Strategy for Idle {
//!     fn on_tick(&mut self, _: &Context<'_>, _: &Tick, _: &mut Actions) {}
//! }
//! impl UserKind for Idle {
//!     type Config = Quantity;
//!     fn configure(params: &mut Params<'_, '_, '_>) -> Option<Quantity> {
//!         params.quantity("quantity")
//!     }
//!     fn build(_: &Quantity, _: &Setup<'_>) -> Idle {
//!         Idle
//!     }
//! }
//!
//! let mut registry = Registry::builtin();
//! registry.register::<Idle>("idle");
//! assert!(registry.names().contains(&"idle"));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::Strategy;
use super::params::{Params, Setup};

/// The built-in kinds, in the order messages list them.
pub const BUILTIN_KINDS: [&str; 5] = ["ema_cross", "momentum", "mean_reversion", "breakout", "ml"];

/// A strategy kind a user's crate adds: how it reads `[params]` and how it builds one
/// strategy for a book.
pub trait UserKind: Strategy + Sized + 'static {
    /// The validated parameters.
    type Config: Send + Sync + fmt::Debug + 'static;

    /// Reads the kind's parameters; `None` when a problem was recorded in `params`.
    fn configure(params: &mut Params<'_, '_, '_>) -> Option<Self::Config>;

    /// Builds the strategy for one book (the instruments' precisions are final here).
    fn build(config: &Self::Config, setup: &Setup<'_>) -> Self;
}

/// A user's kind with its type erased.
trait ErasedKind: Send + Sync {
    fn configure(&self, params: &mut Params<'_, '_, '_>) -> Option<Arc<dyn ErasedConfig>>;
}

/// A user's validated parameters with their type erased.
pub trait ErasedConfig: Send + Sync + fmt::Debug {
    fn build(&self, setup: &Setup<'_>) -> Box<dyn Strategy>;
}

struct KindOf<T>(PhantomData<fn() -> T>);

impl<T: UserKind> ErasedKind for KindOf<T> {
    fn configure(&self, params: &mut Params<'_, '_, '_>) -> Option<Arc<dyn ErasedConfig>> {
        T::configure(params).map(|c| Arc::new(ConfigOf::<T>(c)) as Arc<dyn ErasedConfig>)
    }
}

struct ConfigOf<T: UserKind>(T::Config);

impl<T: UserKind> fmt::Debug for ConfigOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: UserKind> ErasedConfig for ConfigOf<T> {
    fn build(&self, setup: &Setup<'_>) -> Box<dyn Strategy> {
        Box::new(T::build(&self.0, setup))
    }
}

/// The parameters of one user-kind strategy file, ready to build from.
#[derive(Clone)]
pub struct UserConfig {
    pub kind: &'static str,
    pub(crate) config: Arc<dyn ErasedConfig>,
}

impl UserConfig {
    pub fn build(&self, setup: &Setup<'_>) -> Box<dyn Strategy> {
        self.config.build(setup)
    }
}

impl fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.config)
    }
}

impl PartialEq for UserConfig {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.config, &other.config)
    }
}

/// Strategy kinds by name.
#[derive(Clone, Default)]
pub struct Registry {
    user: Vec<(&'static str, Arc<dyn ErasedKind>)>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// The built-in kinds only.
    pub fn builtin() -> Registry {
        Registry::default()
    }

    /// Adds a user's kind under `kind`, the name strategy files give in `kind = "..."`.
    ///
    /// # Panics
    /// `kind` is already taken (a built-in or another registered kind) or is not made of
    /// lowercase letters, digits and `_`: a programming error in the caller, found at start.
    pub fn register<T: UserKind>(&mut self, kind: &'static str) -> &mut Registry {
        assert!(
            !kind.is_empty()
                && kind
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "strategy kind {kind:?}: use lowercase letters, digits and '_'"
        );
        assert!(
            !self.names().contains(&kind),
            "strategy kind {kind:?} is already registered"
        );
        self.user.push((kind, Arc::new(KindOf::<T>(PhantomData))));
        self
    }

    /// Every kind name: built-ins first, then registered ones in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        BUILTIN_KINDS
            .iter()
            .copied()
            .chain(self.user.iter().map(|(k, _)| *k))
            .collect()
    }

    /// Whether `kind` is a user's kind, and its name with a `'static` lifetime.
    pub(crate) fn user_kind(&self, kind: &str) -> Option<&'static str> {
        self.user.iter().find(|(k, _)| *k == kind).map(|(k, _)| *k)
    }

    /// Reads the `[params]` of a user's kind.
    pub(crate) fn configure(
        &self,
        kind: &'static str,
        params: &mut Params<'_, '_, '_>,
    ) -> Option<UserConfig> {
        let (_, entry) = self.user.iter().find(|(k, _)| *k == kind)?;
        entry
            .configure(params)
            .map(|config| UserConfig { kind, config })
    }
}
