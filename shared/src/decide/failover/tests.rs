use super::*;
use crate::model::{DecisionName, Severity};
use crate::signal::{AlarmChange, AlarmType, Channel, HealthEvent, OperatorCommand, OperatorCommandDetail, RegionSource, ScheduleTick};
use proptest::prelude::*;

const SOUTH: &str = "eu-south-1";
const NORTH: &str = "eu-north-1";

fn r(s: &str) -> Region {
    s.parse().unwrap()
}

fn config() -> SuiteConfig {
    crate::fixtures::example_config()
}

fn t0() -> DateTime<Utc> {
    "2026-11-24T17:00:00Z".parse().unwrap()
}

/// Every health alarm of `region` in `state`, composite OK unless all are in ALARM.
fn region(config: &SuiteConfig, region: &str, failing: usize) -> RegionHealth {
    let rc = &config.regions[&r(region)];
    let mut alarms = BTreeMap::new();
    for (i, a) in rc.health_alarms.iter().enumerate() {
        alarms.insert(a.clone(), if i < failing { AlarmState::Alarm } else { AlarmState::Ok });
    }
    alarms.insert(rc.composite_alarm.clone().unwrap(), AlarmState::Ok);
    RegionHealth::read(alarms)
}

fn view(c: &SuiteConfig, south_failing: usize, north_failing: usize) -> HealthView {
    [
        (r(SOUTH), region(c, SOUTH, south_failing)),
        (r(NORTH), region(c, NORTH, north_failing)),
    ]
    .into()
}

fn alarm(name: &str, region: &str, state: AlarmState) -> Signal {
    Signal {
        key: format!("alarm:{name}:{state}"),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Alarm(AlarmChange {
            alarm_name: name.into(),
            alarm_arn: None,
            region: r(region),
            region_source: RegionSource::Configuration,
            alarm_type: AlarmType::Metric,
            state,
            previous_state: None,
            reason: String::new(),
            tags: BTreeMap::new(),
            dimensions: BTreeMap::new(),
        }),
    }
}

/// An operator command signed by the test operator key at `t0`.
fn command(kind: OperatorCommandKind, region: Option<&str>) -> Signal {
    command_at(kind, region, t0())
}

/// An operator command signed by the test operator key at `at`.
fn command_at(kind: OperatorCommandKind, region: Option<&str>, at: DateTime<Utc>) -> Signal {
    let mut detail = OperatorCommandDetail {
        requested_by: "arn:aws:iam::123456789012:role/aworld-oncall".into(),
        reason: "drill".into(),
        region: region.map(r),
        principal: None,
        proof: None,
    };
    crate::fixtures::operator_key().sign(kind, &mut detail, at);
    Signal {
        key: "operator:1".into(),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Operator(OperatorCommand {
            command: kind,
            source: "aworld.operator".into(),
            detail,
        }),
    }
}

/// The decision on `aworld-health-api-5xx-eu-south-1` entering ALARM now.
fn on_south_5xx(c: &SuiteConfig, state: &DnsState, health: &HealthView) -> Decision {
    decide(
        c,
        state,
        &alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Alarm),
        health,
        t0(),
    )
}

fn reason(d: &Decision) -> NoActionReason {
    match d {
        Decision::NoAction(n) => n.reason,
        other => panic!("expected no action, got {other:?}"),
    }
}

#[test]
fn quorum_of_alarms_fails_the_region_over_to_the_healthy_peer() {
    let c = config();
    let d = on_south_5xx(&c, &DnsState::default(), &view(&c, 2, 0));
    let Decision::Failover(p) = d else { panic!("{d:?}") };
    assert_eq!((p.drain, p.target, p.manual), (r(SOUTH), r(NORTH), false));
}

#[test]
fn a_single_alarm_below_quorum_does_nothing() {
    let c = config();
    let d = on_south_5xx(&c, &DnsState::default(), &view(&c, 1, 0));
    assert_eq!(reason(&d), NoActionReason::RegionNotFailing);
}

#[test]
fn composite_alarm_alone_fails_the_region() {
    let c = config();
    let mut h = view(&c, 0, 0);
    h.get_mut(&r(SOUTH))
        .unwrap()
        .alarms
        .insert("aworld-health-region-unhealthy-eu-south-1".into(), AlarmState::Alarm);
    let d = decide(
        &c,
        &DnsState::default(),
        &alarm("aworld-health-region-unhealthy-eu-south-1", SOUTH, AlarmState::Alarm),
        &h,
        t0(),
    );
    assert!(matches!(d, Decision::Failover(_)), "{d:?}");
}

#[test]
fn unreadable_region_counts_as_failing_but_never_as_a_target() {
    let c = config();
    let mut h = view(&c, 1, 0);
    h.get_mut(&r(SOUTH)).unwrap().reachable = false;
    let d = on_south_5xx(&c, &DnsState::default(), &h);
    assert!(matches!(d, Decision::Failover(_)), "{d:?}");
    let mut h = view(&c, 3, 0);
    h.get_mut(&r(NORTH)).unwrap().reachable = false;
    let d = on_south_5xx(&c, &DnsState::default(), &h);
    assert_eq!(reason(&d), NoActionReason::BothRegionsFailing);
}

#[test]
fn a_refusal_that_rests_on_the_target_being_unreadable_is_inconclusive() {
    let c = config();
    let signal = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Alarm);
    let state = DnsState::default();
    // The healthy region's alarms could not be read (a transient fault): no failover, but the
    // event must be retried, not consumed.
    let mut h = view(&c, 2, 0);
    h.get_mut(&r(NORTH)).unwrap().reachable = false;
    h.get_mut(&r(NORTH)).unwrap().alarms.clear();
    let d = decide(&c, &state, &signal, &h, t0());
    assert!(!d.moves_traffic(), "{d:?}");
    assert_eq!(inconclusive(&c, &state, &signal, &h, t0(), &d), vec![r(NORTH)]);
    // The failing region being unreadable is evidence, and the decision moves traffic anyway.
    let mut h = view(&c, 1, 0);
    h.get_mut(&r(SOUTH)).unwrap().reachable = false;
    let d = decide(&c, &state, &signal, &h, t0());
    assert!(inconclusive(&c, &state, &signal, &h, t0(), &d).is_empty(), "{d:?}");
    // Below quorum with everything readable: a conclusive no.
    let h = view(&c, 1, 0);
    let d = decide(&c, &state, &signal, &h, t0());
    assert!(!d.moves_traffic() && inconclusive(&c, &state, &signal, &h, t0(), &d).is_empty());
    // Already drained: nothing health could change.
    let drained = DnsState {
        drained: [r(SOUTH)].into(),
        ..DnsState::default()
    };
    let mut h = view(&c, 2, 0);
    h.get_mut(&r(SOUTH)).unwrap().reachable = false;
    let d = decide(&c, &drained, &signal, &h, t0());
    assert!(inconclusive(&c, &drained, &signal, &h, t0(), &d).is_empty(), "{d:?}");
}

#[test]
fn a_throttled_or_refused_read_is_never_evidence_of_failure() {
    let c = config();
    let state = DnsState::default();
    let signal = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Alarm);
    // One alarm in ALARM (below quorum) and the rest unread because of throttling: not failing,
    // and the event is retried rather than consumed only if reading could change the decision.
    let mut h = view(&c, 1, 0);
    h.get_mut(&r(SOUTH)).unwrap().unread = Some(Unread::Throttled("Throttling: Rate exceeded".into()));
    let v = verdict(&c, &r(SOUTH), h.get(&r(SOUTH)), &state);
    assert!(!v.failing && !v.healthy, "{v:?}");
    let d = decide(&c, &state, &signal, &h, t0());
    assert_eq!(reason(&d), NoActionReason::RegionNotFailing, "{d:?}");
    // ...but the alarm event is not consumed: read, the region might be failing, and its
    // state-change event will not come again. Retried.
    assert_eq!(inconclusive(&c, &state, &signal, &h, t0(), &d), vec![r(SOUTH)]);
    // A throttled target: inconclusive, retried.
    let mut h = view(&c, 2, 0);
    h.get_mut(&r(NORTH)).unwrap().unread = Some(Unread::Throttled("Throttling".into()));
    let d = decide(&c, &state, &signal, &h, t0());
    assert!(!d.moves_traffic());
    assert_eq!(inconclusive(&c, &state, &signal, &h, t0(), &d), vec![r(NORTH)]);
    // A refusal anywhere: a configuration error, critical, no action even with quorum.
    let mut h = view(&c, 3, 0);
    h.get_mut(&r(NORTH)).unwrap().unread = Some(Unread::Refused("AccessDenied".into()));
    let d = decide(&c, &state, &signal, &h, t0());
    assert_eq!(reason(&d), NoActionReason::HealthReadRefused, "{d:?}");
    assert_eq!(NoActionReason::HealthReadRefused.severity(), Some(Severity::Critical));
    assert!(
        inconclusive(&c, &state, &signal, &h, t0(), &d).is_empty(),
        "not retried: a person must fix it"
    );
    // A freeze still works while the alarms are refused.
    let freeze = command(OperatorCommandKind::Freeze, None);
    assert!(matches!(decide(&c, &state, &freeze, &h, t0()), Decision::Freeze { .. }));
}

#[test]
fn both_regions_failing_is_no_action_and_critical() {
    let c = config();
    let d = on_south_5xx(&c, &DnsState::default(), &view(&c, 3, 2));
    assert_eq!(reason(&d), NoActionReason::BothRegionsFailing);
    assert_eq!(reason(&d).severity(), Some(Severity::Critical));
}

#[test]
fn target_with_one_alarm_not_ok_is_never_a_target() {
    let c = config();
    let mut h = view(&c, 3, 0);
    h.get_mut(&r(NORTH))
        .unwrap()
        .alarms
        .insert("aworld-health-canary-eu-north-1".into(), AlarmState::InsufficientData);
    let d = on_south_5xx(&c, &DnsState::default(), &h);
    assert_eq!(reason(&d), NoActionReason::TargetNotHealthy);
}

#[test]
fn a_configured_alarm_that_does_not_exist_is_named_as_a_configuration_error() {
    let c = config();
    let mut h = view(&c, 3, 0);
    h.get_mut(&r(NORTH)).unwrap().alarms.remove("aworld-health-canary-eu-north-1");
    let d = on_south_5xx(&c, &DnsState::default(), &h);
    assert_eq!(reason(&d), NoActionReason::TargetNotHealthy);
    let why = d.why();
    assert!(
        why.contains("aworld-health-canary-eu-north-1 DOES NOT EXIST in eu-north-1") && why.contains("configuration error"),
        "{why}"
    );
}

#[test]
fn the_last_serving_region_is_never_drained() {
    let c = config();
    let state = DnsState {
        drained: [r(SOUTH)].into(),
        ..Default::default()
    };
    let d = decide(
        &c,
        &state,
        &alarm("aworld-health-api-5xx-eu-north-1", NORTH, AlarmState::Alarm),
        &view(&c, 0, 3),
        t0(),
    );
    assert_eq!(reason(&d), NoActionReason::LastServingRegion);
}

#[test]
fn an_already_drained_region_is_not_drained_again() {
    let c = config();
    let state = DnsState {
        drained: [r(SOUTH)].into(),
        ..Default::default()
    };
    let d = on_south_5xx(&c, &state, &view(&c, 3, 0));
    assert_eq!(reason(&d), NoActionReason::AlreadyDrained);
}

#[test]
fn recovery_inside_hold_down_does_not_fail_back() {
    let mut c = config();
    c.policy.auto_failback = true;
    let state = DnsState {
        drained: [r(SOUTH)].into(),
        last_failover_at: Some(t0()),
        healthy_since: [(r(SOUTH), t0())].into(),
        ..Default::default()
    };
    let d = decide(
        &c,
        &state,
        &alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Ok),
        &view(&c, 0, 0),
        t0() + Duration::seconds(60),
    );
    assert_eq!(reason(&d), NoActionReason::HoldDown);
}

#[test]
fn failback_is_manual_by_default() {
    let c = config();
    let state = DnsState {
        drained: [r(SOUTH)].into(),
        last_failover_at: Some(t0()),
        ..Default::default()
    };
    let later = t0() + Duration::hours(3);
    let d = decide(
        &c,
        &state,
        &alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Ok),
        &view(&c, 0, 0),
        later,
    );
    assert_eq!(reason(&d), NoActionReason::FailbackIsManual);
}

#[test]
fn automatic_failback_needs_an_uninterrupted_healthy_period() {
    let mut c = config();
    c.policy.auto_failback = true;
    let later = t0() + Duration::hours(3);
    let mut state = DnsState {
        drained: [r(SOUTH)].into(),
        last_failover_at: Some(t0()),
        healthy_since: [(r(SOUTH), later - Duration::seconds(60))].into(),
        ..Default::default()
    };
    let signal = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Ok);
    assert_eq!(
        reason(&decide(&c, &state, &signal, &view(&c, 0, 0), later)),
        NoActionReason::NotHealthyLongEnough
    );
    state.healthy_since.insert(r(SOUTH), later - Duration::seconds(900));
    assert!(matches!(
        decide(&c, &state, &signal, &view(&c, 0, 0), later),
        Decision::Failback(FailbackPlan { manual: false, .. })
    ));
}

#[test]
fn observe_resets_the_healthy_period_on_any_interruption() {
    let c = config();
    let s = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Ok);
    let state = observe(&c, &DnsState::default(), &s, &view(&c, 0, 0), t0());
    assert_eq!(state.healthy_since.get(&r(SOUTH)), Some(&t0()));
    let state = observe(&c, &state, &s, &view(&c, 0, 0), t0() + Duration::seconds(10));
    assert_eq!(
        state.healthy_since.get(&r(SOUTH)),
        Some(&t0()),
        "stays from the first healthy reading"
    );
    let state = observe(&c, &state, &s, &view(&c, 1, 0), t0() + Duration::seconds(20));
    assert_eq!(state.healthy_since.get(&r(SOUTH)), None);
}

#[test]
fn kill_switch_and_freeze_withhold_the_plan_but_report_it() {
    let mut c = config();
    c.kill_switch = true;
    let s = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Alarm);
    let d = decide(&c, &DnsState::default(), &s, &view(&c, 3, 0), t0());
    let Decision::NoAction(n) = &d else { panic!("{d:?}") };
    assert_eq!(n.reason, NoActionReason::KillSwitch);
    assert!(matches!(n.withheld.as_deref(), Some(Decision::Failover(_))));

    let c = config();
    let frozen = DnsState {
        frozen: true,
        ..Default::default()
    };
    assert_eq!(reason(&decide(&c, &frozen, &s, &view(&c, 3, 0), t0())), NoActionReason::Frozen);
}

#[test]
fn operator_commands_work_while_frozen_but_still_never_to_an_unhealthy_region() {
    let c = config();
    let frozen = DnsState {
        frozen: true,
        ..Default::default()
    };
    let d = decide(
        &c,
        &frozen,
        &command(OperatorCommandKind::Failover, Some(NORTH)),
        &view(&c, 0, 0),
        t0(),
    );
    assert!(matches!(d, Decision::Failover(FailoverPlan { manual: true, .. })), "{d:?}");
    let d = decide(
        &c,
        &frozen,
        &command(OperatorCommandKind::Failover, Some(NORTH)),
        &view(&c, 0, 1),
        t0(),
    );
    assert!(
        matches!(&d, Decision::Refused { why } if why.contains("Failover refused") && why.contains("is not healthy")),
        "a command a safety rule stops is refused, and says so: {d:?}"
    );
}

#[test]
fn manual_failback_restores_a_healthy_drained_region_even_inside_hold_down() {
    let c = config();
    let state = DnsState {
        drained: [r(SOUTH)].into(),
        last_failover_at: Some(t0()),
        ..Default::default()
    };
    let d = decide(
        &c,
        &state,
        &command(OperatorCommandKind::Failback, Some(SOUTH)),
        &view(&c, 0, 0),
        t0(),
    );
    assert!(matches!(d, Decision::Failback(FailbackPlan { manual: true, .. })), "{d:?}");
    let d = decide(
        &c,
        &state,
        &command(OperatorCommandKind::Failback, Some(SOUTH)),
        &view(&c, 1, 0),
        t0(),
    );
    assert!(
        matches!(&d, Decision::Refused { why } if why.contains("Failback refused") && why.contains("is not healthy")),
        "a failback to an unhealthy region is refused, and says so: {d:?}"
    );
    assert_eq!(d.name(), DecisionName::Refused);
}

#[test]
fn freeze_and_unfreeze_commands() {
    let c = config();
    let d = decide(
        &c,
        &DnsState::default(),
        &command(OperatorCommandKind::Freeze, None),
        &view(&c, 0, 0),
        t0(),
    );
    let frozen = apply(&DnsState::default(), &d, t0());
    assert!(frozen.frozen);
    let d = decide(&c, &frozen, &command(OperatorCommandKind::Unfreeze, None), &view(&c, 0, 0), t0());
    assert!(!apply(&frozen, &d, t0()).frozen);
}

#[test]
fn command_from_a_principal_not_allowed_is_refused() {
    let c = config();
    let mut s = command(OperatorCommandKind::Failover, Some(NORTH));
    if let SignalKind::Operator(cmd) = &mut s.kind {
        cmd.detail.requested_by = "arn:aws:iam::999999999999:user/mallory".into();
    }
    assert!(matches!(
        decide(&c, &DnsState::default(), &s, &view(&c, 0, 0), t0()),
        Decision::Refused { .. }
    ));
}

#[test]
fn alarms_that_are_not_health_alarms_or_of_unknown_regions_do_nothing() {
    let c = config();
    let d = decide(
        &c,
        &DnsState::default(),
        &alarm("disk-full", SOUTH, AlarmState::Alarm),
        &view(&c, 3, 0),
        t0(),
    );
    assert_eq!(reason(&d), NoActionReason::NotAHealthSignal);
    let d = decide(
        &c,
        &DnsState::default(),
        &alarm("aworld-health-api-5xx-eu-south-1", "us-east-1", AlarmState::Alarm),
        &view(&c, 3, 0),
        t0(),
    );
    assert_eq!(reason(&d), NoActionReason::UnknownRegion);
}

#[test]
fn open_health_issue_is_one_vote_towards_quorum() {
    let c = config();
    let health = Signal {
        key: "health:x".into(),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Health(HealthEvent {
            event_arn: "arn:aws:health:eu-south-1::event/LAMBDA/X/1".into(),
            service: "LAMBDA".into(),
            event_type_code: "AWS_LAMBDA_OPERATIONAL_ISSUE".into(),
            category: "issue".into(),
            status: HealthStatus::Open,
            region: r(SOUTH),
            description: None,
            taken_as_it_came: false,
        }),
    };
    let h = view(&c, 1, 0);
    let state = observe(&c, &DnsState::default(), &health, &h, t0());
    assert!(matches!(decide(&c, &state, &health, &h, t0()), Decision::Failover(_)));
    let alone = observe(&c, &DnsState::default(), &health, &view(&c, 0, 0), t0());
    assert_eq!(
        reason(&decide(&c, &alone, &health, &view(&c, 0, 0), t0())),
        NoActionReason::RegionNotFailing
    );
}

#[test]
fn an_open_health_issue_closes_on_its_closing_event_or_expires_without_it() {
    let c = config();
    let event = |status: HealthStatus, arn: &str| Signal {
        key: format!("health:{arn}:{status:?}"),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Health(HealthEvent {
            event_arn: arn.into(),
            service: "LAMBDA".into(),
            event_type_code: "AWS_LAMBDA_OPERATIONAL_ISSUE".into(),
            category: "issue".into(),
            status,
            region: r(SOUTH),
            description: None,
            taken_as_it_came: false,
        }),
    };
    let h = view(&c, 0, 0);
    let tick = Signal {
        key: "tick".into(),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Schedule(ScheduleTick { schedule: "s".into() }),
    };
    let open = observe(&c, &DnsState::default(), &event(HealthStatus::Open, "arn:1"), &h, t0());
    assert_eq!(open.open_health_issues[&r(SOUTH)].len(), 1);
    // Closed by its closing event.
    let closed = observe(&c, &open, &event(HealthStatus::Closed, "arn:1"), &h, t0() + Duration::hours(1));
    assert!(closed.open_health_issues.is_empty() && closed.health_issue_seen.is_empty());
    // Never closed: still open after 23 h, forgotten after the configured 24 h.
    let later = observe(&c, &open, &tick, &h, t0() + Duration::hours(23));
    assert_eq!(later.open_health_issues[&r(SOUTH)].len(), 1);
    let expired = observe(&c, &open, &tick, &h, t0() + Duration::hours(24));
    assert!(expired.open_health_issues.is_empty(), "{expired:?}");
    assert!(verdict(&c, &r(SOUTH), h.get(&r(SOUTH)), &expired).healthy);
}

#[test]
fn an_open_scheduled_change_is_not_evidence_of_failure_and_does_not_block_a_target() {
    let c = config();
    let notice = |region: &str| Signal {
        key: "health:notice".into(),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Health(HealthEvent {
            event_arn: format!("arn:aws:health:{region}::event/LAMBDA/AWS_LAMBDA_PLANNED_LIFECYCLE_EVENT/1"),
            service: "LAMBDA".into(),
            event_type_code: "AWS_LAMBDA_PLANNED_LIFECYCLE_EVENT".into(),
            category: "scheduledChange".into(),
            status: HealthStatus::Open,
            region: r(region),
            description: None,
            taken_as_it_came: false,
        }),
    };
    // One alarm in ALARM plus an open notice for the failing region: no quorum.
    let h = view(&c, 1, 0);
    let state = observe(&c, &DnsState::default(), &notice(SOUTH), &h, t0());
    assert!(state.open_health_issues.is_empty(), "{:?}", state.open_health_issues);
    assert_eq!(
        reason(&decide(&c, &state, &notice(SOUTH), &h, t0())),
        NoActionReason::RegionNotFailing
    );
    // A notice open for the backup region does not make it an unhealthy target.
    let state = observe(&c, &DnsState::default(), &notice(NORTH), &view(&c, 3, 0), t0());
    let d = on_south_5xx(&c, &state, &view(&c, 3, 0));
    assert!(matches!(d, Decision::Failover(_)), "{d:?}");
}

/// An open Lambda issue in the backup region (event `n`), as delivered; `taken_as_it_came`:
/// counted although the Health API could not confirm it.
fn lambda_issue_in_north(n: u32, taken_as_it_came: bool) -> Signal {
    Signal {
        key: format!("health:north:{n}"),
        at: t0(),
        channel: Channel::EventBridge,
        kind: SignalKind::Health(HealthEvent {
            event_arn: format!("arn:aws:health:eu-north-1::event/LAMBDA/AWS_LAMBDA_OPERATIONAL_ISSUE/{n}"),
            service: "LAMBDA".into(),
            event_type_code: "AWS_LAMBDA_OPERATIONAL_ISSUE".into(),
            category: "issue".into(),
            status: HealthStatus::Open,
            region: r(NORTH),
            description: None,
            taken_as_it_came,
        }),
    }
}

#[test]
fn an_issue_the_health_api_could_not_confirm_blocks_automation_but_never_a_signed_manual_command() {
    let c = config();
    let open_in_north = |taken_as_it_came: bool| lambda_issue_in_north(1, taken_as_it_came);
    let h = view(&c, 3, 0);
    let manual = command(OperatorCommandKind::Failover, Some(NORTH));
    for (taken, manual_passes) in [(true, true), (false, false)] {
        let state = observe(&c, &DnsState::default(), &open_in_north(taken), &h, t0());
        assert_eq!(state.unconfirmed_health_issues.len(), usize::from(taken));
        // Automation stays careful either way: the backup region has an open issue.
        assert!(
            !matches!(on_south_5xx(&c, &state, &h), Decision::Failover(_)),
            "automatic failover into an open issue"
        );
        let d = decide(&c, &state, &manual, &h, t0());
        assert_eq!(
            matches!(d, Decision::Failover(_)),
            manual_passes,
            "taken as it came: {taken}: {d:?}"
        );
    }
}

#[test]
fn a_signed_command_clears_a_regions_open_health_issues_and_a_manual_failover_may_then_go_there() {
    let c = config();
    let h = view(&c, 3, 0);
    let issue = lambda_issue_in_north(2, false);
    let state = observe(&c, &DnsState::default(), &issue, &h, t0());
    let manual = command(OperatorCommandKind::Failover, Some(NORTH));
    assert!(!matches!(decide(&c, &state, &manual, &h, t0()), Decision::Failover(_)));
    let clear = command(OperatorCommandKind::ClearHealthIssues, Some(NORTH));
    let d = decide(&c, &state, &clear, &h, t0());
    assert_eq!(
        d,
        Decision::ClearHealthIssues {
            region: r(NORTH),
            by: "arn:aws:iam::123456789012:role/aworld-oncall".into()
        }
    );
    let cleared = apply(&state, &d, t0());
    assert!(
        cleared.open_health_issues.is_empty() && cleared.health_issue_seen.is_empty(),
        "{cleared:?}"
    );
    assert!(matches!(decide(&c, &cleared, &manual, &h, t0()), Decision::Failover(_)));
    // The same command unsigned is refused.
    let mut unsigned = clear.clone();
    if let SignalKind::Operator(cmd) = &mut unsigned.kind {
        cmd.detail.proof = None;
    }
    assert!(matches!(decide(&c, &state, &unsigned, &h, t0()), Decision::Refused { .. }));
}

#[test]
fn freezes_and_unfreezes_apply_in_the_order_they_were_signed_not_the_order_they_arrive() {
    let c = config();
    let h = view(&c, 0, 0);
    let now = t0() + Duration::minutes(2);
    let freeze = command_at(OperatorCommandKind::Freeze, None, t0() + Duration::seconds(60));
    let unfreeze_earlier = command_at(OperatorCommandKind::Unfreeze, None, t0() + Duration::seconds(30));
    // The freeze arrives first: the older unfreeze, arriving late, is refused.
    let d = decide(&c, &DnsState::default(), &freeze, &h, now);
    let frozen = apply(&DnsState::default(), &d, now);
    assert!(
        frozen.frozen && frozen.frozen_at == Some(t0() + Duration::seconds(60)),
        "{frozen:?}"
    );
    let late = decide(&c, &frozen, &unfreeze_earlier, &h, now);
    assert!(
        matches!(&late, Decision::Refused { why } if why.contains("in the order they were signed")),
        "{late:?}"
    );
    // Arriving the other way round, the freeze (signed later) wins too.
    let d = decide(&c, &DnsState::default(), &unfreeze_earlier, &h, now);
    let unfrozen = apply(&DnsState::default(), &d, now);
    let d = decide(&c, &unfrozen, &freeze, &h, now);
    assert!(apply(&unfrozen, &d, now).frozen);
}

#[test]
fn times_in_the_future_in_a_state_copy_are_not_believed_so_a_forged_freeze_can_be_lifted() {
    let c = config();
    let h = view(&c, 0, 0);
    let now = t0();
    let forged = DnsState {
        frozen: true,
        frozen_at: Some(now + Duration::days(3650)),
        last_failover_at: Some(now + Duration::days(3650)),
        changed_at: [(r(SOUTH), now + Duration::days(3650))].into(),
        drained: [r(SOUTH)].into(),
        ..DnsState::default()
    };
    let (believed, dropped) = believable(&forged, now);
    assert_eq!(dropped.len(), 3, "{dropped:?}");
    assert_eq!((believed.frozen_at, believed.last_failover_at), (None, None));
    assert!(believed.changed_at.is_empty());
    // Within the skew a time is believed (clocks differ by seconds).
    let (near, none) = believable(
        &DnsState {
            frozen_at: Some(now + Duration::seconds(60)),
            ..DnsState::default()
        },
        now,
    );
    assert!(none.is_empty() && near.frozen_at.is_some());
    // Merged with an honest copy, the forged freeze no longer outranks an unfreeze.
    let view_state = merge(&DnsState::default(), &[believed]);
    let unfreeze = command_at(OperatorCommandKind::Unfreeze, None, now);
    let d = decide(&c, &view_state, &unfreeze, &h, now);
    assert!(matches!(d, Decision::Unfreeze { .. }), "{d:?}");
    assert!(!apply(&view_state, &d, now).frozen);
}

// ---- invariants over random sequences ----

#[derive(Debug, Clone)]
enum Step {
    Alarm { south: bool, index: usize, state: AlarmState },
    Operator(OperatorCommandKind, bool),
    Tick,
    Unreachable { south: bool, yes: bool },
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    let state = prop_oneof![Just(AlarmState::Alarm), Just(AlarmState::Ok), Just(AlarmState::InsufficientData)];
    prop_oneof![
        6 => (any::<bool>(), 0usize..4, state).prop_map(|(south, index, state)| Step::Alarm { south, index, state }),
        1 => (prop::sample::select(vec![OperatorCommandKind::Failover, OperatorCommandKind::Failback, OperatorCommandKind::Freeze, OperatorCommandKind::Unfreeze]), any::<bool>())
            .prop_map(|(k, south)| Step::Operator(k, south)),
        1 => Just(Step::Tick),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(south, yes)| Step::Unreachable { south, yes }),
        3 => (1i64..4000).prop_map(Step::Wait),
    ]
}

fn policies() -> impl Strategy<Value = SuiteConfig> {
    (1usize..=3, any::<bool>(), 0u64..3600, 0u64..1800, any::<bool>()).prop_map(|(quorum, auto, hold, healthy, kill)| {
        let mut c = config();
        c.policy.quorum = quorum;
        c.policy.auto_failback = auto;
        c.policy.hold_down_seconds = hold;
        c.policy.failback_healthy_seconds = healthy;
        c.kill_switch = kill;
        c
    })
}

proptest! {
    // 2,000 sequences in `make test`; `make soak` sets PROPTEST_CASES=10000.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000), ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_over_random_event_sequences(c in policies(), steps in prop::collection::vec(step(), 1..60)) {
        let mut health = view(&c, 0, 0);
        let mut state = DnsState::default();
        let mut now = t0();
        let regions = [r(SOUTH), r(NORTH)];
        for s in steps {
            let signal = match s {
                Step::Wait(secs) => { now += Duration::seconds(secs); continue; }
                Step::Unreachable { south, yes } => {
                    health.get_mut(&regions[usize::from(!south)]).unwrap().reachable = !yes;
                    continue;
                }
                Step::Alarm { south, index, state: st } => {
                    let region = &regions[usize::from(!south)];
                    let rc = &c.regions[region];
                    let names: Vec<String> = rc.health_alarms.iter().chain(rc.composite_alarm.iter()).cloned().collect();
                    let name = names[index % names.len()].clone();
                    health.get_mut(region).unwrap().alarms.insert(name.clone(), st);
                    alarm(&name, region.as_str(), st)
                }
                Step::Operator(k, south) => command(k, Some(regions[usize::from(!south)].as_str())),
                Step::Tick => Signal { key: "t".into(), at: now, channel: Channel::EventBridge, kind: SignalKind::Schedule(ScheduleTick { schedule: "s".into() }) },
            };
            state = observe(&c, &state, &signal, &health, now);
            let d = decide(&c, &state, &signal, &health, now);
            match &d {
                Decision::Failover(p) => {
                    // Never the last region, never towards an unhealthy one.
                    let serving_after = regions.iter().filter(|r| !state.drained.contains(*r) && **r != p.drain).count();
                    prop_assert!(serving_after >= 1, "drained the last region: {d:?}");
                    prop_assert!(verdict(&c, &p.target, health.get(&p.target), &state).healthy, "target unhealthy: {d:?}");
                    prop_assert!(p.manual || (!c.kill_switch && !state.frozen), "automatic action while switched off: {d:?}");
                }
                Decision::Failback(p) => {
                    prop_assert!(verdict(&c, &p.region, health.get(&p.region), &state).healthy, "failback to unhealthy: {d:?}");
                    if !p.manual {
                        prop_assert!(c.policy.auto_failback && !c.kill_switch && !state.frozen);
                        let at = state.last_failover_at.unwrap();
                        prop_assert!(now >= at + Duration::seconds(c.policy.hold_down_seconds as i64), "failback inside hold-down");
                        let since = state.healthy_since[&p.region];
                        prop_assert!(now - since >= Duration::seconds(c.policy.failback_healthy_seconds as i64));
                    }
                }
                _ => {}
            }
            state = apply(&state, &d, now);
            prop_assert!(state.drained.len() < regions.len(), "every region drained");
        }
    }
}

// ---- several regions, each deciding on its own copy of the state ----

const CENTRAL: &str = "eu-central-1";

/// The example with a third region, eu-central-1, preferred after the primary (priority 50).
fn three_regions() -> SuiteConfig {
    let mut v: serde_json::Value = serde_json::from_str(crate::config::EXAMPLE).unwrap();
    v["regions"][CENTRAL] = serde_json::json!({
        "role": "backup",
        "priority": 50,
        "health_alarms": ["aworld-health-api-5xx-eu-central-1", "aworld-health-api-latency-eu-central-1", "aworld-health-canary-eu-central-1"],
        "composite_alarm": "aworld-health-region-unhealthy-eu-central-1"
    });
    v["dns"]["records"][CENTRAL] = serde_json::json!({ "set_identifier": CENTRAL, "weight": 100 });
    // The practice drill is for two regions.
    v.as_object_mut().unwrap().remove("failover_drill");
    v["notifications"]["topics"][CENTRAL] = serde_json::json!("arn:aws:sns:eu-central-1:123456789012:aworld-alerts");
    SuiteConfig::from_json(&v.to_string()).unwrap()
}

fn view3(c: &SuiteConfig, failing: [usize; 3]) -> HealthView {
    [SOUTH, CENTRAL, NORTH]
        .iter()
        .zip(failing)
        .map(|(name, n)| (r(name), region(c, name, n)))
        .collect()
}

#[test]
fn with_three_regions_the_failing_one_drains_to_the_preferred_healthy_one_and_only_that_region_acts() {
    let c = three_regions();
    let h = view3(&c, [3, 0, 0]);
    let signal = alarm("aworld-health-api-5xx-eu-south-1", SOUTH, AlarmState::Alarm);
    let state = DnsState::default();
    let d = decide(&c, &state, &signal, &h, t0());
    let Decision::Failover(plan) = &d else { panic!("{d:?}") };
    assert_eq!(plan.target, r(CENTRAL), "priority 50 before the backup's default 100");
    assert_eq!(actor(&c, &state, &r(SOUTH)), Some(r(CENTRAL)));
    let acting: Vec<&str> = [SOUTH, CENTRAL, NORTH]
        .into_iter()
        .filter(|home| for_this_region(&c, &state, &signal, &h, &r(home), d.clone()).moves_traffic())
        .collect();
    assert_eq!(acting, [CENTRAL]);
    // Central failing as well: the north acts, and takes the traffic.
    let h = view3(&c, [3, 3, 0]);
    let d = decide(&c, &state, &signal, &h, t0());
    let Decision::Failover(plan) = &d else { panic!("{d:?}") };
    assert_eq!(plan.target, r(NORTH));
    // The first candidate is still central (static), but it reads failing: the next acts.
    assert_eq!(actor(&c, &state, &r(SOUTH)), Some(r(CENTRAL)));
    assert!(acts_here(&c, &state, &h, &r(SOUTH), &r(NORTH)));
    assert!(
        acts_here(&c, &state, &h, &r(SOUTH), &r(CENTRAL)),
        "the first candidate always acts if it runs"
    );
    // Read healthy by the north, central is left to act: nobody is skipped by both.
    let h_ok = view3(&c, [3, 0, 0]);
    assert!(!acts_here(&c, &state, &h_ok, &r(SOUTH), &r(NORTH)));
    // Two drained: the last serving region is never drained, and the refusal is announced once.
    let drained = DnsState {
        drained: [r(SOUTH), r(CENTRAL)].into(),
        ..DnsState::default()
    };
    let north_down = alarm("aworld-health-api-5xx-eu-north-1", NORTH, AlarmState::Alarm);
    let h = view3(&c, [0, 0, 3]);
    let d = decide(&c, &drained, &north_down, &h, t0());
    assert_eq!(reason(&d), NoActionReason::LastServingRegion);
    let announcing: Vec<&str> = [SOUTH, CENTRAL, NORTH]
        .into_iter()
        .filter(|home| {
            !matches!(
                for_this_region(&c, &drained, &north_down, &h, &r(home), d.clone()),
                Decision::NoAction(NoAction {
                    reason: NoActionReason::OtherRegionActs,
                    ..
                })
            )
        })
        .collect();
    assert_eq!(announcing.len(), 1, "{announcing:?}");
}

#[test]
fn merging_copies_keeps_the_latest_change_of_each_region_whoever_wrote_it() {
    let at = |s: i64| t0() + Duration::seconds(s);
    // North drained the south at t+10; the south's own copy (stale) says serving since t+0.
    let north = DnsState {
        drained: [r(SOUTH)].into(),
        drained_by: [(r(SOUTH), [crate::config::Strategy::HealthMetric].into())].into(),
        changed_at: [(r(SOUTH), at(10))].into(),
        last_failover_at: Some(at(10)),
        ..DnsState::default()
    };
    let south = DnsState {
        changed_at: [(r(SOUTH), at(0))].into(),
        frozen: true,
        frozen_at: Some(at(5)),
        ..DnsState::default()
    };
    for (own, other) in [(&south, &north), (&north, &south)] {
        let v = merge(own, std::slice::from_ref(other));
        assert_eq!(v.drained, [r(SOUTH)].into(), "whichever copy is own");
        assert_eq!(v.drained_by[&r(SOUTH)], [crate::config::Strategy::HealthMetric].into());
        assert!(v.frozen, "the freeze at t+5 is the latest freeze register");
        assert_eq!(v.last_failover_at, Some(at(10)));
    }
    // A later restore, written by another region, wins over the drain.
    let central = DnsState {
        changed_at: [(r(SOUTH), at(20))].into(),
        ..DnsState::default()
    };
    assert!(merge(&north, &[central]).drained.is_empty());
    // A copy from before registers were kept still counts its drains.
    let legacy = DnsState {
        drained: [r(SOUTH)].into(),
        ..DnsState::default()
    };
    assert_eq!(merge(&DnsState::default(), &[legacy]).drained, [r(SOUTH)].into());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(500), ..ProptestConfig::default() })]

    /// Every signal is delivered to every region's function at once, each deciding on the same
    /// snapshot of the copies (its own merged with the others'): only the region being drained
    /// can be drained, never the last serving one, only towards a healthy region; the first
    /// candidate acts whenever anyone would; and when it is not failing, nobody else acts.
    #[test]
    fn three_regions_each_on_its_own_copy_act_once_per_signal(
        steps in prop::collection::vec((0usize..3, 0usize..4, prop_oneof![Just(AlarmState::Alarm), Just(AlarmState::Ok)], 0i64..4000), 1..50),
        auto in any::<bool>(),
    ) {
        let mut c = three_regions();
        c.policy.auto_failback = auto;
        c.policy.hold_down_seconds = 600;
        c.policy.failback_healthy_seconds = 300;
        let regions = [r(SOUTH), r(CENTRAL), r(NORTH)];
        let mut copies: BTreeMap<Region, DnsState> = regions.iter().map(|r| (r.clone(), DnsState::default())).collect();
        let mut health = view3(&c, [0, 0, 0]);
        let mut now = t0();
        for (i, (which, index, st, wait)) in steps.into_iter().enumerate() {
            now += Duration::seconds(wait);
            let region = &regions[which];
            let rc = &c.regions[region];
            let names: Vec<String> = rc.health_alarms.iter().chain(rc.composite_alarm.iter()).cloned().collect();
            let name = names[index % names.len()].clone();
            health.get_mut(region).unwrap().alarms.insert(name.clone(), st);
            let mut signal = alarm(&name, region.as_str(), st);
            signal.key = format!("k{i}");
            let snapshot = copies.clone();
            let mut moved = Vec::new();
            let mut would = false;
            for home in &regions {
                let others: Vec<DnsState> = snapshot.iter().filter(|(r, _)| *r != home).map(|(_, s)| s.clone()).collect();
                let state = observe(&c, &merge(&snapshot[home], &others), &signal, &health, now);
                let raw = decide(&c, &state, &signal, &health, now);
                would |= raw.moves_traffic();
                let d = for_this_region(&c, &state, &signal, &health, home, raw);
                if let Decision::Failover(p) = &d {
                    prop_assert_eq!(&p.drain, region, "only the signal's region is drained");
                    prop_assert!(regions.iter().any(|r| !state.drained.contains(r) && *r != p.drain), "drained the last region: {:?}", d);
                    prop_assert!(verdict(&c, &p.target, health.get(&p.target), &state).healthy, "target unhealthy: {:?}", d);
                }
                if d.moves_traffic() {
                    moved.push(home.clone());
                }
                copies.insert(home.clone(), apply(&state, &d, now));
            }
            let view = merge(&DnsState::default(), &snapshot.values().cloned().collect::<Vec<_>>());
            if let Some(first) = actor(&c, &view, region) {
                if would {
                    prop_assert!(moved.contains(&first), "signal {}: the first candidate {} did not act ({:?})", i, first, moved);
                }
                if !verdict(&c, &first, health.get(&first), &view).failing {
                    prop_assert!(moved.len() <= 1, "signal {}: moved traffic from {:?}", i, moved);
                }
            }
            let all: Vec<DnsState> = copies.values().cloned().collect();
            let merged = merge(&DnsState::default(), &all);
            prop_assert!(merged.drained.len() < regions.len(), "every region drained: {:?}", merged);
        }
    }
}

#[test]
fn signed_operator_commands_pass_the_kill_switch_and_forged_ones_do_not() {
    let mut c = config();
    c.kill_switch = true;
    let signed = command(OperatorCommandKind::Failover, Some(NORTH));
    let d = decide(&c, &DnsState::default(), &signed, &view(&c, 0, 0), t0());
    assert!(matches!(d, Decision::Failover(FailoverPlan { manual: true, .. })), "{d:?}");
    let mut forged = signed.clone();
    if let SignalKind::Operator(cmd) = &mut forged.kind {
        cmd.detail.proof = None;
    }
    let d = decide(&c, &DnsState::default(), &forged, &view(&c, 0, 0), t0());
    assert!(matches!(&d, Decision::Refused { why } if why.contains("no proof")), "{d:?}");
}

#[test]
fn a_switch_that_disagrees_with_the_state_is_a_drift_and_an_agreeing_one_is_not() {
    use crate::config::Strategy::{ControlPlane, HealthMetric};
    let serving = DnsState::default();
    // Someone wrote 1 to the drain metric of a serving region.
    let d = drifts(&serving, &[(r(SOUTH), HealthMetric, true), (r(SOUTH), ControlPlane, false)]);
    assert_eq!(
        d,
        [Drift {
            region: r(SOUTH),
            strategy: HealthMetric,
            holds: true
        }]
    );
    assert!(d[0].describe().contains("OUT of DNS"), "{}", d[0].describe());
    // Drained by the data plane: its metric holds, the weight is untouched: no drift. The
    // weight set to 100 by hand while the metric is put back is.
    let drained = DnsState {
        drained: [r(SOUTH)].into(),
        drained_by: [(r(SOUTH), [HealthMetric].into())].into(),
        ..Default::default()
    };
    assert_eq!(
        drifts(&drained, &[(r(SOUTH), HealthMetric, true), (r(SOUTH), ControlPlane, false)]),
        []
    );
    assert_eq!(drifts(&drained, &[(r(SOUTH), HealthMetric, false)]).len(), 1);
    // An older state without drained_by is not compared.
    let legacy = DnsState {
        drained: [r(SOUTH)].into(),
        ..Default::default()
    };
    assert_eq!(drifts(&legacy, &[(r(SOUTH), ControlPlane, false)]), []);
    // A new recorded change is a new episode (a new key).
    let d = Drift {
        region: r(SOUTH),
        strategy: HealthMetric,
        holds: true,
    };
    let later = DnsState {
        changed_at: [(r(SOUTH), t0())].into(),
        ..Default::default()
    };
    assert_ne!(d.key(&serving), d.key(&later));
}
