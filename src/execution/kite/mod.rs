//! Zerodha Kite Connect as a venue (`[venue.NAME] kind = "kite"`).
//!
//! Contract: `submit`/`amend` never block the execution stage: they queue a command for the
//! REST thread (`rest`), which places, modifies and cancels over HTTP within Kite's rate
//! limit. What happens to an order comes back through `poll`: the REST thread's answers and
//! Kite's order updates (from the ticker socket and from polling `GET /orders`), turned into
//! order events once each by the `tracker`.

pub mod config;
pub mod reconcile;
pub mod rest;
pub mod shadow;
pub mod tracker;
pub mod venue;
pub mod wire;

pub use config::{KiteVenueConfig, OrdersMode};
pub use venue::{KiteVenue, KiteVenueStart};
