//! `report::stats` against an independent reference, `tests/stats_reference.py` (Python
//! standard library only): for deterministic inputs (LCG random walks, fills with flips,
//! fee splits on rounding ties, edge cases) both must give the same round trips and the
//! same statistics, money exactly and floats to 1e-9 relative. Without `python3` the test
//! fails when `CI` is set and prints `SKIPPED: python3 not found` otherwise.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use alpha_panda::domain::{Money, Nanos};
use alpha_panda::report::stats::{self, RoundTrip, StatsInput, TripFill};
use serde_json::{Value, json};

const SECOND: u64 = 1_000_000_000;

/// Knuth's MMIX LCG; the high bits as output.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    /// Uniform in `-n..=n`.
    fn signed(&mut self, n: u64) -> i64 {
        self.below(2 * n + 1) as i64 - n as i64
    }
}

struct Scenario {
    name: &'static str,
    fills: Vec<TripFill>,
    equity: Vec<Money>,
    interval_s: f64,
    capital: Option<Money>,
    span_ns: u64,
}

impl Scenario {
    /// Time with a position, from the fills (flat before the first, up to the span's end).
    fn exposure_ns(&self) -> u64 {
        let start = self.fills.first().map_or(0, |f| f.ts.0);
        let mut position = 0i64;
        let mut exposed = 0;
        for (i, f) in self.fills.iter().enumerate() {
            position += f.qty;
            let next = self
                .fills
                .get(i + 1)
                .map_or(start + self.span_ns, |n| n.ts.0);
            if position != 0 {
                exposed += next.saturating_sub(f.ts.0);
            }
        }
        exposed.min(self.span_ns)
    }

    /// Notional at price precision 4 and quantity precision 3.
    fn traded_notional(&self) -> Money {
        let raw: i128 = self
            .fills
            .iter()
            .map(|f| i128::from(f.qty).abs() * i128::from(f.price) * 100_000_000_000)
            .sum();
        Money(raw)
    }

    fn fees(&self) -> Money {
        Money(self.fills.iter().map(|f| f.fee.0).sum())
    }
}

fn random_walk(rng: &mut Lcg, samples: usize, step: i128) -> Vec<Money> {
    let mut equity = vec![Money::ZERO];
    let mut e = 0i128;
    for _ in 1..samples {
        // A drift-free step plus sub-cent noise down to the raw unit.
        e += i128::from(rng.signed(1_000)) * step + i128::from(rng.signed(999_999));
        equity.push(Money(e));
    }
    equity
}

/// `count` fills, flipping often; `max_qty` raw units a side, fees up to `max_fee` raw.
fn random_fills(rng: &mut Lcg, count: usize, max_qty: u64, max_fee: u64) -> Vec<TripFill> {
    let mut ts = 1_700_000_000 * SECOND;
    let mut position = 0i64;
    (0..count)
        .map(|_| {
            ts += rng.below(30 * SECOND);
            let fresh = rng.signed(max_qty);
            // Add, close exactly, flip, or reduce part-way, in equal shares.
            let qty = match rng.below(4) {
                0 => fresh,
                1 => -position,
                2 => -position + fresh,
                _ => -position / 2,
            };
            position += qty;
            TripFill {
                ts: Nanos(ts),
                qty,
                price: 1_000_000 + rng.signed(20_000),
                fee: Money(i128::from(rng.below(max_fee + 1)) - i128::from(max_fee / 20)),
                realized: Money(i128::from(rng.signed(1 << 40)) * 1_000_003),
            }
        })
        .collect()
}

fn scenarios() -> Vec<Scenario> {
    let mut rng = Lcg(20_240_601);
    let cent = 10_000_000_000_000_000;
    vec![
        Scenario {
            name: "random walk, 500 samples, flips",
            fills: random_fills(&mut rng, 400, 5_000, 3_000_000_000_000_000),
            equity: random_walk(&mut rng, 500, cent),
            interval_s: 60.0,
            capital: Some(Money(100_000 * cent * 100)),
            span_ns: 499 * 60 * SECOND,
        },
        Scenario {
            name: "no capital, tiny quantities and fees (rounding ties)",
            fills: random_fills(&mut rng, 300, 4, 9),
            equity: random_walk(&mut rng, 120, 7),
            interval_s: 0.25,
            capital: None,
            span_ns: 30 * SECOND,
        },
        Scenario {
            name: "three samples, all trips winning",
            fills: vec![
                fill(1, 3, 100, 5, 0),
                fill(2, -5, 110, 7, 30),
                fill(3, 4, 90, 1, 40),
                fill(4, -2, 95, 1, 10),
            ],
            equity: vec![Money::ZERO, Money(-3 * cent), Money(cent)],
            interval_s: 3600.0,
            capital: Some(Money(1_000 * cent * 100)),
            span_ns: 2 * 3600 * SECOND,
        },
        Scenario {
            name: "constant equity, no fills",
            fills: vec![],
            equity: vec![Money::ZERO; 10],
            interval_s: 1.0,
            capital: Some(Money(cent)),
            span_ns: 0,
        },
    ]
}

fn fill(ts: u64, qty: i64, price: i64, fee: i128, realized: i128) -> TripFill {
    TripFill {
        ts: Nanos(ts * SECOND),
        qty,
        price,
        fee: Money(fee),
        realized: Money(realized * 1_000_000_000_000_000_000),
    }
}

fn input_json(s: &Scenario) -> Value {
    let money = |m: Money| m.display(0).to_string();
    json!({
        "fills": s.fills.iter().map(|f| json!({
            "ts": f.ts.0,
            "qty": f.qty,
            "price": f.price,
            "fee": money(f.fee),
            "realized": money(f.realized),
        })).collect::<Vec<_>>(),
        "equity": s.equity.iter().map(|&e| money(e)).collect::<Vec<_>>(),
        "interval_s": s.interval_s,
        "capital": s.capital.map(money),
        "exposure_ns": s.exposure_ns(),
        "span_ns": s.span_ns,
        "traded_notional": money(s.traded_notional()),
        "fees": money(s.fees()),
    })
}

/// A trip in the reference's JSON shape.
fn trip_json(t: &RoundTrip) -> Value {
    json!({
        "side": t.side.as_str(),
        "entry_ts": t.entry_ts.0,
        "exit_ts": t.exit_ts.map(|n| n.0),
        "entry_notional": t.entry_price.notional.to_string(),
        "entry_qty": t.entry_price.qty.to_string(),
        "entry_vwap": t.entry_price.price(),
        "exit_notional": t.exit_price.notional.to_string(),
        "exit_qty": t.exit_price.qty.to_string(),
        "exit_vwap": t.exit_price.price(),
        "quantity": t.quantity.to_string(),
        "pnl": t.pnl.display(2).to_string(),
        "fees": t.fees.display(2).to_string(),
        "holding_ns": t.holding_ns,
    })
}

/// Strings and integers exactly, floats to 1e-9 relative, objects key by key.
fn assert_close(ours: &Value, theirs: &Value, at: &str) {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().expect("finite"), b.as_f64().expect("finite"));
            let tolerance = 1e-9 * a.abs().max(b.abs());
            assert!((a - b).abs() <= tolerance, "{at}: rust {a} vs python {b}");
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut keys_a: Vec<_> = a.keys().collect();
            let mut keys_b: Vec<_> = b.keys().collect();
            keys_a.sort();
            keys_b.sort();
            assert_eq!(keys_a, keys_b, "{at}: keys");
            for (key, value) in a {
                assert_close(value, &b[key], &format!("{at}.{key}"));
            }
        }
        _ => assert_eq!(ours, theirs, "{at}"),
    }
}

fn python_available() -> bool {
    match Command::new("python3").arg("--version").output() {
        Ok(out) => out.status.success(),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("cannot run python3: {e}"),
    }
}

fn reference(input: &Path) -> Value {
    let out = Command::new("python3")
        .arg("tests/stats_reference.py")
        .arg(input)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs python3");
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference prints JSON")
}

#[test]
fn stats_match_the_python_reference() {
    if !python_available() {
        assert!(std::env::var_os("CI").is_none(), "python3 not found (CI)");
        println!("SKIPPED: python3 not found");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, scenario) in scenarios().iter().enumerate() {
        let name = scenario.name;
        let trips = stats::round_trips(&scenario.fills);
        let input = StatsInput {
            equity: &scenario.equity,
            interval_s: scenario.interval_s,
            capital: scenario.capital,
            trips: &trips,
            exposure_ns: scenario.exposure_ns(),
            span_ns: scenario.span_ns,
            traded_notional: scenario.traded_notional(),
            fees: scenario.fees(),
        };
        let ours = stats::compute(&input);
        let path = dir.path().join(format!("input-{i}.json"));
        std::fs::write(&path, input_json(scenario).to_string()).expect("writes input");
        let theirs = reference(&path);

        let our_trips: Vec<Value> = trips.iter().map(trip_json).collect();
        let their_trips = theirs["trips"].as_array().expect("trips");
        assert_eq!(our_trips.len(), their_trips.len(), "{name}: trip count");
        for (k, (a, b)) in our_trips.iter().zip(their_trips).enumerate() {
            assert_eq!(a, b, "{name}: trip {k}");
        }
        assert_close(&ours.to_json(), &theirs["stats"], name);

        // The inputs must exercise what they claim to.
        let closed = trips.iter().filter(|t| t.is_closed()).count();
        let flips = trips
            .windows(2)
            .filter(|w| w[0].exit_ts == Some(w[1].entry_ts));
        match i {
            0 => {
                assert!(closed > 50 && flips.count() > 20, "{name}: {closed} trips");
                assert!(ours.sharpe.is_some() && ours.sortino.is_some() && ours.calmar.is_some());
                assert!(
                    ours.profit_factor.is_some() && ours.volatility.is_some(),
                    "{name}"
                );
            }
            1 => {
                assert!(flips.count() > 20, "{name}");
                assert!(ours.sharpe.is_some() && ours.volatility.is_none(), "{name}");
            }
            2 => assert!(
                closed == 3 && ours.profit_factor.is_none(),
                "{name}: {ours:?}"
            ),
            _ => assert!(
                ours.sharpe.is_none() && trips.is_empty(),
                "{name}: {ours:?}"
            ),
        }
    }
}
