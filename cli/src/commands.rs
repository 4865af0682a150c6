//! One function per operator command: what it reads, what it prints (a table for a person,
//! JSON with `--json`).

use crate::{print, readiness_lines, state_tables};
use aws_sdk_dynamodb::Client as DynamoDb;
use resilience_cli as cli;
use resilience_core::aws::clients::AwsClients;
use resilience_core::config::SuiteConfig;
use resilience_core::model::{Function, Region};
use resilience_core::signal::{OperatorCommandDetail, OperatorCommandKind};
use resilience_core::store::dynamodb::DynamoStore;
use serde_json::Value;

/// An operator command to sign and send.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    #[arg(value_parser = ["failover", "failback", "freeze", "unfreeze", "verify-now", "throttle", "release", "clear-health-issues"])]
    pub command: String,
    /// failover: where traffic goes; failback: the region to restore.
    #[arg(long)]
    pub region: Option<String>,
    /// throttle / release: `user#<id>`, `key#<id>` or `ip#<address>`.
    #[arg(long)]
    pub principal: Option<String>,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// The operator KMS key to sign with (an ARN of operators.signing_keys; default: the
    /// key of the region the CLI talks to). Who you are comes from your credentials (STS), never a flag.
    #[arg(long)]
    pub key: Option<String>,
    /// The operator event bus (default: `<platform>-operator`).
    #[arg(long)]
    pub bus: Option<String>,
    /// Print the event instead of sending it.
    #[arg(long)]
    pub print: bool,
}

/// What every command is run with: the configuration, the AWS clients, the home region and
/// its state table, and the output form.
#[derive(Debug)]
pub struct Ctx {
    pub config: SuiteConfig,
    pub clients: AwsClients,
    pub region: Region,
    pub store: DynamoStore,
    pub ddb: DynamoDb,
    pub json: bool,
}

pub async fn status(cx: &Ctx) -> Result<(), String> {
    let Ctx {
        config,
        clients,
        region,
        store,
        ddb,
        ..
    } = cx;
    let peers = state_tables(config, clients);
    let s = cli::status(config, region, store, &peers, ddb).await.map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&s).unwrap_or_default();
    print(cx.json, &v, || {
        format!(
            "{}: serving {:?}, drained {:?}{}{}{}\nlast failover: {}\nopen leases: {}{}",
            s.record_name,
            s.serving.iter().map(ToString::to_string).collect::<Vec<_>>(),
            s.drained.iter().map(ToString::to_string).collect::<Vec<_>>(),
            if s.frozen { "; FROZEN" } else { "" },
            if s.kill_switch { "; KILL SWITCH ON" } else { "" },
            if s.dry_run { "; dry run" } else { "" },
            s.last_failover_at.map_or("never".into(), |t| t.to_string()),
            s.open_leases.len(),
            if s.pending_notifications > 0 {
                format!("\n{} notification(s) pending", s.pending_notifications)
            } else {
                String::new()
            }
        ) + &readiness_lines(&s.readiness)
            + &s.readiness_unreadable
                .iter()
                .map(|u| format!("\nreadiness unreadable in {u}"))
                .collect::<String>()
    });
    Ok(())
}

pub async fn check(cx: &Ctx, parameter: Option<String>) -> Result<(), String> {
    let Ctx {
        config,
        clients,
        region,
        store,
        ..
    } = cx;
    let peers = state_tables(config, clients);
    let recorded_drained = resilience_core::documents::dns::read(config, region, store, &peers)
        .await
        .map(|(_, _, merged)| merged.drained)
        .map_err(|e| eprintln!("resilience: the recorded DNS state is unreadable ({e}); the DNS answer is not compared"))
        .ok();
    let inputs = resilience_core::act::readiness::CheckInputs {
        config_parameter: parameter
            .or_else(|| std::env::var(resilience_core::config::ENV_CONFIG_PARAMETER).ok())
            .filter(|p| !p.is_empty()),
        config_signer: resilience_core::config::signed::Signer::from_env().map_err(|e| e.to_string())?,
        recorded_drained,
    };
    let report = resilience_core::act::readiness::ReadinessProbe::new(clients.clone())
        .run(config, region, &inputs)
        .await;
    print(cx.json, &serde_json::to_value(&report).unwrap_or_default(), || {
        cli::readiness_table(&report)
    });
    if report.grade() == resilience_core::decide::readiness::Grade::Fail {
        return Err(format!(
            "readiness FAIL: {} item(s) fail",
            report.count(resilience_core::decide::readiness::Grade::Fail)
        ));
    }
    Ok(())
}

pub async fn drills(cx: &Ctx, svg: Option<String>, timeline: Option<String>) -> Result<(), String> {
    let Ctx { config, clients, .. } = cx;
    let peers = state_tables(config, clients);
    let (records, mut unreadable) = cli::drills(&peers).await;
    let practice = match &timeline {
        Some(_) => {
            let (report, practice_unreadable) = cli::last_practice(config, &peers).await;
            unreadable.extend(practice_unreadable.into_iter().map(|r| format!("practice drill report, {r}")));
            report
        }
        None => None,
    };
    if let Some(path) = &timeline {
        let r = practice.as_ref().ok_or("no practice failover drill has finished yet")?;
        std::fs::write(path, resilience_core::decide::practice::timeline_svg(r)).map_err(|e| format!("{path}: {e}"))?;
    }
    if let Some(path) = &svg {
        std::fs::write(path, resilience_core::decide::drills::trend_svg(&records)).map_err(|e| format!("{path}: {e}"))?;
    }
    print(cx.json, &serde_json::to_value(&records).unwrap_or_default(), || {
        let mut lines: Vec<String> = records
            .iter()
            .map(|r| {
                format!(
                    "{}  {:<10} {:<9} {:<24} {:<4} {:>10} {}",
                    r.at.format("%Y-%m-%d %H:%M"),
                    r.region,
                    format!("{:?}", r.kind),
                    r.subject,
                    format!("{:?}", r.status).to_uppercase(),
                    r.figure.map_or("-".into(), |f| format!("{f:.0}")),
                    r.summary
                )
            })
            .collect();
        if lines.is_empty() {
            lines.push("no drill has run yet".into());
        }
        lines.extend(unreadable.iter().map(|u| format!("history unreadable in {u}")));
        if let Some(path) = &svg {
            lines.push(format!("trend drawn in {path}"));
        }
        if let (Some(path), Some(r)) = (&timeline, &practice) {
            lines.push(String::new());
            lines.push(resilience_core::decide::practice::phase_table(r));
            lines.push(format!("timeline drawn in {path}"));
        }
        lines.join("\n")
    });
    Ok(())
}

pub async fn audit(cx: &Ctx, function: Option<Function>, limit: usize) -> Result<(), String> {
    let Ctx { store, .. } = cx;
    let records = cli::audit(store, function, limit).await.map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&records).unwrap_or_default();
    print(cx.json, &v, || {
        records
            .iter()
            .map(|r| {
                format!(
                    "{}  {:<17} {:<12} {}",
                    r.at.format("%Y-%m-%d %H:%M:%S"),
                    r.function,
                    r.decision,
                    r.reason
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn throttled(cx: &Ctx) -> Result<(), String> {
    let Ctx { config, ddb, .. } = cx;
    let list = cli::throttled(config, ddb).await.map_err(|e| e.to_string())?;
    let v = Value::Array(list.clone());
    print(cx.json, &v, || {
        if list.is_empty() {
            "nobody is throttled".into()
        } else {
            list.iter()
                .map(|p| {
                    format!(
                        "{:<30} {:<14} until {}  ({} offences) {}",
                        p["principal"].as_str().unwrap_or(""),
                        p["level"].as_str().unwrap_or(""),
                        p["until"].as_str().unwrap_or(""),
                        p["offences"].as_str().unwrap_or(""),
                        p["reason"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    });
    Ok(())
}

pub async fn backup(cx: &Ctx) -> Result<(), String> {
    let Ctx { store, .. } = cx;
    let report = cli::last_backup_report(store)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(Value::Null);
    print(cx.json, &report, || {
        if report.is_null() {
            return "no backup report yet".into();
        }
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        let lines: Vec<String> = checks
            .iter()
            .map(|c| {
                format!(
                    "{:<5} {:<24} {:<12} {:<32} {}",
                    c["status"].as_str().unwrap_or(""),
                    c["table"].as_str().unwrap_or(""),
                    c["region"].as_str().unwrap_or(""),
                    c["check"].as_str().unwrap_or(""),
                    c["detail"].as_str().unwrap_or("")
                )
            })
            .collect();
        format!(
            "report of {}\n{}\ndrill: {}",
            report["at"].as_str().unwrap_or("?"),
            lines.join("\n"),
            report["drill"]["detail"].as_str().unwrap_or("not run")
        )
    });
    Ok(())
}

pub async fn send(cx: &Ctx, args: SendArgs) -> Result<(), String> {
    let Ctx {
        config, clients, region, ..
    } = cx;
    let SendArgs {
        command,
        region: target,
        principal,
        reason,
        key,
        bus,
        print: only_print,
    } = args;
    let kind = match command.as_str() {
        "failover" => OperatorCommandKind::Failover,
        "failback" => OperatorCommandKind::Failback,
        "freeze" => OperatorCommandKind::Freeze,
        "unfreeze" => OperatorCommandKind::Unfreeze,
        "verify-now" => OperatorCommandKind::VerifyNow,
        "throttle" => OperatorCommandKind::Throttle,
        "clear-health-issues" => OperatorCommandKind::ClearHealthIssues,
        _ => OperatorCommandKind::Release,
    };
    let key_id = cli::signing_key(config, region, key.as_deref()).map_err(|e| e.to_string())?;
    let sdk = clients.config_for(region);
    let mut detail = OperatorCommandDetail {
        requested_by: cli::caller(&aws_sdk_sts::Client::new(&sdk)).await.map_err(|e| e.to_string())?,
        reason,
        region: target.map(|r| r.parse()).transpose().map_err(|e| format!("--region: {e}"))?,
        principal,
        proof: None,
    };
    cli::sign(&aws_sdk_kms::Client::new(&sdk), &key_id, kind, &mut detail)
        .await
        .map_err(|e| e.to_string())?;
    let event = cli::command_event(config, kind, &detail, region);
    if only_print {
        println!("{}", serde_json::to_string_pretty(&event).unwrap_or_default());
        return Ok(());
    }
    let bus = bus.unwrap_or_else(|| format!("{}-operator", config.platform));
    let eb = aws_sdk_eventbridge::Client::new(&clients.config_for(region));
    let id = cli::send(&eb, &bus, &event).await.map_err(|e| e.to_string())?;
    print(cx.json, &serde_json::json!({ "event_id": id, "bus": bus, "event": event }), || {
        format!("sent {} to {bus} (event {id})", kind.detail_type())
    });
    Ok(())
}
