//! The position rule of the built-in strategies: their indicators say *what* they see
//! (`Signals`), this rule turns it into a target position from the book's real exposure
//! (filled position plus open orders, `Context::exposure`) and sends the market order that
//! reaches it. Nothing here remembers an "intended" position, so a rejected or cancelled order
//! can never leave a long/flat strategy short or above its quantity.
//!
//! - `long_flat`: target `+qty` when the exposure is not long and `long_entry` fires; target
//!   0 when it is long and `long_exit` fires.
//! - `long_short`: as above, and target `-qty` when the exposure is not short and
//!   `short_entry` fires (checked before `long_exit`, so a long flips straight to short),
//!   0 when short and `short_exit` fires.
//!
//! With every order filled, `long_flat` sends exactly the orders of the old intended-state
//! machine (BUY `qty` on entry when flat, SELL `qty` on exit when long).

use super::actions::{ActionError, Actions};
use super::context::Context;
use crate::domain::{ClientOrderId, Qty, Side};

/// Long/flat or long/short.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    LongFlat,
    LongShort,
}

impl Mode {
    pub const NAMES: [&'static str; 2] = ["long_flat", "long_short"];

    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "long_flat" => Some(Mode::LongFlat),
            "long_short" => Some(Mode::LongShort),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::LongFlat => "long_flat",
            Mode::LongShort => "long_short",
        }
    }

    /// The target position (raw) for `signals` given the current `exposure`, or `None` to
    /// leave things as they are.
    #[inline]
    pub fn target(self, exposure: i64, qty: i64, signals: Signals) -> Option<i64> {
        if exposure <= 0 && signals.long_entry {
            return Some(qty);
        }
        match self {
            Mode::LongFlat => (exposure > 0 && signals.long_exit).then_some(0),
            Mode::LongShort => {
                if exposure >= 0 && signals.short_entry {
                    Some(-qty)
                } else if (exposure > 0 && signals.long_exit)
                    || (exposure < 0 && signals.short_exit)
                {
                    Some(0)
                } else {
                    None
                }
            }
        }
    }

    /// Applies `signals` to the book at `slot`: a market order for the difference between the
    /// target and the exposure, if any.
    ///
    /// # Errors
    /// The action the order needed was refused (budget or capacity; see `Actions`).
    #[inline]
    pub fn act(
        self,
        ctx: &Context<'_>,
        out: &mut Actions,
        slot: usize,
        qty: Qty,
        signals: Signals,
    ) -> Result<Option<ClientOrderId>, ActionError> {
        let exposure = ctx.exposure(slot).0;
        match self.target(exposure, qty.0, signals) {
            Some(target) if target != exposure => {
                let delta = target - exposure;
                let side = if delta > 0 { Side::Buy } else { Side::Sell };
                out.market(slot, side, Qty(delta.abs())).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// What an indicator sees on one input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    pub long_entry: bool,
    pub long_exit: bool,
    pub short_entry: bool,
    pub short_exit: bool,
}

impl Signals {
    /// A stop-and-reverse rule: `up` goes long (and covers a short), `down` goes short (and
    /// closes a long).
    #[inline]
    pub fn reversal(up: bool, down: bool) -> Signals {
        Signals {
            long_entry: up,
            long_exit: down,
            short_entry: down,
            short_exit: up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_table() {
        let up = Signals::reversal(true, false);
        let down = Signals::reversal(false, true);
        let both = Signals::reversal(true, true);
        let cases = [
            ("flat, up, long/flat", Mode::LongFlat, 0, up, Some(5)),
            ("long, up, long/flat", Mode::LongFlat, 5, up, None),
            ("long, down, long/flat", Mode::LongFlat, 5, down, Some(0)),
            ("flat, down, long/flat", Mode::LongFlat, 0, down, None),
            ("partly long, down", Mode::LongFlat, 2, down, Some(0)),
            ("flat, both: entry wins", Mode::LongFlat, 0, both, Some(5)),
            ("long, both: exit", Mode::LongFlat, 5, both, Some(0)),
            ("flat, down, long/short", Mode::LongShort, 0, down, Some(-5)),
            ("long, down: flip", Mode::LongShort, 5, down, Some(-5)),
            ("short, up: flip", Mode::LongShort, -5, up, Some(5)),
            ("short, down: stays", Mode::LongShort, -5, down, None),
        ];
        for (name, mode, exposure, signals, want) in cases {
            assert_eq!(mode.target(exposure, 5, signals), want, "{name}");
        }
        let exit_only = Signals {
            short_exit: true,
            ..Signals::default()
        };
        assert_eq!(Mode::LongShort.target(-5, 5, exit_only), Some(0), "cover");
    }
}
