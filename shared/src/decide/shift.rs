//! Time to shift: how long from a regional failure until clients stop reaching the region,
//! per strategy, from the configuration and the documented behaviour of each step. A model,
//! not a measurement: `resilience time-to-shift` prints it, and the drills measure the real
//! thing. Each phase gives a best and a worst case in seconds and where the figure comes from.

use crate::config::{Strategy, SuiteConfig};
use serde::Serialize;

/// What the configuration does not say: the deployment's alarm and record settings (defaults
/// are infra/template.yaml's) and the function's own time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Assumptions {
    /// The health alarms' period (template: 60).
    pub alarm_period_seconds: u64,
    /// Periods in ALARM before the alarm changes state (template: 3).
    pub evaluation_periods: u64,
    /// The weighted records' TTL (template: 60).
    pub ttl_seconds: u64,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            alarm_period_seconds: 60,
            evaluation_periods: 3,
            ttl_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: &'static str,
    pub best: u64,
    pub worst: u64,
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub strategy: Strategy,
    pub phases: Vec<Phase>,
    pub best: u64,
    pub worst: u64,
}

fn phase(phase: &'static str, best: u64, worst: u64, source: &'static str) -> Phase {
    Phase {
        phase,
        best,
        worst,
        source,
    }
}

/// The phases before and after the switch, which every strategy shares.
fn common(a: &Assumptions) -> (Vec<Phase>, Phase) {
    let detect = a.alarm_period_seconds * a.evaluation_periods;
    (
        vec![
            phase(
                "detection: health alarms reach ALARM",
                detect,
                detect + 60,
                "alarm period x evaluation periods; an alarm is evaluated once a minute (Using Amazon CloudWatch alarms)",
            ),
            phase(
                "delivery: EventBridge to dns-failover (forwarded to the peer region)",
                1,
                10,
                "assumption: EventBridge states no delivery latency; cross-Region rules add one hop",
            ),
            phase(
                "decision and scale-before-shift",
                1,
                5,
                "measured: reaction median 58 ms cold (make bench); capacity read-back seconds on the emulator",
            ),
        ],
        phase(
            "resolvers' caches expire",
            0,
            a.ttl_seconds,
            "the record's TTL: a resolver may answer from cache until it expires",
        ),
    )
}

fn switch(config: &SuiteConfig, s: Strategy) -> Vec<Phase> {
    match s {
        Strategy::HealthMetric => vec![
            phase(
                "switch: drain metric published, its 60 s alarm evaluated",
                5,
                120,
                "standard resolution: the datapoint's minute closes, then the next once-a-minute evaluation; a same-minute reversal waits one minute more",
            ),
            phase(
                "Route 53 health check follows the alarm",
                0,
                30,
                "assumption: Route 53 documents that the check follows the alarm state (HealthCheckConfig), not how fast",
            ),
        ],
        Strategy::RoutingControl => vec![phase(
            "switch: routing control Off, its health check unhealthy",
            1,
            30,
            "ARC data plane (five regional endpoints); assumption: no documented propagation time",
        )],
        Strategy::ControlPlane => vec![phase(
            "switch: record weight 0 until INSYNC",
            1,
            16 + config.dns.insync_wait_seconds.min(60),
            "\"Changes generally propagate to all Route 53 name servers within 60 seconds\" (ChangeResourceRecordSets); plus up to 15.5 s of PriorRequestNotComplete back-off",
        )],
    }
}

/// The modelled time to shift of each strategy alone, in the configured order.
pub fn estimates(config: &SuiteConfig, a: &Assumptions) -> Vec<Estimate> {
    config
        .dns
        .strategies
        .iter()
        .chain(
            [Strategy::HealthMetric, Strategy::RoutingControl, Strategy::ControlPlane]
                .iter()
                .filter(|s| !config.dns.strategies.contains(s)),
        )
        .map(|s| {
            let (mut phases, cache) = common(a);
            phases.extend(switch(config, *s));
            phases.push(cache);
            Estimate {
                strategy: *s,
                best: phases.iter().map(|p| p.best).sum(),
                worst: phases.iter().map(|p| p.worst).sum(),
                phases,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_is_modelled_and_its_total_is_the_sum_of_its_phases() {
        let c = SuiteConfig::from_json(crate::config::EXAMPLE).unwrap();
        let e = estimates(&c, &Assumptions::default());
        let order: Vec<Strategy> = e.iter().map(|e| e.strategy).collect();
        assert_eq!(
            order,
            [Strategy::HealthMetric, Strategy::ControlPlane, Strategy::RoutingControl],
            "configured order first, then the others"
        );
        for est in &e {
            assert_eq!(est.best, est.phases.iter().map(|p| p.best).sum::<u64>());
            assert!(est.best <= est.worst);
            assert!(est.phases.iter().all(|p| !p.source.is_empty()));
        }
        // Detection dominates: three one-minute periods before anything can move.
        assert!(e.iter().all(|e| e.best >= 180), "{e:?}");
        let health_metric = &e[0];
        // 180 + 1 + 1 + 5 + 0 + 0 at best; 240 + 10 + 5 + 120 + 30 + 60 at worst.
        assert_eq!((health_metric.best, health_metric.worst), (187, 465));
    }
}
