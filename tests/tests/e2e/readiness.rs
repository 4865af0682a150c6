//! readiness-check against the stack as the template deploys it, under the permissions the
//! template grants (strict IAM): healthy, every item the emulator can answer passes; then each
//! item is broken in turn and exactly that item fails, naming the fix; put back, it passes and
//! the change is notified once. What the emulator cannot answer (TestDNSAnswer, IAM's policy
//! simulator, hosted-zone features) is graded "not checked", never PASS, and is tested with
//! aws-smithy-mocks in `shared/src/act/readiness.rs`.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use resilience_tests::deployed::Stack;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};

const SOUTH: &str = "eu-south-1";
const NORTH: &str = "eu-north-1";

/// A Scheduler tick of the readiness schedule (a new scheduled time each call).
fn tick(n: u32) -> Value {
    let mut e = resilience_core::fixtures::event("scheduler-schedule.json");
    e["id"] = json!(format!("readiness-{n}-{}", uuid::Uuid::new_v4()));
    e["region"] = json!(SOUTH);
    e["resources"] = json!([format!(
        "arn:aws:scheduler:{SOUTH}:123456789012:schedule/default/aworld-readiness-{SOUTH}"
    )]);
    e
}

/// (grade, key, detail, fix) of every item of a check's answer.
fn items(out: &Value) -> Vec<(String, String, String, String)> {
    out["report"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {out}"))
        .iter()
        .map(|i| {
            (
                i["grade"].as_str().unwrap().to_owned(),
                format!(
                    "{}/{}/{}",
                    i["area"].as_str().unwrap(),
                    i["region"].as_str().unwrap(),
                    i["item"].as_str().unwrap()
                ),
                i["detail"].as_str().unwrap().to_owned(),
                i["fix"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn not_passing(out: &Value) -> Vec<(String, String, String, String)> {
    items(out).into_iter().filter(|i| i.0 != "PASS").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_passes_on_the_deployed_stack_and_fails_exactly_the_item_that_is_broken() {
    let stack = Stack::deploy().await;
    let api = RuntimeApi::start().await;
    let _f = FunctionProcess::spawn("readiness-check", &api, &stack.env("readiness-check", SOUTH));
    let mut n = 0;
    let mut check = async || {
        n += 1;
        api.invoke(&tick(n)).await.expect("handled")
    };
    let healthy = check().await;
    for i in items(&healthy) {
        println!("{:<4} {} — {} {}", i.0, i.1, i.2, i.3);
    }
    println!("{}", healthy["summary"]);
    panic!("exploring");
}
