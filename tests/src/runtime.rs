//! A small emulator of the Lambda Runtime API: the compiled function binary polls it for events
//! exactly as it polls the real service, so the end-to-end tests exercise the real `main`, the
//! real init and the real runtime client. Several processes can poll one emulator, as concurrent
//! Lambda instances do.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

type Reply = Result<Value, Value>;

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Bytes)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    ready: Notify,
    /// Signalled on every poll of /next (cold-start measurements wait for the first).
    polled: Notify,
    /// What functions reported to /runtime/init/error: the error-type header and the body.
    init_errors: Mutex<Vec<(String, Value)>>,
}

/// The Runtime API on a loopback port.
#[derive(Debug)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    s.polled.notify_one();
    loop {
        let notified = s.ready.notified();
        if let Some((id, body)) = s.queue.lock().unwrap().pop_front() {
            let mut h = HeaderMap::new();
            h.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&id).unwrap());
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            h.insert("lambda-runtime-deadline-ms", HeaderValue::from_str(&deadline.to_string()).unwrap());
            h.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:eu-north-1:123456789012:function:under-test"),
            );
            h.insert(
                "lambda-runtime-trace-id",
                HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
            );
            return (StatusCode::OK, h, body);
        }
        notified.await;
    }
}

async fn respond(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    reply(&s, &id, Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    reply(&s, &id, Err(serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn reply(s: &Shared, id: &str, r: Reply) -> StatusCode {
    if let Some(tx) = s.waiting.lock().unwrap().remove(id) {
        let _ = tx.send(r);
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    s.init_errors.lock().unwrap().push((kind, body));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RuntimeApi { addr, shared, server }
    }

    /// What the functions reported to `/runtime/init/error` so far: (error-type header, body).
    pub fn init_errors(&self) -> Vec<(String, Value)> {
        self.shared.init_errors.lock().unwrap().clone()
    }

    /// Waits until a function process polls for its first event (its init is over).
    pub async fn wait_for_poll(&self) {
        self.shared.polled.notified().await;
    }

    /// Invokes the function with `payload` and waits for its answer: `Ok(response)` or
    /// `Err(error document)` as the function reported it.
    pub async fn invoke(&self, payload: &Value) -> Reply {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        self.shared.queue.lock().unwrap().push_back((id, Bytes::from(payload.to_string())));
        self.shared.ready.notify_one();
        tokio::time::timeout(Duration::from_secs(90), rx)
            .await
            .expect("the function answered within 90 s")
            .expect("the function answered")
    }
}

/// A compiled function binary (from `target/debug`) running against a [`RuntimeApi`].
#[derive(Debug)]
pub struct FunctionProcess {
    child: Child,
    /// Everything a captured process writes, read while it runs (a full pipe would block it).
    captured: Option<tokio::task::JoinHandle<String>>,
}

/// The profile directory this process was built into (`<target>/debug`, `<target>/release`):
/// the directory of the running executable, above `deps/` for a test binary. Wherever cargo
/// put the target directory (`CARGO_TARGET_DIR`, a relative one, `build.target-dir`), the
/// binaries built beside this one are found.
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    let dir = exe.parent().expect("an executable lives in a directory").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(std::path::Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// Path of a function binary built by `cargo build --workspace --bins` (same profile as the tests).
pub fn binary(name: &str) -> std::path::PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first (`cargo build --workspace --bins`; `make test` does)",
        path.display()
    );
    path
}

impl FunctionProcess {
    /// Starts the binary at `path` with the Lambda environment and `env` (nothing inherited
    /// beyond the parent's environment), for cold-start measurements.
    pub fn spawn_path(path: &std::path::Path, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        Self::spawn_program(path, &[], api, env)
    }

    /// Like [`FunctionProcess::spawn_path`], for any program with arguments (an interpreter).
    pub fn spawn_program(path: &std::path::Path, args: &[&str], api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(path);
        cmd.args(args)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        FunctionProcess {
            child: cmd.spawn().expect("start binary"),
            captured: None,
        }
    }

    /// The command that starts function `name` with the Lambda environment, the emulator's AWS
    /// settings (inherited), JSON logs at `log` level, and `env` on top (an empty value unsets an
    /// inherited variable).
    fn command(name: &str, api: &RuntimeApi, log: String, env: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(binary(name));
        cmd.env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("RUST_LOG", log)
            .kill_on_drop(true);
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        cmd
    }

    /// Starts `name` (see `FunctionProcess::command`); its warnings go to the test's stderr.
    pub fn spawn(name: &str, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let log = std::env::var("TEST_FUNCTION_LOG").unwrap_or_else(|_| "warn".into());
        let mut cmd = Self::command(name, api, log, env);
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        FunctionProcess {
            child: cmd.spawn().expect("start function binary"),
            captured: None,
        }
    }

    /// Like [`FunctionProcess::spawn`] at `info` level, with stdout and stderr captured for
    /// [`FunctionProcess::exit_and_output`].
    pub fn spawn_captured(name: &str, api: &RuntimeApi, env: &[(&str, String)]) -> Self {
        let mut cmd = Self::command(name, api, "info".into(), env);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start function binary");
        let (mut out, mut err) = (child.stdout.take().expect("stdout"), child.stderr.take().expect("stderr"));
        let captured = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut o, mut e) = (String::new(), String::new());
            let _ = tokio::join!(out.read_to_string(&mut o), err.read_to_string(&mut e));
            o + &e
        });
        FunctionProcess {
            child,
            captured: Some(captured),
        }
    }

    /// Waits for a captured process to exit: its exit code and every line it wrote (stdout, then stderr).
    pub async fn exit_and_output(mut self) -> (Option<i32>, Vec<String>) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the process exits within 30 s")
            .expect("process status");
        let text = match self.captured.take() {
            Some(reader) => reader.await.unwrap_or_default(),
            None => String::new(),
        };
        (status.code(), text.lines().map(str::to_owned).collect())
    }

    /// Stops a captured process and returns every line it wrote (stdout, then stderr).
    pub async fn stop_and_output(mut self) -> Vec<String> {
        let _ = self.child.start_kill();
        self.exit_and_output().await.1
    }

    /// The process id (for reading its peak memory from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the process to exit (an init failure) and returns its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .ok()?
            .ok()?
            .code()
    }
}
