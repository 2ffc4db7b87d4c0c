//! A strategy file's `[params]` as a user's kind reads them, and what it is given to build
//! one instance per book. The reader records every problem with file, line and field, the
//! same way as the built-ins (`strategies/x.toml:9: field 'params.fast': expected integer in
//! 1..=1000000, found 0`); keys nobody read are reported as unknown once the kind is done.
//!
//! Quantities are read as exact decimals (`Quantity`) and turned into raw units per
//! instrument at build time (`Setup::qty`), after every instrument's quantity precision has
//! been widened to fit them.

use crate::config::fields::Fields;
use crate::domain::{Decimal, InstrumentSpec, Qty};

/// Largest window, lookback or EMA period of a built-in strategy and of an ML feature, in
/// price updates. A window keeps its last `n` values in a ring of up to `2n` slots of at most
/// 16 bytes: at this bound 32 MiB per (strategy, instrument), where ~4e9 asked for 64 GiB
/// and aborted. A window of a million updates is ~11 days of one tick a second.
pub const MAX_WINDOW: i64 = 1_000_000;

/// Which price feeds the indicators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PriceSource {
    /// Exact mid of two-sided quotes; trades are ignored.
    #[default]
    Mid,
    /// Trade prices; quotes are ignored.
    Last,
}

impl PriceSource {
    /// Reads `price_source = "mid" | "last"` (`Mid` when absent); `None` when the value is
    /// bad, recorded in `fields`.
    pub(crate) fn read(fields: &mut Fields<'_, '_>) -> Option<PriceSource> {
        if fields.get("price_source").is_none() {
            return Some(PriceSource::Mid);
        }
        let (name, _) = fields.opt_choice("price_source", &["mid", "last"])?;
        Some(if name == "last" {
            PriceSource::Last
        } else {
            PriceSource::Mid
        })
    }
}
/// An exact order quantity from a strategy file, in instrument units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(pub Decimal);

/// A quantity parameter as read: value, line and field (for precision checks at start-up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityParam {
    pub value: Decimal,
    pub line: usize,
    pub field: String,
}

/// The `[params]` table of one strategy file, for a user's kind.
pub struct Params<'p, 's, 'a> {
    fields: &'p mut Fields<'s, 'a>,
    quantities: &'p mut Vec<QuantityParam>,
}

impl<'p, 's, 'a> Params<'p, 's, 'a> {
    pub(crate) fn new(
        fields: &'p mut Fields<'s, 'a>,
        quantities: &'p mut Vec<QuantityParam>,
    ) -> Self {
        Params { fields, quantities }
    }

    fn offset(&mut self, key: &'s str) -> usize {
        self.fields.get(key).map_or(0, |v| v.span().start)
    }

    /// A required integer in `min..=max`. A kind bounds what it allocates by: a window's
    /// `max` is `MAX_WINDOW`, like the built-ins'.
    pub fn int(&mut self, key: &'s str, min: i64, max: i64) -> Option<i64> {
        self.fields.req_int(key, min, max)
    }

    /// An optional integer in `min..=max`, `default` when absent. `None` only when the value
    /// is there and wrong (already reported).
    pub fn int_or(&mut self, key: &'s str, default: i64, min: i64, max: i64) -> Option<i64> {
        if self.fields.get(key).is_none() {
            return Some(default);
        }
        self.fields.opt_int(key, min, max)
    }

    /// A required exact decimal (`"0.5"` or `0.5`).
    pub fn decimal(&mut self, key: &'s str) -> Option<Decimal> {
        match self.fields.opt_decimal(key) {
            Some((mantissa, decimals, _)) => Some(Decimal { mantissa, decimals }),
            None => {
                if self.fields.get(key).is_none() {
                    let at = self.fields_offset();
                    self.fields.invalid(
                        key,
                        at,
                        "missing (expected a decimal number like \"1.5\")",
                    );
                }
                None
            }
        }
    }

    /// An optional exact decimal, `default` when absent.
    pub fn decimal_or(&mut self, key: &'s str, default: Decimal) -> Option<Decimal> {
        if self.fields.get(key).is_none() {
            return Some(default);
        }
        self.decimal(key)
    }

    /// A required order quantity: a decimal > 0, in instrument units.
    pub fn quantity(&mut self, key: &'s str) -> Option<Quantity> {
        let value = self.decimal(key)?;
        let offset = self.offset(key);
        if value.mantissa <= 0 {
            self.fields.invalid(key, offset, "expected a decimal > 0");
            return None;
        }
        let line = self.fields.source().line_of(offset);
        self.quantities.push(QuantityParam {
            value,
            line,
            field: self.fields.name(key),
        });
        Some(Quantity(value))
    }

    /// `price_source = "mid" | "last"`, `mid` when absent.
    pub fn price_source(&mut self) -> Option<PriceSource> {
        PriceSource::read(self.fields)
    }

    /// One of `choices`, `default` when absent.
    pub fn choice(
        &mut self,
        key: &'s str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Option<&'static str> {
        if self.fields.get(key).is_none() {
            return Some(default);
        }
        let (text, _) = self.fields.opt_choice(key, choices)?;
        choices.iter().copied().find(|c| *c == text)
    }

    /// `true` or `false`, `default` when absent.
    pub fn flag(&mut self, key: &'s str, default: bool) -> Option<bool> {
        if self.fields.get(key).is_none() {
            return Some(default);
        }
        self.fields.opt_bool(key)
    }

    /// Records a problem of the kind's own (a rule between two parameters, say) at the line
    /// of `key`.
    pub fn fail(&mut self, key: &'s str, message: impl Into<String>) {
        let offset = self.offset(key);
        self.fields.invalid(key, offset, message);
    }

    fn fields_offset(&self) -> usize {
        self.fields.offset()
    }
}

/// What a kind gets to build one strategy instance (one per broker it names).
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub(crate) id: &'a str,
    pub(crate) broker: &'a str,
    pub(crate) specs: &'a [InstrumentSpec],
}

impl<'a> Setup<'a> {
    /// What a book of strategy `id` on `broker` trading `specs` (one per slot) is built with
    /// (the engine makes these; tests of a strategy may too).
    pub fn new(id: &'a str, broker: &'a str, specs: &'a [InstrumentSpec]) -> Setup<'a> {
        Setup { id, broker, specs }
    }

    /// The strategy file's `id`.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The broker this instance trades through.
    pub fn broker(&self) -> &'a str {
        self.broker
    }

    /// How many instruments (slots) the strategy trades.
    pub fn slots(&self) -> usize {
        self.specs.len()
    }

    /// Symbol and precisions of the instrument at `slot`.
    ///
    /// # Panics
    /// A slot out of range.
    pub fn spec(&self, slot: usize) -> &'a InstrumentSpec {
        &self.specs[slot]
    }

    /// `quantity` in raw units of the instrument at `slot`. Exact: start-up widened the
    /// instrument's quantity precision to fit every quantity parameter (or refused to start).
    ///
    /// # Panics
    /// A slot out of range.
    pub fn qty(&self, quantity: Quantity, slot: usize) -> Qty {
        Qty(quantity
            .0
            .to_raw(self.specs[slot].qty_precision)
            .unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::domain::Tick;
    use crate::strategy::config::{StrategyParams, parse_strategy};
    use crate::strategy::{Actions, Context, Registry, Strategy, UserKind};

    /// A kind that reads one key with each reader.
    #[derive(Debug)]
    struct Every;
    impl Strategy for Every {
        fn on_tick(&mut self, _: &Context<'_>, _: &Tick, _: &mut Actions) {}
    }
    impl UserKind for Every {
        type Config = (i64, Decimal, &'static str, bool, PriceSource);
        fn configure(p: &mut Params<'_, '_, '_>) -> Option<Self::Config> {
            let n = p.int_or("n", 7, 1, 10);
            let d = p.decimal_or("d", Decimal::ZERO);
            let c = p.choice("c", &["a", "b"], "a");
            let f = p.flag("f", false);
            let s = p.price_source();
            if n == Some(9) {
                p.fail("n", "nine is not allowed");
            }
            Some((n?, d?, c?, f?, s?))
        }
        fn build(_: &Self::Config, _: &Setup<'_>) -> Every {
            Every
        }
    }

    fn parse(params: &str) -> Result<String, Vec<String>> {
        let mut registry = Registry::builtin();
        registry.register::<Every>("every");
        let text = format!(
            "id = \"e\"\nkind = \"every\"\ninstruments = [\"X\"]\nbrokers = [\"paper\"]\n[params]\n{params}"
        );
        let mut errors = Vec::new();
        match parse_strategy(Path::new("e.toml"), &text, &registry, &mut errors) {
            Some(config) if errors.is_empty() => match config.params {
                StrategyParams::User(user) => Ok(format!("{user:?}")),
                other => panic!("a user kind's params, not {other:?}"),
            },
            _ => Err(errors.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn defaults_values_and_errors_of_every_reader() {
        let defaults = parse("").expect("all defaulted");
        assert!(
            defaults.contains("(7, Decimal { mantissa: 0, decimals: 0 }, \"a\", false, Mid)"),
            "{defaults}"
        );
        let given = parse("n = 3\nd = \"1.25\"\nc = \"b\"\nf = true\nprice_source = \"last\"\n")
            .expect("valid");
        assert!(
            given.contains("(3, Decimal { mantissa: 125, decimals: 2 }, \"b\", true, Last)"),
            "{given}"
        );
        let errors =
            parse("n = 11\nd = \"x\"\nc = \"z\"\nf = 1\nprice_source = \"bid\"\nextra = 1\n")
                .expect_err("every key is bad");
        for key in ["n", "d", "c", "f", "price_source", "extra"] {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains(&format!("field 'params.{key}'"))),
                "{key} in {errors:?}"
            );
        }
        let nine = parse("n = 9\n").expect_err("the kind's own rule");
        assert!(
            nine[0].contains("e.toml:6: field 'params.n': nine is not allowed"),
            "{nine:?}"
        );
    }
}
