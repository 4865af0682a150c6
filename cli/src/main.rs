//! `resilience`: the operator's CLI. Works against real AWS (standard credentials and region)
//! and the local emulator (AWS_ENDPOINT_URL). Reads the suite configuration like the functions
//! do (RESILIENCE_CONFIG or RESILIENCE_CONFIG_FILE).

use clap::{Parser, Subcommand};
use resilience_cli as cli;
use resilience_core::aws::clients::{AwsClients, TrustRoots};
use resilience_core::config::SuiteConfig;
use resilience_core::model::Function;

use resilience_core::store::dynamodb::DynamoStore;
use serde_json::Value;
use std::process::ExitCode;

mod commands;

#[derive(Parser, Debug)]
#[command(name = "resilience", about = "Operate aworld-resilience: read its state, send operator commands")]
struct Args {
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The configuration document: check it before it is rolled out.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Before a deploy: per Region, the account's Lambda concurrency quota against what the
    /// stack reserves, the Region enabled, Parameter Store's throughput; the principals the
    /// stack names exist. Each failure with its fix; exit status 1 if any item FAILs.
    /// `make deploy` runs it before creating anything. Needs no suite configuration.
    Preflight {
        /// A Region the stack will be deployed to (repeat for each).
        #[arg(long = "region", required = true)]
        regions: Vec<String>,
        /// Lambda concurrency the stack reserves in each Region (`make deploy` passes the
        /// template's sum; the default is that sum, kept equal by the infra checks).
        #[arg(long, default_value_t = STACK_RESERVED_CONCURRENCY)]
        reserve: i64,
        /// A principal the stack's policies name, as NAME=ARN (Operator=arn:aws:iam::…:role/oncall).
        #[arg(long = "principal", value_parser = principal_arg)]
        principals: Vec<(String, String)>,
        /// Raise Parameter Store to high throughput where it is standard (billed per API
        /// interaction; every cold start reads the configuration parameter).
        #[arg(long)]
        enable_high_throughput: bool,
    },
    /// Which regions serve, frozen or not, open leases, the last readiness check and its age.
    Status,
    /// Read the whole failover path on the live account now, in every configured region, and
    /// grade each item PASS / WARN / FAIL with the fix (what readiness-check does every 30
    /// minutes). Exit status 1 if any item FAILs. Run it before and after a deploy.
    Check {
        /// The SSM parameter the functions read their configuration from (checked in every
        /// region against this configuration; default: $RESILIENCE_CONFIG_PARAMETER).
        #[arg(long)]
        parameter: Option<String>,
    },
    /// The modelled time from a regional failure until traffic has left the region, per
    /// strategy (from the configuration; defaults are the template's). Needs no AWS access.
    TimeToShift {
        /// The health alarms' period.
        #[arg(long, default_value_t = 60)]
        alarm_period: u64,
        /// Periods in ALARM before a health alarm changes state.
        #[arg(long, default_value_t = 3)]
        evaluation_periods: u64,
        /// The weighted records' TTL.
        #[arg(long, default_value_t = 60)]
        ttl: u64,
    },
    /// The newest audit records.
    Audit {
        /// One function's records (dns-failover, capacity-scaler, ..., readiness-check); all by default.
        #[arg(long, value_parser = function_arg)]
        function: Option<Function>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Principals throttled now.
    Throttled,
    /// backup-verifier's last report.
    Backup,
    /// Every region's drill history (restore drills, RPO probes, practice failover drills),
    /// oldest first, with each figure against its target; `--svg FILE` also draws the trend;
    /// `--timeline FILE` prints the last practice failover drill's phase table and draws its
    /// timeline.
    Drills {
        #[arg(long)]
        svg: Option<String>,
        #[arg(long)]
        timeline: Option<String>,
    },
    /// Send an operator command as its documented event.
    Send(commands::SendArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Validate a configuration document (a file, or - for stdin) exactly as a function's init
    /// does: every problem listed, exit status 1 if there is any. Needs no AWS access.
    Check { file: String },
}

/// `resilience config check`: the functions' own parse and validation, plus what each of the
/// five functions the template deploys needs to start (`throttle`, `auth` and its keys), and
/// the size an SSM parameter holds. The emergency switches of this shell are not applied: the
/// document is judged as the functions will read it.
fn check_config(file: &str, json: bool) -> Result<(), String> {
    use std::io::Read;
    let (origin, text) = if file == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
        ("stdin".to_owned(), text)
    } else {
        (file.to_owned(), std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?)
    };
    let config = SuiteConfig::from_text(&origin, &text, |_| None).map_err(|e| e.to_string())?;
    let mut problems = resilience_core::aws::deployment::deployable(&config);
    let compact = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    if compact.len() > resilience_core::aws::deployment::MAX_PARAMETER_BYTES {
        problems.push(format!(
            "{} bytes (compact): an SSM parameter holds at most {} (fix: shorten it)",
            compact.len(),
            resilience_core::aws::deployment::MAX_PARAMETER_BYTES
        ));
    }
    if !problems.is_empty() {
        return Err(format!("{origin}: {} problem(s): {}", problems.len(), problems.join("; ")));
    }
    let summary = serde_json::json!({
        "valid": true,
        "bytes": text.len(),
        "regions": config.regions.keys().map(ToString::to_string).collect::<Vec<_>>(),
        "kill_switch": config.kill_switch,
        "dry_run": config.dry_run,
    });
    print(json, &summary, || {
        format!(
            "{origin}: valid ({} bytes; regions {}; kill switch {}; dry run {})",
            text.len(),
            config.regions.keys().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            if config.kill_switch { "ON" } else { "off" },
            if config.dry_run { "on" } else { "off" }
        )
    });
    Ok(())
}

/// `resilience time-to-shift`: the model of `decide::shift`, as a table per strategy.
fn time_to_shift(config: &SuiteConfig, a: &resilience_core::decide::shift::Assumptions, json: bool) {
    let estimates = resilience_core::decide::shift::estimates(config, a);
    let value = serde_json::json!({ "assumptions": a, "strategies": estimates });
    print(json, &value, || {
        let mut out = String::new();
        for e in &estimates {
            let configured = if config.dns.strategies.contains(&e.strategy) {
                ""
            } else {
                " (not configured)"
            };
            out.push_str(&format!(
                "{}{configured}: {}-{} s ({:.1}-{:.1} min)\n",
                serde_json::to_value(e.strategy)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                e.best,
                e.worst,
                e.best as f64 / 60.0,
                e.worst as f64 / 60.0
            ));
            for p in &e.phases {
                out.push_str(&format!("  {:>4}-{:<4} s  {}  [{}]\n", p.best, p.worst, p.phase, p.source));
            }
        }
        out.push_str("Detection dominates; of the switches, the data-plane paths (routing-control, health-metric) do not depend on Route 53's control plane.");
        out
    });
}

/// Lambda concurrency `infra/template.yaml` reserves in each Region (the sum of its functions'
/// `ReservedConcurrentExecutions`; `infra/deploy_test.py` checks it is still that sum).
const STACK_RESERVED_CONCURRENCY: i64 = 264;

fn principal_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, arn)) if !name.is_empty() && arn.starts_with("arn:") => Ok((name.to_owned(), arn.to_owned())),
        _ => Err(format!(
            "{s:?}: expected NAME=ARN, e.g. Operator=arn:aws:iam::111122223333:role/oncall"
        )),
    }
}

fn report_preflight(items: &[resilience_core::decide::readiness::Item], json: bool) -> Result<(), String> {
    use resilience_core::decide::readiness::Grade;
    print(json, &serde_json::to_value(items).unwrap_or_default(), || {
        let report = resilience_core::decide::readiness::ReadinessReport {
            at: chrono::Utc::now(),
            checked_from: "preflight".into(),
            items: items.to_vec(),
            api_calls: 0,
            seconds: 0.0,
        };
        // The table without readiness's summary line (a preflight makes no readiness report).
        let table = cli::readiness_table(&report);
        let rows = table.rsplit_once('\n').map_or(table.as_str(), |(rows, _)| rows).to_owned();
        let failing = items.iter().filter(|i| i.grade == Grade::Fail).count();
        format!("{rows}\npreflight: {} item(s), {failing} FAIL", items.len())
    });
    let failing = items.iter().filter(|i| i.grade == Grade::Fail).count();
    if failing > 0 {
        return Err(format!("preflight FAIL: {failing} item(s) fail; fix them before deploying"));
    }
    Ok(())
}

fn print(json: bool, value: &Value, human: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        println!("{}", human());
    }
}

async fn run(args: Args) -> Result<(), String> {
    if let Command::Config {
        action: ConfigAction::Check { file },
    } = &args.command
    {
        return check_config(file, args.json);
    }
    if let Command::Preflight {
        regions,
        reserve,
        principals,
        enable_high_throughput,
    } = &args.command
    {
        let needs = cli::preflight::Needs {
            regions: regions.clone(),
            reserve: *reserve,
            principals: principals.clone(),
            enable_high_throughput: *enable_high_throughput,
        };
        return report_preflight(&cli::preflight::run(&needs).await, args.json);
    }
    let config = SuiteConfig::from_env().map_err(|e| e.to_string())?;
    if let Command::TimeToShift {
        alarm_period,
        evaluation_periods,
        ttl,
    } = args.command
    {
        let a = resilience_core::decide::shift::Assumptions {
            alarm_period_seconds: alarm_period,
            evaluation_periods,
            ttl_seconds: ttl,
        };
        time_to_shift(&config, &a, args.json);
        return Ok(());
    }
    let clients = AwsClients::load(TrustRoots::Platform).await;
    let region = clients
        .home_region()
        .ok_or("set AWS_REGION (or a profile region) to a region code")?;
    let ddb = clients.dynamodb(&region);
    let store = DynamoStore::new(ddb.clone(), config.state_table.clone());
    let cx = commands::Ctx {
        config,
        clients,
        region,
        store,
        ddb,
        json: args.json,
    };
    match args.command {
        Command::Config { .. } | Command::TimeToShift { .. } | Command::Preflight { .. } => {
            unreachable!("handled before any AWS client is built")
        }
        Command::Status => commands::status(&cx).await?,
        Command::Check { parameter } => commands::check(&cx, parameter).await?,
        Command::Drills { svg, timeline } => commands::drills(&cx, svg, timeline).await?,
        Command::Audit { function, limit } => commands::audit(&cx, function, limit).await?,
        Command::Throttled => commands::throttled(&cx).await?,
        Command::Backup => commands::backup(&cx).await?,
        Command::Send(send) => commands::send(&cx, send).await?,
    }
    Ok(())
}

/// The state table in every configured region (each region's documents are read where they
/// are written).
fn state_tables(config: &SuiteConfig, clients: &AwsClients) -> Vec<(resilience_core::Region, DynamoStore)> {
    config
        .regions
        .keys()
        .map(|r| (r.clone(), DynamoStore::new(clients.dynamodb(r), config.state_table.clone())))
        .collect()
}

fn readiness_lines(seen: &[cli::ReadinessSeen]) -> String {
    if seen.is_empty() {
        return "\nreadiness: never checked".into();
    }
    seen.iter()
        .map(|r| {
            let items: Vec<String> = r
                .not_passing
                .iter()
                .map(|i| format!("\n  {:?} {} {}: {}", i.grade, i.region, i.item, i.detail))
                .collect();
            format!(
                "\nreadiness from {}: {} ({} min ago){}",
                r.checked_from,
                r.summary,
                r.age_seconds / 60,
                items.concat()
            )
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("resilience: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--function`: one of the suite's functions, named as in `functions/`.
fn function_arg(name: &str) -> Result<Function, String> {
    Function::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Function::ALL.iter().map(|f| f.as_str()).collect();
        format!("{name:?} is not a function of the suite; one of: {}", names.join(", "))
    })
}
