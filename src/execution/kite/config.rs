//! `[venue.NAME] kind = "kite"`: Zerodha Kite Connect as a broker. Credentials are the names
//! of environment variables; real orders leave the box only with `orders = "live"`.

use crate::config::fields::Fields;

/// Kite's products.
pub const PRODUCTS: [&str; 4] = ["CNC", "NRML", "MIS", "MTF"];

/// Whether orders may reach the exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrdersMode {
    /// The engine refuses to start: nothing real is sent by accident.
    #[default]
    Off,
    /// Real orders.
    Live,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteVenueConfig {
    /// `https://api.kite.trade`, or an emulator's `http://` root.
    pub root_url: String,
    pub api_key_env: String,
    pub access_token_env: String,
    /// `CNC`, `NRML`, `MIS` or `MTF`.
    pub product: String,
    /// `market_protection` sent with market orders: -1 (Kite's automatic) or 1-100 %; Kite
    /// refuses API market orders without it.
    pub market_protection: i64,
    /// Kite's per-account order limit; requests wait for a token, never beyond it.
    pub max_orders_per_second: u32,
    pub orders: OrdersMode,
    /// A paper venue shadows this one with the same orders and market data.
    pub shadow: bool,
    /// Cancel open orders on a graceful stop.
    pub cancel_on_stop: bool,
    /// How often open orders are polled (`GET /orders`) besides the socket's updates, ms.
    pub poll_ms: u64,
}

/// Reads the Kite keys of one `[venue.NAME]`.
pub(crate) fn read(venue: &mut Fields<'_, '_>) -> Option<KiteVenueConfig> {
    let root_url = venue.req_str("root_url").and_then(|(url, offset)| {
        if url.starts_with("https://") || url.starts_with("http://") {
            Some(url.trim_end_matches('/').to_owned())
        } else {
            venue.invalid("root_url", offset, "expected an http:// or https:// URL");
            None
        }
    });
    let api_key_env = venue.req_env_name("api_key_env").map(|(n, _)| n);
    let access_token_env = venue.req_env_name("access_token_env").map(|(n, _)| n);
    let product = venue
        .opt_choice("product", &PRODUCTS)
        .map_or_else(|| "MIS".to_owned(), |(p, _)| p);
    let market_protection = venue.opt_int("market_protection", -1, 100).unwrap_or(-1);
    if market_protection == 0 {
        let at = venue.get("market_protection").map_or(0, |v| v.span().start);
        venue.invalid(
            "market_protection",
            at,
            "0 is refused by Kite for API market orders: use -1 (automatic) or 1-100",
        );
    }
    let max_orders_per_second = venue
        .opt_int("max_orders_per_second", 1, 10)
        .map_or(10, |n| n as u32);
    let orders = match venue.opt_choice("orders", &["off", "live"]) {
        Some((mode, _)) if mode == "live" => OrdersMode::Live,
        _ => OrdersMode::Off,
    };
    let shadow = venue.opt_bool("shadow").unwrap_or(false);
    let cancel_on_stop = venue.opt_bool("cancel_on_stop").unwrap_or(true);
    let poll_ms = venue
        .opt_int("poll_ms", 100, 60_000)
        .map_or(1000, |n| n as u64);
    Some(KiteVenueConfig {
        root_url: root_url?,
        api_key_env: api_key_env?,
        access_token_env: access_token_env?,
        product,
        market_protection,
        max_orders_per_second,
        orders,
        shadow,
        cancel_on_stop,
        poll_ms,
    })
}
