//! Ticker settings for tests: a 1 s orphan timeout and passes every 200 ms, so a ticker's whole cycle
//! (lead, detect, step down, advance a research) fits in a test of a few seconds.

use std::time::Duration;

use ktrdr::{
    config::{LeaseSettings, TickerSettings},
    maintenance::{
        CheckpointCleanerConfig, OrphanDetectorConfig, PrunerConfig, ReconciliationExpirerConfig,
        ResearchAdvancerConfig, VacuumConfig,
    },
};

pub fn fast_ticker_settings() -> TickerSettings {
    TickerSettings {
        lease: LeaseSettings {
            orphan_timeout_seconds: 1.0,
            heartbeat_interval_seconds: 0.3,
        },
        orphans: OrphanDetectorConfig {
            orphan_timeout: Duration::from_secs(1),
            check_interval: Duration::from_millis(200),
        },
        reconciliation: ReconciliationExpirerConfig {
            interval: Duration::from_millis(200),
        },
        checkpoint_cleanup: CheckpointCleanerConfig::default(),
        pruning: PrunerConfig::default(),
        vacuum: VacuumConfig::default(),
        research: ResearchAdvancerConfig {
            poll_interval: Duration::from_millis(200),
        },
    }
}
