//! access-authorizer end to end: the compiled binary under the Lambda Runtime API with keys
//! generated in the test, and the throttle table written by the compiled user-throttle.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use jsonwebtoken::Algorithm;
use resilience_tests::jwt::{self, AUDIENCE, ISSUER};
use resilience_tests::platform::Platform;
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};

const METHOD_ARN: &str = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders";

struct Edge {
    platform: Platform,
    keys: jwt::Keys,
    authorizer: RuntimeApi,
    throttle: RuntimeApi,
    _procs: Vec<FunctionProcess>,
}

async fn edge(cache_seconds: u64) -> Edge {
    let keys = jwt::generate();
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["auth"] =
        json!({ "issuer": ISSUER, "audience": AUDIENCE, "jwks": keys.jwks, "leeway_seconds": 5, "cache_seconds": cache_seconds });
    p.config["throttle"]["coalesce_seconds"] = json!(0);
    let authorizer = RuntimeApi::start().await;
    let throttle = RuntimeApi::start().await;
    let procs = vec![
        FunctionProcess::spawn("access-authorizer", &authorizer, &p.env()),
        FunctionProcess::spawn("user-throttle", &throttle, &p.env()),
    ];
    Edge {
        platform: p,
        keys,
        authorizer,
        throttle,
        _procs: procs,
    }
}

fn token_event(token: &str) -> Value {
    json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": METHOD_ARN })
}

fn request_event(token: &str) -> Value {
    json!({
        "type": "REQUEST", "methodArn": METHOD_ARN, "resource": "/orders", "path": "/orders", "httpMethod": "GET",
        "headers": { "Authorization": format!("Bearer {token}"), "Host": "api.aworld.example" },
        "queryStringParameters": {}, "pathParameters": {}, "stageVariables": {},
        "requestContext": { "accountId": "123456789012", "apiId": "a1b2c3d4e5", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" }
    })
}

fn effect(out: &Value) -> &str {
    out["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap()
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_are_allowed_with_the_policy_api_gateway_expects() {
    let e = edge(5).await;
    for (key, alg, kid) in [(&e.keys.rsa, Algorithm::RS256, "rsa-1"), (&e.keys.ec, Algorithm::ES256, "ec-1")] {
        let token = jwt::sign(key, alg, kid, &jwt::claims("u-100", 300));
        let out = e.authorizer.invoke(&token_event(&token)).await.expect("authorized");
        assert_eq!(effect(&out), "Allow", "{out}");
        assert_eq!(out["principalId"], "user#u-100");
        assert_eq!(out["policyDocument"]["Statement"][0]["Resource"][0], METHOD_ARN);
        assert_eq!(out["context"]["throttled"], false);
    }
    let token = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-100", 300));
    assert_eq!(
        effect(&e.authorizer.invoke(&request_event(&token)).await.expect("authorized")),
        "Allow",
        "REQUEST type too"
    );
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_unauthorized() {
    let e = edge(5).await;
    let good = jwt::claims("u-200", 300);
    let valid = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &good);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example/");
    let mut other_sub = good.clone();
    other_sub["sub"] = json!("admin");
    let cases = [
        (
            "expired",
            jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-200", -120)),
        ),
        ("wrong audience", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &wrong_aud)),
        ("wrong issuer", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &wrong_iss)),
        ("alg none", jwt::unsigned(&good)),
        ("unknown kid", jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-9", &good)),
        ("key of another algorithm", jwt::sign(&e.keys.ec, Algorithm::ES256, "rsa-1", &good)),
        ("tampered payload", jwt::tampered(&valid, &other_sub)),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (what, token) in cases {
        let err = e.authorizer.invoke(&token_event(&token)).await.expect_err(what);
        assert_eq!(err["errorMessage"], "Unauthorized", "{what}: {err}");
    }
    let err = e
        .authorizer
        .invoke(&json!({ "authorizationToken": valid }))
        .await
        .expect_err("no methodArn");
    assert!(err["errorMessage"].as_str().unwrap().contains("methodArn"), "{err}");
}

#[tokio::test]
async fn throttled_users_are_rate_limited_then_denied_and_expiry_lets_them_back() {
    let e = edge(0).await;
    let token = jwt::sign(&e.keys.ec, Algorithm::ES256, "ec-1", &jwt::claims("u-300", 300));
    let p = &e.platform;

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("throttled");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(effect(&out), "Allow", "rate-limited with a usage plan: allowed at the lower limit");
    assert_eq!(out["usageIdentifierKey"], "aworld-restricted-plan-key");
    assert_eq!(out["context"]["throttle_level"], "rate-limited");

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("escalated");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["context"]["throttle_level"].as_str()),
        ("Deny", Some("strict")),
        "no usage plan at this level: denied"
    );

    e.throttle.invoke(&p.suspicious("user#u-300")).await.expect("blocked");
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!((effect(&out), out["context"]["throttle_level"].as_str()), ("Deny", Some("blocked")));

    // Expiry is the record's own `until`, checked by the reader (TTL deletes lazily).
    let table = p.config["throttle"]["table"].as_str().unwrap();
    aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(resilience_tests::platform::HOME).await)
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("user#u-300".into()))
        .update_expression("SET #u = :past")
        .expression_attribute_names("#u", "until")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    let out = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(
        (effect(&out), out["context"]["throttled"].as_bool()),
        ("Allow", Some(false)),
        "{out}"
    );
}

#[tokio::test]
async fn the_lookup_cache_has_a_bounded_age() {
    let e = edge(2).await;
    let token = jwt::sign(&e.keys.rsa, Algorithm::RS256, "rsa-1", &jwt::claims("u-400", 300));
    let first = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(first["context"]["lookup"], "table");
    let second = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(second["context"]["lookup"], "cache");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let third = e.authorizer.invoke(&token_event(&token)).await.expect("answered");
    assert_eq!(third["context"]["lookup"], "table", "a cached answer is kept at most cache_seconds");
}
