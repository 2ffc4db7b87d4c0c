//! Kite Connect's JSON as the venue reads it: an order (a socket order update's `data`, a
//! `GET /orders` row, a postback), error bodies, and Kite's zone-less IST timestamps.
//! Nothing here trusts the input: every field is checked and a bad one is an error naming it.

use serde_json::Value;

use crate::domain::fixed::parse_fixed;

/// IST is UTC+05:30 all year (no daylight saving).
const IST_OFFSET_NS: i64 = (5 * 3600 + 30 * 60) * 1_000_000_000;

/// The tag prefix of every order a run places: `ap`, the run's start second as 8 hex digits,
/// `-`; the client order id follows (Kite allows 20 characters).
pub fn tag_prefix(run: u32) -> String {
    format!("ap{run:08x}-")
}

/// Whether `tag` is one this engine gives its orders (of any run).
pub fn is_engine_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() > 11
        && b.starts_with(b"ap")
        && b[2..10].iter().all(u8::is_ascii_hexdigit)
        && b[10] == b'-'
        && b[11..].iter().all(u8::is_ascii_digit)
}

/// What the venue needs of one Kite order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KiteOrder {
    pub order_id: String,
    pub tag: Option<String>,
    /// `OPEN`, `COMPLETE`, `CANCELLED`, `REJECTED`, `UPDATE`, `TRIGGER PENDING`, ... as sent.
    pub status: String,
    pub status_message: Option<String>,
    pub quantity: i64,
    pub filled_quantity: i64,
    /// Average fill price, raw at the instrument's price precision (`None` before a fill).
    pub average_price: Option<i64>,
    /// Exchange time of the update, ns since the Unix epoch.
    pub exchange_ts: Option<u64>,
}

impl KiteOrder {
    /// Kite's states that end an order.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETE" | "CANCELLED" | "REJECTED")
    }
}

/// The order object of an order update from the ticker socket
/// (`{"type":"order","data":{...}}`).
///
/// # Errors
/// The text is not JSON, or has no `data` object.
pub fn update_data(text: &str) -> Result<Value, String> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| format!("kite order update: expected JSON, {e}"))?;
    match v.get_mut("data").map(Value::take) {
        Some(data @ Value::Object(_)) => Ok(data),
        Some(other) => Err(format!(
            "kite order update: field 'data': expected an object, found {other}"
        )),
        None => Err("kite order update: field 'data': missing".to_owned()),
    }
}

/// Reads one order object; prices at `precision` decimals.
///
/// # Errors
/// A missing or mistyped field, named.
pub fn parse_order(v: &Value, precision: impl Fn(&Value) -> u8) -> Result<KiteOrder, String> {
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let int = |key: &str| -> Result<i64, String> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(x) => x
                .as_i64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("field '{key}': expected an integer, found {x}")),
        }
    };
    let order_id = match v.get("order_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        other => {
            return Err(format!(
                "field 'order_id': expected a string, found {other:?}"
            ));
        }
    };
    let status = text("status").ok_or("field 'status': missing")?;
    let p = precision(v);
    let average_price = match v.get("average_price") {
        None | Some(Value::Null) => None,
        Some(x) => {
            let raw = price(x, p).map_err(|e| format!("field 'average_price': {e}"))?;
            (raw > 0).then_some(raw)
        }
    };
    let exchange_ts = text("exchange_timestamp")
        .or_else(|| text("exchange_update_timestamp"))
        .and_then(|t| ist_to_unix_ns(&t));
    Ok(KiteOrder {
        order_id,
        tag: text("tag").filter(|t| !t.is_empty()),
        status,
        status_message: text("status_message").filter(|t| !t.is_empty()),
        quantity: int("quantity")?,
        filled_quantity: int("filled_quantity")?,
        average_price,
        exchange_ts,
    })
}

/// A JSON number (or numeric string) as a raw price at `precision` decimals, rounded half
/// away from zero past them (Kite's averages can carry more decimals than the tick).
pub fn price(v: &Value, precision: u8) -> Result<i64, String> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("expected a number, found {other}")),
    };
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    // Decimals past the precision only round, so `parse_fixed` never sees them: they are
    // checked here. Digits only also keeps the cut below on a character boundary: `"1.é"` at
    // 1 decimal cut `é` in half, a panic on broker input (fuzz/regressions/kite_order_update).
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?}: expected a decimal number"));
    }
    let keep = frac.len().min(usize::from(precision));
    let exact = format!("{int}.{}", &frac[..keep]);
    let raw = parse_fixed(exact.trim_end_matches('.').as_bytes(), precision)
        .map_err(|e| format!("{text:?}: {e}"))?;
    let round_up = frac.as_bytes().get(keep).is_some_and(|d| *d >= b'5');
    Ok(if round_up {
        raw.saturating_add(raw.signum().max(1))
    } else {
        raw
    })
}

/// `"YYYY-MM-DD HH:MM:SS"` in IST to ns since the Unix epoch.
pub fn ist_to_unix_ns(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let local = (days * 86_400 + hh * 3600 + mm * 60 + ss).checked_mul(1_000_000_000)?;
    u64::try_from(local - IST_OFFSET_NS).ok()
}

/// Kite's error body: `(error_type, message)`.
pub fn error_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let message = field("message");
    (
        field("error_type"),
        if message.is_empty() {
            body.chars().take(200).collect()
        } else {
            message
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_tags_are_told_from_others() {
        let tag = format!("{}{}", tag_prefix(0x6a1b_2c3d), 42);
        assert_eq!(tag, "ap6a1b2c3d-42");
        assert!(tag.len() <= 20 && is_engine_tag(&tag));
        for other in [
            "manual",
            "ap6a1b2c3d-",
            "ap6a1b2c3x-1",
            "ap6a1b2c3d-4x",
            "",
            "ap",
        ] {
            assert!(!is_engine_tag(other), "{other}");
        }
    }

    #[test]
    fn ist_timestamps_are_five_and_a_half_hours_ahead_of_utc() {
        // 2021-07-05 10:41:27 IST = 05:11:27 UTC = 1625461887 (the ticker fixture's time).
        assert_eq!(
            ist_to_unix_ns("2021-07-05 10:41:27"),
            Some(1_625_461_887_000_000_000)
        );
        assert_eq!(ist_to_unix_ns("2021-07-05T10:41:27"), None);
        assert_eq!(ist_to_unix_ns("2021-13-05 10:41:27"), None);
        assert_eq!(ist_to_unix_ns(""), None);
    }

    #[test]
    fn prices_are_exact_at_the_precision() {
        assert_eq!(price(&serde_json::json!(1573.15), 2), Ok(157_315));
        assert_eq!(price(&serde_json::json!(2889), 2), Ok(288_900));
        assert_eq!(price(&serde_json::json!("83.4475"), 4), Ok(834_475));
        assert_eq!(price(&serde_json::json!(100.125), 2), Ok(10_013));
        assert!(price(&serde_json::json!(true), 2).is_err());
    }

    #[test]
    fn decimals_past_the_precision_are_digits_or_refused() {
        let cases: [(&str, &str, u8, Result<i64, ()>); 7] = [
            (
                "multi-byte char cut by the precision",
                "1.\u{e9}",
                1,
                Err(()),
            ),
            ("multi-byte char after kept digits", "1.2\u{e9}", 1, Err(())),
            ("letter past the precision", "1.23x", 2, Err(())),
            ("second point", "1.2.3", 1, Err(())),
            ("letter within the precision", "1.x", 2, Err(())),
            ("extra digits round half up", "1.235", 2, Ok(124)),
            ("extra digits round down", "1.2349", 2, Ok(123)),
        ];
        for (name, text, precision, want) in cases {
            let got = price(&Value::String(text.to_owned()), precision).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn an_order_update_reads_like_the_postback_fixture() {
        let body = serde_json::json!({
            "order_id": "220303000308932", "status": "COMPLETE", "tag": "ap-1-7",
            "quantity": 1, "filled_quantity": 1, "average_price": 2889.5,
            "exchange_timestamp": "2021-07-05 10:41:27", "status_message": null
        });
        let order = parse_order(&body, |_| 2).unwrap();
        assert_eq!(order.average_price, Some(288_950));
        assert_eq!(order.tag.as_deref(), Some("ap-1-7"));
        assert!(order.is_final());
        assert_eq!(order.exchange_ts, Some(1_625_461_887_000_000_000));
        let bad = serde_json::json!({"order_id": "1", "status": "OPEN", "quantity": "x"});
        assert_eq!(
            parse_order(&bad, |_| 2).unwrap_err(),
            "field 'quantity': expected an integer, found \"x\""
        );
    }

    #[test]
    fn the_official_fixtures_parse() {
        let Ok(text) = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/kite/fixtures/orders.json"
        )) else {
            eprintln!("SKIPPED: ../shared/kite/fixtures/orders.json not found");
            return;
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        let orders = v["data"].as_array().unwrap();
        for o in orders {
            parse_order(o, |_| 2).unwrap_or_else(|e| panic!("{e}: {o}"));
        }
        assert!(orders.len() > 3);
    }
}
