//! A fault-injecting HTTP proxy between the functions and the emulator. The function binaries
//! reach it through the standard `AWS_ENDPOINT_URL`, so their real SDK clients, retry policy and
//! timeouts meet the faults: throttling and 5xx answers in each service's own error format,
//! requests held past the SDK's attempt timeout, and connections closed without an answer.
//!
//! A faulted request never reaches the emulator, so every change the emulator shows was asked
//! for by a request that got its answer. Every call is recorded (service, operation, region,
//! fault), which also makes the proxy the counter of AWS API calls per reaction.

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What Route 53 would answer for each record name: the serving records' (value, weight).
pub type DnsAnswers = Arc<Mutex<BTreeMap<String, Vec<(String, i64)>>>>;

/// What each of Route 53's health checkers reports for each health check id (`true`: healthy),
/// kept by the DNS model: the emulator reports every check healthy by one checker.
pub type CheckerReports = Arc<Mutex<BTreeMap<String, Vec<bool>>>>;

/// What the proxy does instead of forwarding a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 400/429 with the service's throttling error code.
    Throttle,
    /// 500 or 503 with the service's error body.
    ServerError,
    /// No answer for longer than the SDK's attempt timeout, then the connection is closed.
    Timeout,
    /// The connection is closed without an answer.
    Reset,
    /// 403 AccessDenied in the service's format: the caller's permissions, not the service.
    Denied,
}

/// One request seen by the proxy.
#[derive(Debug, Clone)]
pub struct Call {
    /// SigV4 signing name: `dynamodb`, `monitoring`, `route53`, ...
    pub service: String,
    pub operation: String,
    pub region: String,
    pub fault: Option<Fault>,
    /// Time the emulator took to answer (0 for a faulted call).
    pub upstream_ms: f64,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    /// Fault probability in parts per million.
    rate_ppm: AtomicU32,
    /// Shared by all connections: deterministic for a seed (connection interleaving aside).
    rng: Mutex<TestRng>,
    calls: Mutex<Vec<Call>>,
    hold: Duration,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Latency model: how long a Route 53 change stays PENDING after it is submitted.
    change_pending: Mutex<Duration>,
    /// When each change id was submitted.
    changes: Mutex<BTreeMap<String, std::time::Instant>>,
    /// Latency model: how long a table restore stays CREATING.
    restore_takes: Mutex<Duration>,
    /// When each restore (target table) was started.
    restores: Mutex<BTreeMap<String, std::time::Instant>>,
    /// Latency model: how far PITR's LatestRestorableDateTime lags the current time.
    restorable_lag: Mutex<Option<Duration>>,
    /// The RestoreTableToPointInTime requests seen (their JSON bodies).
    restore_requests: Mutex<Vec<serde_json::Value>>,
    /// Latency model: what Route 53 answers for each name (value, weight), kept by the DNS
    /// model; the emulator does not implement TestDNSAnswer.
    dns_answers: DnsAnswers,
    /// Latency model: each health check's checker reports (GetHealthCheckStatus).
    checker_reports: CheckerReports,
    /// Deterministic faults: every call of (operation, region) gets this one.
    rules: Mutex<BTreeMap<(String, String), Fault>>,
}

/// The proxy on a loopback port; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (the emulator's URL) that faults `rate` (0..=1) of the calls,
    /// choosing calls and kinds with a generator seeded by `seed` (print it: a failure replays).
    /// A `Timeout` holds the request for `hold`, which must exceed the SDK's attempt timeout.
    pub async fn start(upstream: &str, rate: f64, seed: u64, hold: Duration) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rate_ppm: AtomicU32::new(ppm(rate)),
            rng: Mutex::new(TestRng::from_seed(RngAlgorithm::ChaCha, &[seed.to_le_bytes(); 4].concat())),
            calls: Mutex::new(Vec::new()),
            hold,
            client: Client::builder(TokioExecutor::new()).build_http(),
            change_pending: Mutex::new(Duration::ZERO),
            changes: Mutex::new(BTreeMap::new()),
            restore_takes: Mutex::new(Duration::ZERO),
            restores: Mutex::new(BTreeMap::new()),
            restorable_lag: Mutex::new(None),
            restore_requests: Mutex::new(Vec::new()),
            dns_answers: DnsAnswers::default(),
            checker_reports: CheckerReports::default(),
            rules: Mutex::new(BTreeMap::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let accept = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let shared = accept.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    // An error here is a connection the proxy closed on purpose (or the client left).
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy { addr, shared, server }
    }

    /// The URL to give the functions as `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Latency model: Route 53 answers GetChange with PENDING for `pending` after a change is
    /// submitted, as a real change does for up to about a minute ("Changes generally propagate
    /// to all Route 53 name servers within 60 seconds", `ChangeResourceRecordSets`), where the
    /// emulator answers INSYNC at once.
    pub fn set_change_pending(&self, pending: Duration) {
        *self.shared.change_pending.lock().expect("latency") = pending;
    }

    /// Latency model: a table restored with RestoreTableToPointInTime is CREATING for `takes`
    /// (DescribeTable), where the emulator restores at once and AWS takes minutes to hours.
    pub fn set_restore_takes(&self, takes: Duration) {
        *self.shared.restore_takes.lock().expect("latency") = takes;
    }

    /// Latency model: PITR's `LatestRestorableDateTime` is `lag` behind the current time
    /// ("typically 5 minutes", `PointInTimeRecoveryDescription`), where the emulator's never
    /// moves from when PITR was enabled; and a `RestoreTableToPointInTime` to a later time is
    /// refused with `InvalidRestoreTimeException`, as AWS restores only between the earliest and
    /// latest restorable times.
    pub fn set_restorable_lag(&self, lag: Duration) {
        *self.shared.restorable_lag.lock().expect("latency") = Some(lag);
    }

    /// The answers the proxy gives to TestDNSAnswer, kept up to date by the latency model's
    /// DNS model (`latency::DnsModel`).
    pub fn dns_answers(&self) -> DnsAnswers {
        self.shared.dns_answers.clone()
    }

    /// The reports the proxy gives to GetHealthCheckStatus, kept by the DNS model.
    pub fn checker_reports(&self) -> CheckerReports {
        self.shared.checker_reports.clone()
    }

    /// The RestoreTableToPointInTime requests that reached the proxy, as sent.
    pub fn restore_requests(&self) -> Vec<serde_json::Value> {
        self.shared.restore_requests.lock().expect("restores").clone()
    }

    /// Every later call of `operation` in `region` gets `fault` (None: clears the rule).
    pub fn always(&self, operation: &str, region: &str, fault: Option<Fault>) {
        let mut rules = self.shared.rules.lock().expect("rules");
        let key = (operation.to_owned(), region.to_owned());
        match fault {
            Some(f) => rules.insert(key, f),
            None => rules.remove(&key),
        };
    }

    /// Changes the fault rate (0 turns faults off).
    pub fn set_rate(&self, rate: f64) {
        self.shared.rate_ppm.store(ppm(rate), Ordering::SeqCst);
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().expect("calls").clone()
    }

    /// Forgets the calls so far (to count one reaction's calls).
    pub fn reset_calls(&self) {
        self.shared.calls.lock().expect("calls").clear();
    }

    /// Calls that reached the emulator, by `service:Operation`.
    pub fn forwarded_by_operation(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in self.calls().iter().filter(|c| c.fault.is_none()) {
            *out.entry(format!("{}:{}", c.service, c.operation)).or_insert(0) += 1;
        }
        out
    }

    /// Faults injected, by kind.
    pub fn faults(&self) -> BTreeMap<Fault, usize> {
        let mut out = BTreeMap::new();
        for f in self.calls().iter().filter_map(|c| c.fault) {
            *out.entry(f).or_insert(0) += 1;
        }
        out
    }
}

fn ppm(rate: f64) -> u32 {
    // Clamped to 0..=1 first, so the cast cannot overflow.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = (rate.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
    p
}

impl Shared {
    fn next(&self) -> u64 {
        self.rng.lock().expect("rng").next_u64()
    }

    fn choose(&self) -> Option<Fault> {
        let rate = u64::from(self.rate_ppm.load(Ordering::SeqCst));
        if self.next() % 1_000_000 >= rate {
            return None;
        }
        // Of the faults: 40 % throttling, 30 % 5xx, 20 % resets, 10 % timeouts (each costs an
        // attempt timeout, so they are the rarest, as in life).
        Some(match self.next() % 10 {
            0..=3 => Fault::Throttle,
            4..=6 => Fault::ServerError,
            7 | 8 => Fault::Reset,
            _ => Fault::Timeout,
        })
    }
}

/// The protocol family of a request decides the shape of an injected error.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    AwsJson,
    AwsQuery,
    RestXml,
    RestJson,
}

struct Identified {
    service: String,
    operation: String,
    region: String,
    protocol: Protocol,
    json_type: String,
}

fn identify(req: &hyper::http::request::Parts, body: &[u8]) -> Identified {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Credential=AKID/20261125/eu-north-1/dynamodb/aws4_request
    let scope: Vec<&str> = header("authorization")
        .split("Credential=")
        .nth(1)
        .unwrap_or("")
        .split(',')
        .next()
        .unwrap_or("")
        .split('/')
        .collect();
    let region = scope.get(2).copied().unwrap_or("?").to_owned();
    let service = scope.get(3).copied().unwrap_or("?").to_owned();
    let path = req.uri.path();
    let method = req.method.as_str();
    let target = header("x-amz-target");
    let content_type = header("content-type");
    let (protocol, operation) = if !target.is_empty() {
        (Protocol::AwsJson, target.rsplit('.').next().unwrap_or(target).to_owned())
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let action = String::from_utf8_lossy(body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action=").map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        (Protocol::AwsQuery, action)
    } else if path.starts_with("/2013-04-01/") {
        (Protocol::RestXml, route53_operation(method, path))
    } else {
        (Protocol::RestJson, lambda_operation(method, path))
    };
    Identified {
        service,
        operation,
        region,
        protocol,
        json_type: if content_type.is_empty() {
            "application/x-amz-json-1.0".into()
        } else {
            content_type.to_owned()
        },
    }
}

fn route53_operation(method: &str, path: &str) -> String {
    let op = match method {
        "POST" if path.ends_with("/rrset") || path.ends_with("/rrset/") => "ChangeResourceRecordSets",
        "GET" if path.ends_with("/rrset") => "ListResourceRecordSets",
        "GET" if path.ends_with("/testdnsanswer") => "TestDNSAnswer",
        "GET" if path.contains("/change/") => "GetChange",
        "GET" if path.contains("/healthcheck/") && path.ends_with("/status") => "GetHealthCheckStatus",
        "GET" if path.contains("/healthcheck/") => "GetHealthCheck",
        "GET" if path.contains("/hostedzone/") => "GetHostedZone",
        _ => return format!("{method} {path}"),
    };
    op.to_owned()
}

fn lambda_operation(method: &str, path: &str) -> String {
    let op = match method {
        "PUT" if path.ends_with("/concurrency") => "PutFunctionConcurrency",
        "GET" if path.ends_with("/concurrency") => "GetFunctionConcurrency",
        "DELETE" if path.ends_with("/concurrency") => "DeleteFunctionConcurrency",
        "PUT" if path.ends_with("/provisioned-concurrency") => "PutProvisionedConcurrencyConfig",
        "GET" if path.ends_with("/provisioned-concurrency") => "GetProvisionedConcurrencyConfig",
        "GET" if path.ends_with("/account-settings") || path.ends_with("/account-settings/") => "GetAccountSettings",
        _ => return format!("{method} {path}"),
    };
    op.to_owned()
}

fn respond(status: StatusCode, headers: &[(&str, &str)], body: String) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(Bytes::from(body))).expect("valid response")
}

fn xml_error(status: StatusCode, code: &str) -> Response<Full<Bytes>> {
    let kind = if status.is_server_error() { "Receiver" } else { "Sender" };
    respond(
        status,
        &[("content-type", "text/xml")],
        format!(
            "<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>injected by the fault proxy</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
        ),
    )
}

fn injected(fault: Fault, id: &Identified, coin: u64) -> Response<Full<Bytes>> {
    let (status, code) = match (fault, id.protocol) {
        (Fault::Denied, Protocol::AwsJson | Protocol::RestJson) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
        (Fault::Denied, _) => (StatusCode::FORBIDDEN, "AccessDenied"),
        (Fault::Throttle, Protocol::RestJson) => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException"),
        (Fault::Throttle, Protocol::AwsJson) => (StatusCode::BAD_REQUEST, "ThrottlingException"),
        (Fault::Throttle, _) => (StatusCode::BAD_REQUEST, "Throttling"),
        (_, Protocol::AwsJson | Protocol::RestJson) if coin.is_multiple_of(2) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    };
    match id.protocol {
        Protocol::AwsJson => respond(
            status,
            &[("content-type", id.json_type.as_str())],
            format!(r#"{{"__type":"{code}","message":"injected by the fault proxy"}}"#),
        ),
        Protocol::RestJson => respond(
            status,
            &[("content-type", "application/json"), ("x-amzn-errortype", code)],
            r#"{"message":"injected by the fault proxy"}"#.to_owned(),
        ),
        Protocol::AwsQuery | Protocol::RestXml => xml_error(status, code),
    }
}

#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("connection closed by the fault proxy")]
    OnPurpose,
    #[error("upstream: {0}")]
    Upstream(String),
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Closed> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|e| Closed::Upstream(e.to_string()))?.to_bytes();
    let id = identify(&parts, &body);
    let rule = shared
        .rules
        .lock()
        .expect("rules")
        .get(&(id.operation.clone(), id.region.clone()))
        .copied();
    let fault = rule.or_else(|| shared.choose());
    let record = |upstream_ms: f64| Call {
        service: id.service.clone(),
        operation: id.operation.clone(),
        region: id.region.clone(),
        fault,
        upstream_ms,
    };
    if fault.is_some() {
        shared.calls.lock().expect("calls").push(record(0.0));
    }
    match fault {
        Some(Fault::Reset) => return Err(Closed::OnPurpose),
        Some(Fault::Timeout) => {
            tokio::time::sleep(shared.hold).await;
            return Err(Closed::OnPurpose);
        }
        Some(f) => return Ok(injected(f, &id, shared.next())),
        None => {}
    }
    if id.operation == "RestoreTableToPointInTime"
        && let Some(refused) = shared.refuse_restore(&body, &id)
    {
        return Ok(refused);
    }
    if id.operation == "TestDNSAnswer"
        && let Some(answer) = shared.dns_answer(parts.uri.query().unwrap_or(""))
    {
        shared.calls.lock().expect("calls").push(record(0.0));
        return Ok(answer);
    }
    if id.operation == "GetHealthCheckStatus"
        && let Some(answer) = shared.checker_status(parts.uri.path())
    {
        shared.calls.lock().expect("calls").push(record(0.0));
        return Ok(answer);
    }
    let uri = format!("{}{}", shared.upstream, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut forward = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        forward = forward.header(k, v);
    }
    let forward = forward.body(Full::new(body)).map_err(|e| Closed::Upstream(e.to_string()))?;
    let started = std::time::Instant::now();
    let answer = shared.client.request(forward).await.map_err(|e| Closed::Upstream(e.to_string()))?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(|e| Closed::Upstream(e.to_string()))?.to_bytes();
    shared
        .calls
        .lock()
        .expect("calls")
        .push(record(started.elapsed().as_secs_f64() * 1000.0));
    let body = shared.model_latency(&id.operation, body);
    let mut parts = parts;
    parts.headers.insert(hyper::header::CONTENT_LENGTH, body.len().into());
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The `TableName` in a DynamoDB JSON answer.
fn table_name(text: &str) -> Option<String> {
    let at = text.find("\"TableName\"")? + "\"TableName\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

impl Shared {
    /// Route 53's TestDNSAnswer for the name asked, from the DNS model: one value per query,
    /// chosen by weight among the serving records, as a weighted record set answers. `None`: a
    /// name this proxy's model does not answer (forwarded: a proxy in front of another one).
    fn dns_answer(&self, query: &str) -> Option<Response<Full<Bytes>>> {
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .map(|v| v.replace("%2E", ".").replace("%2e", "."))
                .unwrap_or_default()
        };
        let mut name = param("recordname");
        if !name.ends_with('.') {
            name.push('.');
        }
        let serving = self.dns_answers.lock().expect("dns").get(&name).cloned()?;
        let total: i64 = serving.iter().map(|(_, w)| (*w).max(0)).sum();
        let value = if total > 0 {
            let mut pick = (self.next() % total as u64) as i64;
            serving.iter().find(|(_, w)| {
                pick -= (*w).max(0);
                pick < 0
            })
        } else {
            serving.first()
        };
        let (code, data) = match value {
            Some((v, _)) => ("NOERROR", format!("<RecordDataEntry>{v}</RecordDataEntry>")),
            None => ("NXDOMAIN", String::new()),
        };
        Some(respond(
            StatusCode::OK,
            &[("content-type", "text/xml")],
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><TestDNSAnswerResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Nameserver>ns-model.awsdns-00.com</Nameserver><RecordName>{name}</RecordName><RecordType>{}</RecordType><RecordData>{data}</RecordData><ResponseCode>{code}</ResponseCode><Protocol>UDP</Protocol></TestDNSAnswerResponse>"#,
                param("recordtype")
            ),
        ))
    }

    /// Route 53's GetHealthCheckStatus from the DNS model: one observation per checker (the
    /// regions the API names), "Success" or "Failure" as the checker reports. `None`: a check the
    /// model does not follow (the emulator answers).
    fn checker_status(&self, path: &str) -> Option<Response<Full<Bytes>>> {
        const CHECKER_REGIONS: [&str; 8] = [
            "us-east-1",
            "us-west-1",
            "us-west-2",
            "eu-west-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-northeast-1",
            "sa-east-1",
        ];
        let id = path.trim_end_matches("/status").rsplit('/').next()?;
        let reports = self.checker_reports.lock().expect("checkers").get(id).cloned()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let observations: String = reports
            .iter()
            .zip(CHECKER_REGIONS.iter().cycle())
            .enumerate()
            .map(|(i, (healthy, region))| {
                let status = if *healthy {
                    "Success: the CloudWatch alarm is not in ALARM"
                } else {
                    "Failure: the CloudWatch alarm is in ALARM"
                };
                format!(
                    "<HealthCheckObservation><Region>{region}</Region><IPAddress>15.177.0.{i}</IPAddress><StatusReport><Status>{status}</Status><CheckedTime>{now}</CheckedTime></StatusReport></HealthCheckObservation>"
                )
            })
            .collect();
        Some(respond(
            StatusCode::OK,
            &[("content-type", "text/xml")],
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><GetHealthCheckStatusResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><HealthCheckObservations>{observations}</HealthCheckObservations></GetHealthCheckStatusResponse>"#
            ),
        ))
    }

    /// Records a restore request; with the restorable-time model on, refuses one to a time PITR
    /// has not reached, as AWS does.
    fn refuse_restore(&self, body: &Bytes, id: &Identified) -> Option<Response<Full<Bytes>>> {
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        self.restore_requests.lock().expect("restores").push(request.clone());
        let lag = (*self.restorable_lag.lock().expect("latency"))?;
        let at = request["RestoreDateTime"].as_f64()?;
        let latest = (std::time::SystemTime::now() - lag)
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        (at > latest).then(|| {
            respond(
                StatusCode::BAD_REQUEST,
                &[("content-type", id.json_type.as_str())],
                format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#InvalidRestoreTimeException","message":"Restore time {at} is after the latest restorable time {latest}"}}"#
                ),
            )
        })
    }

    /// Rewrites an answer as a real service would give it at this moment (see
    /// [`FaultProxy::set_change_pending`]).
    fn model_latency(&self, operation: &str, body: Bytes) -> Bytes {
        let text = String::from_utf8_lossy(&body);
        let change_id = || {
            let start = text.find("<Id>")? + 4;
            let end = text[start..].find("</Id>")? + start;
            Some(text[start..end].rsplit('/').next()?.to_owned())
        };
        match operation {
            "ChangeResourceRecordSets" => {
                if let Some(id) = change_id() {
                    self.changes.lock().expect("changes").insert(id, std::time::Instant::now());
                }
                body
            }
            "RestoreTableToPointInTime" => {
                if let Some(table) = table_name(&text) {
                    self.restores.lock().expect("restores").insert(table, std::time::Instant::now());
                }
                body
            }
            "DescribeTable" => {
                let takes = *self.restore_takes.lock().expect("latency");
                let restoring = table_name(&text)
                    .and_then(|t| self.restores.lock().expect("restores").get(&t).copied())
                    .is_some_and(|at| at.elapsed() < takes);
                if restoring {
                    Bytes::from(
                        text.replace("\"TableStatus\": \"ACTIVE\"", "\"TableStatus\": \"CREATING\"")
                            .replace("\"TableStatus\":\"ACTIVE\"", "\"TableStatus\":\"CREATING\""),
                    )
                } else {
                    body
                }
            }
            "DescribeContinuousBackups" => {
                let Some(lag) = *self.restorable_lag.lock().expect("latency") else {
                    return body;
                };
                let mut answer: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(_) => return body,
                };
                let latest = (std::time::SystemTime::now() - lag)
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                let pitr = &mut answer["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
                if pitr.get("LatestRestorableDateTime").is_some() {
                    pitr["LatestRestorableDateTime"] = serde_json::json!(latest);
                }
                Bytes::from(answer.to_string())
            }
            "GetChange" => {
                let pending = *self.change_pending.lock().expect("latency");
                let young = change_id()
                    .and_then(|id| self.changes.lock().expect("changes").get(&id).copied())
                    .is_some_and(|at| at.elapsed() < pending);
                if young {
                    Bytes::from(text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>"))
                } else {
                    body
                }
            }
            _ => body,
        }
    }
}
