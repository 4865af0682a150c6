//! A Route 53 ARC cluster for the tests, as far as dns-failover uses one: its regional
//! endpoints answering GetRoutingControlState and UpdateRoutingControlState in the service's
//! own protocol (AWS JSON 1.0, `ToggleCustomerAPI.*`), one shared state, an assertion safety
//! rule ("at least N controls On"), and endpoints that can be taken down. The emulator has no
//! ARC data plane.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Cluster {
    /// Routing control ARN -> On.
    controls: BTreeMap<String, bool>,
    /// Assertion rule: at least this many controls On.
    min_on: usize,
    /// Endpoint index -> down (answers 503 EndpointTemporarilyUnavailable).
    down: BTreeMap<usize, bool>,
    updates: usize,
}

/// The cluster; its endpoints stop when it is dropped.
#[derive(Debug)]
pub struct ArcCluster {
    state: Arc<Mutex<Cluster>>,
    pub endpoints: Vec<String>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ArcCluster {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

impl ArcCluster {
    /// `controls`: ARN and initial state (On = true); `endpoints`: how many regional endpoints.
    pub async fn start(controls: &[(&str, bool)], endpoints: usize) -> Self {
        let state = Arc::new(Mutex::new(Cluster {
            controls: controls.iter().map(|(a, on)| ((*a).to_owned(), *on)).collect(),
            ..Cluster::default()
        }));
        let mut urls = Vec::new();
        let mut servers = Vec::new();
        for index in 0..endpoints {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            urls.push(format!("http://{}", listener.local_addr().expect("address")));
            let app = axum::Router::new().route("/", post(answer)).with_state((state.clone(), index));
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        ArcCluster {
            state,
            endpoints: urls,
            servers,
        }
    }

    /// An assertion safety rule: at least `n` controls must stay On.
    pub fn require_on(&self, n: usize) {
        self.state.lock().expect("arc").min_on = n;
    }

    pub fn set_down(&self, endpoint: usize, down: bool) {
        self.state.lock().expect("arc").down.insert(endpoint, down);
    }

    pub fn is_on(&self, arn: &str) -> Option<bool> {
        self.state.lock().expect("arc").controls.get(arn).copied()
    }

    /// The controls' state as Route 53's RECOVERY_CONTROL health checks read it (On = healthy),
    /// for the DNS model (`latency::LatencyModel::follow_routing_controls`).
    pub fn reader(&self) -> crate::latency::RoutingControls {
        let state = self.state.clone();
        Arc::new(move |arn: &str| state.lock().expect("arc").controls.get(arn).copied())
    }

    /// Accepted updates so far.
    pub fn updates(&self) -> usize {
        self.state.lock().expect("arc").updates
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> axum::response::Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        json!({ "__type": kind, "message": message }).to_string(),
    )
        .into_response()
}

async fn answer(State((state, index)): State<(Arc<Mutex<Cluster>>, usize)>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut c = state.lock().expect("arc");
    if c.down.get(&index).copied().unwrap_or(false) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "EndpointTemporarilyUnavailableException",
            "The cluster endpoint isn't available. Try another cluster endpoint.",
        );
    }
    let arn = req["RoutingControlArn"].as_str().unwrap_or("").to_owned();
    let Some(on) = c.controls.get(&arn).copied() else {
        return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "routing control not found");
    };
    match target.rsplit('.').next().unwrap_or("") {
        "GetRoutingControlState" => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            json!({ "RoutingControlArn": arn, "RoutingControlState": if on { "On" } else { "Off" }, "RoutingControlName": arn.rsplit('/').next() }).to_string(),
        )
            .into_response(),
        "UpdateRoutingControlState" => {
            let wanted = req["RoutingControlState"] == "On";
            let on_after = c.controls.iter().filter(|(a, v)| if **a == arn { wanted } else { **v }).count();
            if !wanted && on_after < c.min_on {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationException",
                    &format!("Cannot update routing control state: assertion safety rule requires at least {} On", c.min_on),
                );
            }
            c.controls.insert(arn, wanted);
            c.updates += 1;
            (StatusCode::OK, [("content-type", "application/x-amz-json-1.0")], "{}".to_owned()).into_response()
        }
        other => error(StatusCode::BAD_REQUEST, "UnknownOperationException", other),
    }
}
