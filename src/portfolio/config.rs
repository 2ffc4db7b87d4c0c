//! `[portfolio]` of `engine.toml`: initial capital per currency (the base of returns,
//! volatility, Calmar and turnover) and an optional base currency that reports convert every
//! currency's total into, at a fixed rate or at an instrument's last mid.
//!
//! ```toml
//! [portfolio]
//! base_currency = "USDT"
//! initial_capital = { USDT = "100000", BTC = "1" }
//! rates = { BTC = "mid:BTCUSDT-SPOT", USD = "1" }   # base units per unit of the currency
//! ```

use crate::config::fields::Fields;
use crate::domain::{Decimal, Money};

/// How one currency converts into the base currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rate {
    /// Base units per unit of the currency.
    Fixed(Decimal),
    /// The last mid (else last trade) of this instrument, which must be quoted in the base
    /// currency per unit of the currency.
    Mid(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortfolioConfig {
    /// Currency name → initial capital, in file order.
    pub initial_capital: Vec<(String, Money)>,
    pub base_currency: Option<String>,
    /// Currency name → rate into the base currency, in file order.
    pub rates: Vec<(String, Rate)>,
}

impl PortfolioConfig {
    pub fn capital(&self, currency: &str) -> Option<Money> {
        self.initial_capital
            .iter()
            .find(|(c, _)| c == currency)
            .map(|&(_, m)| m)
    }
}

/// Reads `[portfolio]`.
pub(crate) fn read(root: &mut Fields<'_, '_>, into: &mut PortfolioConfig) {
    let Some((table, offset)) = root.opt_table("portfolio") else {
        return;
    };
    let mut portfolio = root.sub(table, "portfolio", offset);
    if let Some((base, _)) = portfolio.opt_str("base_currency") {
        into.base_currency = Some(base);
    }
    if let Some((capital, offset)) = portfolio.opt_table("initial_capital") {
        let mut fields = portfolio.sub(capital, "initial_capital", offset);
        for (currency, _) in capital.iter() {
            let currency = currency.get_ref().as_ref();
            if let Some((mantissa, decimals, offset)) = fields.opt_non_negative_decimal(currency) {
                match Money::parse(&Decimal { mantissa, decimals }.to_string()) {
                    Ok(m) => into.initial_capital.push((currency.to_owned(), m)),
                    Err(e) => fields.invalid(currency, offset, e.to_string()),
                }
            }
        }
        fields.finish();
    }
    if let Some((rates, offset)) = portfolio.opt_table("rates") {
        let mut fields = portfolio.sub(rates, "rates", offset);
        for (currency, value) in rates.iter() {
            let currency = currency.get_ref().as_ref();
            let is_mid =
                matches!(value.get_ref(), toml::de::DeValue::String(s) if s.starts_with("mid:"));
            if is_mid {
                if let Some((text, offset)) = fields.opt_str(currency) {
                    let symbol = text.trim_start_matches("mid:");
                    if symbol.is_empty() {
                        fields.invalid(currency, offset, "expected \"mid:SYMBOL\" with a symbol");
                    } else {
                        into.rates
                            .push((currency.to_owned(), Rate::Mid(symbol.to_owned())));
                    }
                }
            } else if let Some((mantissa, decimals, offset)) = fields.opt_decimal(currency) {
                if mantissa <= 0 {
                    fields.invalid(currency, offset, "expected a rate > 0 or \"mid:SYMBOL\"");
                } else {
                    into.rates.push((
                        currency.to_owned(),
                        Rate::Fixed(Decimal { mantissa, decimals }),
                    ));
                }
            }
        }
        fields.finish();
    }
    portfolio.finish();
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::EngineConfig;

    #[test]
    fn reads_capital_base_and_rates_and_names_bad_fields() {
        let config = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[portfolio]\nbase_currency = \"USDT\"\n\
             initial_capital = { USDT = \"100000\", BTC = 1.5 }\n\
             rates = { BTC = \"mid:BTCUSDT\", USD = \"0.999\" }\n",
        )
        .expect("valid");
        let p = &config.portfolio;
        assert_eq!(p.base_currency.as_deref(), Some("USDT"));
        assert_eq!(p.capital("BTC"), Some(Money::parse("1.5").expect("money")));
        assert_eq!(p.rates[0], ("BTC".into(), Rate::Mid("BTCUSDT".into())));
        let bad = EngineConfig::parse(
            Path::new("e.toml"),
            "[venue.paper]\n[portfolio]\ninitial_capital = { USDT = \"-1\" }\nrates = { BTC = 0 }\nbase = 1\n",
        )
        .expect_err("invalid")
        .to_string();
        for needle in [
            ":3: field 'portfolio.initial_capital.USDT'",
            ":4: field 'portfolio.rates.BTC'",
            "portfolio.base",
        ] {
            assert!(bad.contains(needle), "missing {needle} in {bad}");
        }
    }
}
