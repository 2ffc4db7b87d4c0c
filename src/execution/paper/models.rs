//! The paper venue's latency and queue models as one value: what `[venue.NAME]` configures
//! besides costs and fill size, built once at start-up and moved into the venue.

use super::latency::{self, Latency};
use super::queue::QueueModel;
use crate::execution::config::BrokerConfig;

/// The paper venue's latency and queue models (costs and fill size aside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaperModels {
    /// Order-entry latency.
    pub latency: Latency,
    /// Market-data latency, added to the order-entry latency.
    pub md_latency: Latency,
    pub queue: QueueModel,
}

impl PaperModels {
    /// One constant order-entry latency, no market-data latency, no queue: the defaults.
    pub fn constant(latency_ns: u64) -> PaperModels {
        PaperModels {
            latency: Latency::Constant(latency_ns),
            ..PaperModels::default()
        }
    }

    /// The models `[venue.NAME]` configures, their generators seeded from `latency_seed`.
    pub fn from_config(broker: &BrokerConfig) -> PaperModels {
        PaperModels {
            latency: Latency::new(&broker.latency, broker.latency_seed),
            md_latency: Latency::new(&broker.md_latency, latency::md_seed(broker.latency_seed)),
            queue: broker.queue,
        }
    }
}
